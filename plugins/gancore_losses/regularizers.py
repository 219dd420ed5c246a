"""Critic regularizers: gradient penalties, LeCam, consistency and WGAN's weight clipping.

The penalties differentiate the critic's scores with respect to its input with
``create_graph=True``, so the penalty itself backpropagates into the critic's
parameters. Gradients are taken of the *sum* of the scores: each input sample feeds
exactly one score (also with a packed critic, where ``pack`` samples share one score),
so the sum's gradient holds every sample's own gradient in its row. The core's
``gancore.input_gradients`` takes them, correctly also under fp16 loss scaling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import torch
from pydantic import Field
from torch import Tensor, nn

import gancore

# Descriptions come from each class's ``Args:`` section.
PositiveFloat = Annotated[float, Field(gt=0.0)]
NonNegativeFloat = Annotated[float, Field(ge=0.0)]


class GradientPenalty(gancore.Regularizer):
    """WGAN-GP: penalises critic gradient norms away from a target on interpolates.

    Args:
        weight: multiplier of the penalty (lambda).
        target: the gradient norm the penalty pulls towards.
    """

    schedulable = ("weight",)  # a [schedule] may move these: read from self at each use

    def __init__(self, weight: NonNegativeFloat = 10.0, target: NonNegativeFloat = 1.0, *,
                 random: gancore.Random = gancore.Random()) -> None:
        self.weight, self.target, self.random = weight, target, random

    def penalty(self, critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
        real, fake = real.detach(), fake.detach()
        # One mixing coefficient per sample, broadcast over its remaining dimensions.
        eps_shape = (real.shape[0],) + (1,) * (real.dim() - 1)
        eps = self.random.rand(*eps_shape, device=real.device, dtype=real.dtype)  # the same for any process count
        mixed = torch.lerp(fake, real, eps).requires_grad_(True)
        norms = torch.linalg.vector_norm(gancore.input_gradients(critic, mixed), dim=1)
        return self.weight * (norms - self.target).square().mean()


def zero_centred(critic: Callable[[Tensor], Tensor], samples: Tensor, gamma: float) -> Tensor:
    """gamma / 2 times the mean squared norm of the critic's gradient at ``samples`` (R1 on
    real samples, R2 on generated ones)."""
    x = samples.detach().requires_grad_(True)
    return 0.5 * gamma * gancore.input_gradients(critic, x).square().sum(dim=1).mean()


class R1Penalty(gancore.Regularizer):
    """R1: penalises the squared norm of the critic's gradient on real data.

    Args:
        weight: gamma; the penalty is gamma / 2 times the mean squared gradient norm.
    """

    schedulable = ("weight",)  # a [schedule] may move these: read from self at each use

    def __init__(self, weight: NonNegativeFloat = 10.0) -> None:
        self.weight = weight

    def penalty(self, critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
        return zero_centred(critic, real, self.weight)


class R2Penalty(gancore.Regularizer):
    """R2: penalises the squared norm of the critic's gradient on generated data (zero-centred).

    Args:
        weight: gamma; the penalty is gamma / 2 times the mean squared gradient norm.
    """

    schedulable = ("weight",)  # a [schedule] may move these: read from self at each use

    def __init__(self, weight: NonNegativeFloat = 10.0) -> None:
        self.weight = weight

    def penalty(self, critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
        return zero_centred(critic, fake, self.weight)


class DraganPenalty(gancore.Regularizer):
    """DRAGAN (Kodali et al. 2017): penalises critic gradient norms away from 1 around the real data.

    Args:
        weight: multiplier of the penalty (lambda).
        spread: the perturbation's size, as a multiple of the real batch's standard deviation.
    """

    schedulable = ("weight",)  # a [schedule] may move these: read from self at each use

    def __init__(self, weight: NonNegativeFloat = 10.0, spread: PositiveFloat = 0.5, *,
                 random: gancore.Random = gancore.Random()) -> None:
        self.weight, self.spread, self.random = weight, spread, random

    def penalty(self, critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
        real = real.detach()
        # Points between each real sample and a noisy copy of it: the critic's surface near the data.
        noise = self.random.rand(*real.shape, device=real.device, dtype=real.dtype)
        perturbed = real + self.spread * real.std() * noise
        eps = self.random.rand(real.shape[0], *(1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
        mixed = torch.lerp(perturbed, real, eps).requires_grad_(True)
        norms = torch.linalg.vector_norm(gancore.input_gradients(critic, mixed), dim=1)
        return self.weight * (norms - 1).square().mean()


class LeCam(nn.Module, gancore.Regularizer):
    """LeCam regularization (Tseng et al. 2021): keeps the critic's scores near moving averages of the other side's.

    The penalty is ``weight * (mean (D(real) - a_fake)^2 + mean (D(fake) - a_real)^2)``,
    with ``a_real`` and ``a_fake`` exponential moving averages of the mean scores. The
    averages are buffers: every checkpoint holds them, and a resume continues them exactly.

    Args:
        weight: lambda; the paper uses 0.3 (BigGAN) to 0.01 (StyleGAN2) on limited data.
        decay: of the moving averages of the mean real and fake scores.
    """

    schedulable = ("weight",)  # a [schedule] may move these: read from self at each use

    # Buffers, registered in __init__.
    average_real: Tensor
    average_fake: Tensor

    def __init__(self, weight: NonNegativeFloat = 0.3, decay: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.99) -> None:
        super().__init__()
        self.weight, self.decay = weight, decay
        self.register_buffer("average_real", torch.tensor(0.0))
        self.register_buffer("average_fake", torch.tensor(0.0))

    def score_penalty(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        with torch.no_grad():
            self.average_real.lerp_(real_scores.detach().float().mean(), 1 - self.decay)
            self.average_fake.lerp_(fake_scores.detach().float().mean(), 1 - self.decay)
        real_term = (real_scores.float() - self.average_fake).square().mean()
        fake_term = (fake_scores.float() - self.average_real).square().mean()
        return self.weight * (real_term + fake_term)


class Consistency(gancore.Regularizer):
    """Balanced consistency regularization (bCR, Zhao et al. 2021): the critic scores an augmented sample as the sample itself.

    Penalises ``weight_real * mean (D(x) - D(T(x)))^2`` on real and ``weight_fake * ...`` on
    generated samples, T an augmentation of the augment kind (by default DiffAugment's
    translation), applied here only: it is not the recipe's ``[[augment]]``.

    Args:
        weight_real: lambda_real.
        weight_fake: lambda_fake.
        augment: the augmentation T, a registered augment.
        augment_params: the augmentation's parameters.
    """

    schedulable = ("weight_real", "weight_fake")  # a [schedule] may move these: read from self at each use

    supports = staticmethod(lambda spec: spec.is_image)  # the default augmentation's data

    def __init__(
        self,
        weight_real: NonNegativeFloat = 10.0,
        weight_fake: NonNegativeFloat = 10.0,
        augment: Annotated[str, gancore.Ref("augment")] = "diffaugment",
        augment_params: dict = {"policy": ["translation"]},
        *,
        spec: gancore.DataSpec,
        build: gancore.Build = gancore.build,
        random: gancore.Random = gancore.Random(),
    ) -> None:
        self.weight_real, self.weight_fake = weight_real, weight_fake
        self.transform = build("augment", augment, dict(augment_params), spec=spec, random=random)

    def penalty(self, critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
        total = real.new_zeros(())
        for weight, x in ((self.weight_real, real.detach()), (self.weight_fake, fake.detach())):
            if weight:
                total = total + weight * (critic(x) - critic(self.transform(x))).float().square().mean()
        return total


class WeightClipping(gancore.Regularizer):
    """WGAN weight clipping: clamps every critic parameter to [-clip, clip] after each step.

    Args:
        clip: the bound c of the clamp.
    """

    schedulable = ("clip",)  # a [schedule] may move these: read from self at each use

    def __init__(self, clip: PositiveFloat = 0.01) -> None:
        self.clip = clip

    @torch.no_grad()
    def after_critic_step(self, critic: nn.Module) -> None:
        params: list[Tensor] = list(critic.parameters())
        if not params:
            return
        # Two fused in-place kernels over all parameters; nothing returns to the host.
        torch._foreach_clamp_min_(params, -self.clip)
        torch._foreach_clamp_max_(params, self.clip)


__all__ = ["Consistency", "DraganPenalty", "GradientPenalty", "LeCam", "R1Penalty", "R2Penalty", "WeightClipping"]
