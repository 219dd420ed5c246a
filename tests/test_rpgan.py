"""RpGAN with R1 and R2 (R3GAN's objective) against a hand computation on a tiny critic."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import gancore


def part(kind: str, name: str, **params):
    return gancore.build(kind, name, params)


def softplus(v: float) -> float:
    return math.log1p(math.exp(v))


def test_rpgan_with_r1_and_r2_is_the_hand_computed_objective():
    # A linear critic D(x) = w . x + b: its input gradient is w everywhere, so R1 and R2
    # (gamma/2 x mean squared gradient norm each) are gamma/2 x |w|^2 each.
    critic = nn.Linear(2, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[0.5, -2.0]]))
        critic.bias.fill_(0.25)
    d = lambda x: critic(x).squeeze(1)  # noqa: E731
    real = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    fake = torch.tensor([[0.0, 0.0], [1.0, 1.0], [-1.0, 0.5]])
    gamma = 3.0
    loss, r1, r2 = part("loss", "rpgan"), part("regularizer", "r1", weight=gamma), part("regularizer", "r2", weight=gamma)
    total = loss.critic(d(real), d(fake)) + r1.penalty(d, real, fake) + r2.penalty(d, real, fake)
    w, b = [0.5, -2.0], 0.25
    score = lambda x: w[0] * x[0] + w[1] * x[1] + b  # noqa: E731
    pairs = [(score(r), score(f)) for r, f in zip(real.tolist(), fake.tolist())]
    by_hand = sum(softplus(sf - sr) for sr, sf in pairs) / 3 + 2 * (gamma / 2) * (w[0] ** 2 + w[1] ** 2)
    assert float(total.detach()) == pytest.approx(by_hand, rel=1e-6)
    generator = loss.generator(d(fake), d(real))
    assert float(generator.detach()) == pytest.approx(sum(softplus(sr - sf) for sr, sf in pairs) / 3, rel=1e-6)


def test_rpgan_is_relativistic_and_pairs_one_to_one():
    loss = part("loss", "rpgan")
    assert loss.needs_real_in_generator_step
    real, fake = torch.tensor([1.0, 2.0]), torch.tensor([0.0, 5.0])
    # Shifting every score alike changes nothing: only differences within pairs count.
    assert torch.allclose(loss.critic(real + 7, fake + 7), loss.critic(real, fake))
    with pytest.raises(ValueError, match="pairs real and fake scores one to one"):
        loss.critic(real, torch.zeros(3))
    with pytest.raises(ValueError, match="pass the real scores"):
        loss.generator(fake)


def test_a_recipe_trains_with_rpgan_r1_and_r2():
    """The critic learns to score real points above fakes (its pair loss falls below log 2,
    the value for a critic that cannot tell them apart)."""
    rows: list[dict] = []
    run = gancore.create_run("gan-ring", overrides={
        "loss": {"name": "rpgan"}, "regularizers": [{"name": "r1", "weight": 0.1}, {"name": "r2", "weight": 0.1}],
        "train.steps": 60, "train.log_every": 20, "train.sample_every": 0, "train.checkpoint_every": 0,
        "train.device": "cpu"})
    run.train(report=rows.append)
    last = rows[-1]
    assert last["loss_critic"] < math.log(2) - 0.1 and last["score_real"] > last["score_fake"]
    assert last["penalty"] > 0  # R1 and R2 act
