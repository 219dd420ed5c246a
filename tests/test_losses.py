"""Adversarial losses: hand-computed values, stability, and gradient directions."""

from __future__ import annotations

import math

import pytest
import torch

import gancore

LOSSES = ["minimax", "non-saturating", "least-squares", "hinge", "wasserstein"]


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def loss(name: str, **params):
    return gancore.build("loss", name, params)


def test_all_losses_are_registered_by_the_losses_plugin():
    reg = gancore.registry()
    for name in LOSSES:
        entry = reg.get("loss", name)
        assert entry.plugin == "losses"
        assert isinstance(loss(name), gancore.AdversarialLoss)



# ---------------------------------------------------------------- BCE losses


def test_minimax_critic_at_zero_scores_is_two_log_two():
    value = loss("minimax").critic(t(0.0, 0.0, 0.0), t(0.0, 0.0))
    assert value.item() == pytest.approx(2 * math.log(2))


def test_minimax_critic_and_saturating_generator_values():
    l = loss("minimax")
    # -log sigmoid(r) = softplus(-r); -log(1 - sigmoid(f)) = softplus(f)
    expected = (softplus(-2.0) + softplus(1.0)) / 2 + (softplus(-1.0) + softplus(0.5)) / 2
    assert l.critic(t(2.0, -1.0), t(-1.0, 0.5)).item() == pytest.approx(expected)
    # G minimises log(1 - sigmoid(f)) = -softplus(f)
    assert l.generator(t(0.0, 1.0)).item() == pytest.approx(-(math.log(2) + softplus(1.0)) / 2)


def test_non_saturating_generator_values():
    l = loss("non-saturating")
    assert l.generator(t(0.0)).item() == pytest.approx(math.log(2))
    # -log sigmoid(f)
    assert l.generator(t(1.0, -2.0)).item() == pytest.approx((softplus(-1.0) + softplus(2.0)) / 2)
    assert l.critic(t(0.0), t(0.0)).item() == pytest.approx(2 * math.log(2))


@pytest.mark.parametrize("name", ["minimax", "non-saturating"])
def test_label_smoothing_is_one_sided_on_real_targets(name):
    l = loss(name, label_smoothing=0.1)
    real, fake = t(2.0), t(-1.0)
    # real target 0.9: 0.9 * -log sigmoid(2) + 0.1 * -log(1 - sigmoid(2)); fake target stays 0
    expected = 0.9 * softplus(-2.0) + 0.1 * softplus(2.0) + softplus(-1.0)
    assert l.critic(real, fake).item() == pytest.approx(expected)
    assert l.generator(fake).item() == pytest.approx(loss(name).generator(fake).item())


def test_label_smoothing_is_validated():
    with pytest.raises(gancore.GancoreError, match="label_smoothing"):
        loss("non-saturating", label_smoothing=1.0)


def test_bce_losses_are_stable_at_extreme_scores():
    real, fake = t(100.0, 1000.0), t(-100.0, -1000.0)
    for name in ("minimax", "non-saturating"):
        value = loss(name).critic(real, fake)
        assert torch.isfinite(value) and value.item() == pytest.approx(0.0, abs=1e-30)
    # the non-saturating generator gets a large, finite loss when D rejects its fakes
    assert loss("non-saturating").generator(t(-1000.0)).item() == pytest.approx(1000.0)
    assert loss("minimax").generator(t(-1000.0)).item() == pytest.approx(0.0, abs=1e-30)


def test_minimax_generator_saturates_where_non_saturating_does_not():
    grads = {}
    for name in ("minimax", "non-saturating"):
        fake = t(-20.0).requires_grad_(True)
        loss(name).generator(fake).backward()
        grads[name] = fake.grad.item()
    assert abs(grads["minimax"]) < 1e-8  # sigmoid(-20) ~ 2e-9: the vanishing gradient
    assert grads["non-saturating"] == pytest.approx(-1.0, abs=1e-8)


# ---------------------------------------------------------------- other losses


def test_least_squares_values():
    l = loss("least-squares")
    # 1/2 mean((r - 1)^2) + 1/2 mean(f^2) = 1/2 * 2 + 1/2 * 2
    assert l.critic(t(1.0, 3.0), t(0.0, 2.0)).item() == pytest.approx(2.0)
    # 1/2 mean((f - 1)^2)
    assert l.generator(t(0.0, 2.0)).item() == pytest.approx(0.5)
    custom = loss("least-squares", fake_target=-1.0, real_target=1.0, generator_target=0.0)
    assert custom.critic(t(1.0), t(1.0)).item() == pytest.approx(2.0)
    assert custom.generator(t(3.0)).item() == pytest.approx(4.5)


def test_hinge_values():
    l = loss("hinge")
    # relu(1 - r) = [0.5, 0] -> 0.25; relu(1 + f) = [0, 1.5] -> 0.75
    assert l.critic(t(0.5, 2.0), t(-2.0, 0.5)).item() == pytest.approx(1.0)
    assert l.generator(t(-2.0, 0.5)).item() == pytest.approx(0.75)


def test_wasserstein_values():
    l = loss("wasserstein")
    assert l.critic(t(1.0, 3.0), t(0.0, -2.0)).item() == pytest.approx(-3.0)
    assert l.generator(t(0.0, -2.0)).item() == pytest.approx(1.0)


# ---------------------------------------------------------------- gradient directions

# Scores inside every loss's active region: below 1 (the hinge's margin and the LSGAN
# real target) and, for fakes, above 0 (the LSGAN fake target).
REAL, FAKE = (0.3, -0.2, 0.5), (0.1, 0.4, 0.2)


@pytest.mark.parametrize("name", LOSSES)
def test_minimising_the_generator_loss_raises_fake_scores(name):
    fake = t(*FAKE).requires_grad_(True)
    loss(name).generator(fake, t(*REAL)).backward()
    assert (fake.grad < 0).all(), fake.grad


@pytest.mark.parametrize("name", LOSSES)
def test_minimising_the_critic_loss_separates_real_from_fake(name):
    real, fake = t(*REAL).requires_grad_(True), t(*FAKE).requires_grad_(True)
    loss(name).critic(real, fake).backward()
    assert (real.grad < 0).all(), real.grad
    assert (fake.grad > 0).all(), fake.grad


# ---------------------------------------------------------------- third-party example plugin


def test_relativistic_average_comes_from_the_example_plugin():
    mod = pytest.importorskip("gancore_relativistic")
    entry = gancore.registry().get("loss", "relativistic-average")
    assert entry.plugin == "relativistic"
    assert entry.factory is mod.RelativisticAverageLoss
    l = loss("relativistic-average")
    assert isinstance(l, gancore.AdversarialLoss)
    assert l.needs_real_in_generator_step is True


def test_relativistic_average_values_and_gradients():
    pytest.importorskip("gancore_relativistic")
    l = loss("relativistic-average")
    assert l.critic(t(0.0, 0.0), t(0.0)).item() == pytest.approx(2 * math.log(2))
    real, fake = t(1.0, 3.0), t(0.0, 2.0)  # mean real 2, mean fake 1
    # critic: -log sigmoid(r - mean f) - log(1 - sigmoid(f - mean r))
    expected_critic = (softplus(-0.0) + softplus(-2.0)) / 2 + (softplus(-2.0) + softplus(0.0)) / 2
    assert l.critic(real, fake).item() == pytest.approx(expected_critic)
    # generator: the same with the roles of real and fake swapped
    expected_gen = (softplus(2.0) + softplus(0.0)) / 2 + (softplus(0.0) + softplus(2.0)) / 2
    assert l.generator(fake, real).item() == pytest.approx(expected_gen)
    assert l.generator(fake, real).item() == pytest.approx(l.critic(fake, real).item())

    fake = fake.clone().requires_grad_(True)
    l.generator(fake, real).backward()
    assert (fake.grad < 0).all()
    with pytest.raises(ValueError, match="real"):
        l.generator(fake)
