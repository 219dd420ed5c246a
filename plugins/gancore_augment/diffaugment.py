"""DiffAugment (Zhao et al. 2020): the same differentiable transforms on every real and
generated batch the critic sees, in the critic's and the generator's updates."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field
from torch import Tensor

import gancore

from .ops import TRANSFORMS

Policy = Annotated[list[Literal["color", "translation", "cutout", "flip"]], Field(min_length=1)]


def images_only(spec: gancore.DataSpec) -> bool:
    """Image augmentations need (C, H, W) samples."""
    return spec.is_image


class DiffAugment(gancore.Augment):
    """DiffAugment (Zhao et al. 2020): the same differentiable transforms on every critic input, real or generated.

    Args:
        policy: transforms in this order: color (brightness, saturation, contrast), translation (1/8 of the side), cutout (half the side), flip
    """

    supports = staticmethod(images_only)

    def __init__(self, policy: Policy = ["color", "translation", "cutout"], *, spec: gancore.DataSpec,
                 random: gancore.Random = gancore.Random()) -> None:
        super().__init__()
        self.random = random
        if not spec.is_image:
            raise ValueError(f"diffaugment augments images (C x H x W), got samples of shape {spec.shape}")
        # In the canonical order whatever the list's: a policy names a set of transforms.
        self.policy = [name for name in TRANSFORMS if name in policy]

    def forward(self, x: Tensor) -> Tensor:
        for name in self.policy:
            x = TRANSFORMS[name](x, self.random)
        return x
