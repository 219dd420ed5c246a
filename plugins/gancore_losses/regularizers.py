"""Critic regularizers: gradient penalties and WGAN's weight clipping.

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

    def __init__(self, weight: NonNegativeFloat = 10.0, target: NonNegativeFloat = 1.0) -> None:
        self.weight = weight
        self.target = target

    def penalty(self, critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
        real, fake = real.detach(), fake.detach()
        # One mixing coefficient per sample, broadcast over its remaining dimensions.
        eps_shape = (real.shape[0],) + (1,) * (real.dim() - 1)
        eps = gancore.rand(*eps_shape, device=real.device, dtype=real.dtype)  # the same for any process count
        mixed = torch.lerp(fake, real, eps).requires_grad_(True)
        norms = torch.linalg.vector_norm(gancore.input_gradients(critic, mixed), dim=1)
        return self.weight * (norms - self.target).square().mean()


class R1Penalty(gancore.Regularizer):
    """R1: penalises the squared norm of the critic's gradient on real data.

    Args:
        weight: gamma; the penalty is gamma / 2 times the mean squared gradient norm.
    """

    def __init__(self, weight: NonNegativeFloat = 10.0) -> None:
        self.weight = weight

    def penalty(self, critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
        x = real.detach().requires_grad_(True)
        squared_norms = gancore.input_gradients(critic, x).square().sum(dim=1)
        return 0.5 * self.weight * squared_norms.mean()


class WeightClipping(gancore.Regularizer):
    """WGAN weight clipping: clamps every critic parameter to [-clip, clip] after each step.

    Args:
        clip: the bound c of the clamp.
    """

    def __init__(self, clip: PositiveFloat = 0.01) -> None:
        self.clip = clip

    @torch.no_grad()
    def after_critic_step(self, critic: nn.Module) -> None:
        params = list(critic.parameters())
        if not params:
            return
        # Two fused in-place kernels over all parameters; nothing returns to the host.
        torch._foreach_clamp_min_(params, -self.clip)
        torch._foreach_clamp_max_(params, self.clip)


__all__ = ["GradientPenalty", "R1Penalty", "WeightClipping"]
