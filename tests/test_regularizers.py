"""Critic regularizers: gradient penalty, R1 and weight clipping."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import gancore


class LinearCritic(nn.Module):
    """x -> w . x over each flattened sample: its input gradient is w everywhere."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(weight.clone().double())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.w


class PackedLinearCritic(nn.Module):
    """Scores pairs of samples: N x D -> N/2 x 2D -> one score per pair."""

    pack = 2

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(weight.clone().double())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0] // self.pack, -1) @ self.w


def with_norm(n: int, norm: float, seed: int = 0) -> torch.Tensor:
    w = torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return w * (norm / w.norm())


def batch(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64)


def regularizer(name: str, **params):
    return gancore.build("regularizer", name, params)


def test_regularizers_are_registered():
    for name in ("gradient-penalty", "r1", "weight-clipping"):
        entry = gancore.registry().get("regularizer", name)
        assert entry.plugin == "losses"
        assert isinstance(regularizer(name), gancore.Regularizer)


# ---------------------------------------------------------------- gradient penalty


@pytest.mark.parametrize("shape", [(16, 2), (8, 3, 4, 4)], ids=["points", "images"])
def test_gradient_penalty_vanishes_for_unit_norm_gradients(shape):
    dim = torch.Size(shape[1:]).numel()
    critic = LinearCritic(with_norm(dim, 1.0))
    value = regularizer("gradient-penalty").penalty(critic, batch(*shape), batch(*shape))
    assert value.shape == ()
    assert value.item() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("shape", [(16, 2), (8, 3, 4, 4)], ids=["points", "images"])
def test_gradient_penalty_value_for_norm_three(shape):
    dim = torch.Size(shape[1:]).numel()
    critic = LinearCritic(with_norm(dim, 3.0))
    gp = regularizer("gradient-penalty")
    assert gp.penalty(critic, batch(*shape), batch(*shape)).item() == pytest.approx(10.0 * (3 - 1) ** 2)
    custom = regularizer("gradient-penalty", weight=2.0, target=0.5)
    assert custom.penalty(critic, batch(*shape), batch(*shape)).item() == pytest.approx(2.0 * (3 - 0.5) ** 2)


def test_gradient_penalty_backpropagates_into_the_critic_only():
    w = with_norm(2, 3.0)
    critic = LinearCritic(w)
    source = nn.Parameter(torch.ones(16, 2, dtype=torch.float64))  # stands in for a generator
    fake = source * 2.0
    value = regularizer("gradient-penalty").penalty(critic, batch(16, 2), fake)
    value.backward()
    # d/dw [lambda (||w|| - 1)^2] = 2 lambda (||w|| - 1) w / ||w||
    expected = 2 * 10.0 * (3.0 - 1.0) * w / 3.0
    torch.testing.assert_close(critic.w.grad, expected)
    assert source.grad is None


def test_gradient_penalty_works_with_a_packed_critic():
    # each half of w (one per packed sample) has norm 3: every sample's gradient has norm 3
    w = torch.cat([with_norm(6, 3.0, seed=1), with_norm(6, 3.0, seed=2)])
    critic = PackedLinearCritic(w)
    real, fake = batch(8, 6), batch(8, 6)
    assert critic(real).shape == (4,)
    value = regularizer("gradient-penalty").penalty(critic, real, fake)
    assert value.item() == pytest.approx(10.0 * (3 - 1) ** 2)


def test_gradient_penalty_norm_is_per_sample():
    # D(x) = ||x||^2 / 2 has gradient x; with real == fake the interpolates are x itself.
    def critic(x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x.flatten(1).square().sum(dim=1)

    x = batch(6, 2, 3, 3)
    value = regularizer("gradient-penalty").penalty(critic, x, x.clone())
    expected = 10.0 * (x.flatten(1).norm(dim=1) - 1).square().mean()
    assert value.item() == pytest.approx(expected.item())


def test_gradient_penalty_interpolates_with_one_coefficient_per_sample():
    seen = []

    def recording_critic(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.detach().clone())
        return x.flatten(1).sum(dim=1)

    real = torch.zeros(32, 3, 4, 4, dtype=torch.float64)
    fake = torch.ones(32, 3, 4, 4, dtype=torch.float64)
    regularizer("gradient-penalty").penalty(recording_critic, real, fake)
    (mixed,) = seen
    # on the segment between real and fake: every pixel of a sample equals 1 - eps
    per_sample = mixed.flatten(1)
    assert torch.allclose(per_sample, per_sample[:, :1].expand_as(per_sample))
    coefficients = per_sample[:, 0]
    assert ((coefficients >= 0) & (coefficients <= 1)).all()
    assert coefficients.unique().numel() > 1  # drawn per sample, not once per batch


# ---------------------------------------------------------------- R1


def test_r1_equals_half_weight_times_squared_norm_for_a_linear_critic():
    w = with_norm(2, 3.0)
    critic = LinearCritic(w)
    nan_fake = torch.full((16, 2), float("nan"), dtype=torch.float64)  # R1 looks at real data only
    value = regularizer("r1").penalty(critic, batch(16, 2), nan_fake)
    assert value.item() == pytest.approx(10.0 / 2 * 9.0)
    value.backward()
    torch.testing.assert_close(critic.w.grad, 10.0 * w)  # d/dw [gamma/2 ||w||^2]
    assert regularizer("r1", weight=1.0).penalty(critic, batch(4, 2), batch(4, 2)).item() == pytest.approx(4.5)


def test_r1_on_images_and_a_nonlinear_critic():
    def critic(x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x.flatten(1).square().sum(dim=1)  # gradient x

    x = batch(5, 3, 4, 4)
    value = regularizer("r1", weight=4.0).penalty(critic, x, x)
    assert value.item() == pytest.approx(2.0 * x.flatten(1).square().sum(dim=1).mean().item())
    assert not x.requires_grad  # the caller's batch is left alone


# ---------------------------------------------------------------- weight clipping


def test_weight_clipping_clamps_every_parameter_in_place():
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Linear(4, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    before = {n: p.detach().clone() for n, p in critic.named_parameters()}
    storage = {n: p.data_ptr() for n, p in critic.named_parameters()}
    clip = regularizer("weight-clipping", clip=0.05)
    assert clip.penalty(critic, torch.randn(2, 4), torch.randn(2, 4)) is None
    clip.after_critic_step(critic)
    for name, p in critic.named_parameters():
        assert p.data_ptr() == storage[name]
        assert p.requires_grad
        torch.testing.assert_close(p.detach(), before[name].clamp(-0.05, 0.05))
        assert (p.abs() <= 0.05).all()  # the bound as the parameters' own dtype
    # some values were outside and now sit exactly on the bounds
    values = torch.cat([p.detach().flatten() for p in critic.parameters()])
    assert (values == 0.05).any() and (values == -0.05).any()


def test_weight_clipping_default_bound_and_validation():
    critic = nn.Linear(3, 3)
    regularizer("weight-clipping").after_critic_step(critic)
    assert all((p.abs() <= 0.01).all() for p in critic.parameters())
    with pytest.raises(gancore.GancoreError, match="clip"):
        regularizer("weight-clipping", clip=0.0)


# ---------------------------------------------------------------- issue 13: R2, DRAGAN, LeCam, bCR


def test_r2_is_gamma_half_the_squared_gradient_on_fakes():
    w = with_norm(6, 3.0)
    assert regularizer("r2", weight=2.0).penalty(LinearCritic(w), batch(4, 6), batch(4, 6)).item() == pytest.approx(9.0)


def test_dragan_is_zero_for_unit_gradients_and_grows_away_from_them():
    real = batch(16, 6)
    assert regularizer("dragan").penalty(LinearCritic(with_norm(6, 1.0)), real, real).item() == pytest.approx(0.0, abs=1e-12)
    assert regularizer("dragan", weight=1.0).penalty(LinearCritic(with_norm(6, 3.0)), real, real).item() == pytest.approx(4.0)


def test_lecam_follows_moving_averages_of_the_scores():
    lecam = regularizer("lecam", weight=1.0, decay=0.5)
    real, fake = torch.full((4,), 2.0), torch.full((4,), -2.0)
    # The averages move half way from 0: a_real = 1, a_fake = -1; then (2 - -1)^2 + (-2 - 1)^2.
    assert lecam.score_penalty(real, fake).item() == pytest.approx(18.0)
    assert lecam.average_real.item() == pytest.approx(1.0) and lecam.average_fake.item() == pytest.approx(-1.0)
    assert set(lecam.state_dict()) == {"average_real", "average_fake"}


def test_lecam_averages_are_checkpointed_and_resume_exactly(tmp_path):
    recipe = {"train.device": "cpu", "train.steps": 4, "train.batch_size": 16, "train.sample_every": 0,
              "train.checkpoint_every": 0, "generator.width": 8, "critic.width": 8, "data.limit": 64,
              "regularizers": [{"name": "lecam"}]}
    straight = gancore.create_run("dcgan-mnist", overrides=recipe).train()
    gancore.create_run("dcgan-mnist", overrides=recipe, out=tmp_path / "run").train(2)
    resumed = gancore.load_run(tmp_path / "run").train()
    a, b = straight.scheme.state_dict(), resumed.scheme.state_dict()
    assert a["parts.regularizers.0.average_real"] != 0
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_consistency_penalises_a_critic_that_translation_changes():
    spec = gancore.DataSpec((1, 8, 8), fields={"x": (1, 8, 8)})
    bcr = gancore.build("regularizer", "consistency", {}, spec=spec)
    x = torch.rand(16, 1, 8, 8)
    constant = lambda images: images.flatten(1).sum(1) * 0  # noqa: E731
    one_pixel = lambda images: images[:, 0, 4, 4]  # noqa: E731
    assert bcr.penalty(constant, x, x).item() == 0
    assert bcr.penalty(one_pixel, x, x).item() > 0.1
