"""ADA's transforms at a probability the recipe sets: constant, or moved over the run by a
``[schedule]`` (R3GAN's presets raise it from 0 along a cosine) instead of steered by the
critic's overfitting."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from torch import Tensor

import gancore

from .diffaugment import Policy, images_only
from .ops import TRANSFORMS


class Transforms(gancore.Augment):
    """ADA's transforms, each applied to a sample with a probability p the recipe sets (constant or scheduled).

    Args:
        p: the probability that each transform applies to a sample
        policy: the transforms, in the canonical order: color, translation, cutout, flip
    """

    supports = staticmethod(images_only)
    schedulable = ("p",)  # read at every call
    examples = ({"p": 0.5},)  # the contract kit's: p = 0 (the default) leaves every batch as it is

    def __init__(self, p: Annotated[float, Field(ge=0, le=1)] = 0.0, policy: Policy = ["color", "translation", "cutout"],
                 *, spec: gancore.DataSpec, random: gancore.Random = gancore.Random()) -> None:
        super().__init__()
        if not spec.is_image:
            raise ValueError(f"transforms augments images (C x H x W), got samples of shape {spec.shape}")
        self.p, self.random = p, random
        self.policy = [name for name in TRANSFORMS if name in policy]

    def forward(self, x: Tensor) -> Tensor:
        for name in self.policy:
            # Drawn even at p = 0, so the run's random stream does not depend on p.
            apply = self.random.rand(x.shape[0], device=x.device) < self.p
            x = TRANSFORMS[name](x, self.random, apply)
        return x
