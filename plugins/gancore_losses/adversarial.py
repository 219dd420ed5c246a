"""Adversarial losses on raw critic scores (logits).

Every loss returns a scalar mean. The sigmoid-based ones are written with ``softplus``,
the stable form of ``-log(sigmoid(.))``:

    -log(sigmoid(s))     = softplus(-s)
    -log(1 - sigmoid(s)) = softplus(s)

so no probability is ever formed and large scores neither overflow nor give log(0).
Scores may be ``(N,)`` or ``(N // pack,)``; real and fake need not have equal lengths.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

import gancore

# Descriptions come from each class's ``Args:`` section.
LabelSmoothing = Annotated[float, Field(ge=0.0, lt=1.0)]


class _SigmoidCrossEntropy(gancore.AdversarialLoss):
    """The critic's side of the two original GAN losses, which differ in the generator's only."""

    def __init__(self, label_smoothing: LabelSmoothing = 0.0) -> None:
        self.label_smoothing = label_smoothing

    def critic(self, real: Tensor, fake: Tensor) -> Tensor:
        """BCE of real scores against target ``1 - label_smoothing`` and fake scores against 0."""
        real_target = 1.0 - self.label_smoothing
        real_term = real_target * F.softplus(-real) + (1.0 - real_target) * F.softplus(real)
        return real_term.mean() + F.softplus(fake).mean()


class MinimaxLoss(_SigmoidCrossEntropy):
    """The original saturating GAN loss: the generator minimises log(1 - D(G(z))).

    Args:
        label_smoothing: one-sided label smoothing: the critic's real targets become 1 - this.
    """

    def generator(self, fake: Tensor, real: Tensor | None = None) -> Tensor:
        # log(1 - sigmoid(f)) = -softplus(f); its gradient vanishes when D rejects fakes.
        return -F.softplus(fake).mean()


class NonSaturatingLoss(_SigmoidCrossEntropy):
    """The non-saturating GAN loss: the generator maximises log D(G(z)).

    Args:
        label_smoothing: one-sided label smoothing: the critic's real targets become 1 - this.
    """

    def generator(self, fake: Tensor, real: Tensor | None = None) -> Tensor:
        return F.softplus(-fake).mean()  # -log(sigmoid(f))


class LeastSquaresLoss(gancore.AdversarialLoss):
    """Least-squares GAN loss (LSGAN): squared distances of scores to target values.

    Args:
        fake_target: a, the critic's target for fake scores.
        real_target: b, the critic's target for real scores.
        generator_target: c, the value the generator wants the critic to give its fakes.
    """

    def __init__(self, fake_target: float = 0.0, real_target: float = 1.0, generator_target: float = 1.0) -> None:
        self.fake_target = fake_target
        self.real_target = real_target
        self.generator_target = generator_target

    def critic(self, real: Tensor, fake: Tensor) -> Tensor:
        return 0.5 * (real - self.real_target).square().mean() + 0.5 * (fake - self.fake_target).square().mean()

    def generator(self, fake: Tensor, real: Tensor | None = None) -> Tensor:
        return 0.5 * (fake - self.generator_target).square().mean()


class HingeLoss(gancore.AdversarialLoss):
    """Hinge loss: the critic pushes real scores above 1 and fake scores below -1."""

    def critic(self, real: Tensor, fake: Tensor) -> Tensor:
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()

    def generator(self, fake: Tensor, real: Tensor | None = None) -> Tensor:
        return -fake.mean()


class WassersteinLoss(gancore.AdversarialLoss):
    """Wasserstein loss (WGAN); pair it with a Lipschitz constraint on the critic."""

    def critic(self, real: Tensor, fake: Tensor) -> Tensor:
        return fake.mean() - real.mean()

    def generator(self, fake: Tensor, real: Tensor | None = None) -> Tensor:
        return -fake.mean()


class RelativisticPairingLoss(gancore.AdversarialLoss):
    """Relativistic pairing loss (RpGAN), R3GAN's: each real score against the fake one it is paired with.

    softplus(-(real - fake)) for the critic and softplus(-(fake - real)) for the generator
    (Jolicoeur-Martineau 2018; Huang et al. 2024). Pair it with R1 and R2 of one
    gamma (R3GAN: ``[[regularizers]]`` r1 and r2, each ``weight = gamma``).

    Pairs need as many real scores as fake ones, which every scheme gives (a packed
    critic packs both alike).
    """

    needs_real_in_generator_step: ClassVar[bool] = True

    def critic(self, real: Tensor, fake: Tensor) -> Tensor:
        return F.softplus(fake - _paired(real, fake)).mean()

    def generator(self, fake: Tensor, real: Tensor | None = None) -> Tensor:
        if real is None:
            raise ValueError("rpgan: the generator's loss pairs each fake score with a real one; pass the real scores")
        return F.softplus(_paired(real, fake) - fake).mean()


def _paired(real: Tensor, fake: Tensor) -> Tensor:
    """``real``, checked to pair with ``fake`` one to one."""
    if real.shape != fake.shape:
        raise ValueError(f"rpgan pairs real and fake scores one to one: got {tuple(real.shape)} real "
                         f"and {tuple(fake.shape)} fake")
    return real


__all__ = ["HingeLoss", "RelativisticPairingLoss", "LeastSquaresLoss", "MinimaxLoss", "NonSaturatingLoss", "WassersteinLoss"]
