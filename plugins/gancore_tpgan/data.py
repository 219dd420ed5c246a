"""Rotated MNIST: offline paired data for TP-GAN's "profile to frontal" task (no download).

A face seen from the side becomes, here, a digit turned away from upright: each source is
an MNIST digit of the bundled test split rotated about the image centre by a random angle
whose size lies between ``min_angle`` and ``max_angle`` degrees, turned either way; the
target ``x`` is the upright digit. All rotations are one ``affine_grid``/``grid_sample``
call over the whole split, with bilinear interpolation.

Note that at angles near 90 degrees a 6 and a 9 can look alike; a small fraction of the
sources are ambiguous by nature.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

import gancore
from _gancore_support.mnist import HeldOut, Subset, mnist_subset

Degrees = Annotated[float, Field(ge=0.0, le=180.0)]


def rotate(images: Tensor, degrees: Tensor) -> Tensor:
    """Images in [-1, 1] (N, C, H, W) rotated counter-clockwise by ``degrees`` (N,) about the centre.

    Pixels rotated in from outside the image are background (-1): the rotation runs on
    ink in [0, 1], whose zero padding is exactly the background.
    """
    theta = torch.deg2rad(degrees.float())
    cos, sin = torch.cos(theta), torch.sin(theta)
    zero = torch.zeros_like(cos)
    # affine_grid maps output coordinates to input ones, so this is the inverse rotation;
    # with y pointing down on screen it turns the picture counter-clockwise.
    matrix = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = F.affine_grid(matrix, list(images.shape), align_corners=False)
    ink = F.grid_sample((images + 1) / 2, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return ink * 2 - 1


def draw_angles(n: int, min_angle: float, max_angle: float, generator: torch.Generator) -> Tensor:
    """(n,) angles in degrees, |angle| uniform in [min_angle, max_angle], either sign."""
    size = min_angle + (max_angle - min_angle) * torch.rand(n, generator=generator)
    sign = torch.randint(0, 2, (n,), generator=generator) * 2 - 1
    return size * sign


def mnist_rotated(
    min_angle: Degrees = 45.0,
    max_angle: Degrees = 90.0,
    subset: Subset = "train",
    held_out: HeldOut = 2000,
    limit: Annotated[int | None, Field(ge=1, description="keep the first N images of the subset")] = None,
    seed: Annotated[int, Field(description="seed of the angles")] = 0,
    *,
    build: gancore.Build = gancore.build,
) -> gancore.Dataset:
    """Paired rotated MNIST for TP-GAN: source = the digit turned by min_angle..max_angle degrees either way, x = upright, label, angle.

    Args:
        min_angle: smallest rotation, in degrees
        max_angle: largest rotation, in degrees
    """
    if min_angle > max_angle:
        raise ValueError(f"min_angle ({min_angle}) is larger than max_angle ({max_angle})")
    x, labels = mnist_subset(subset, held_out, limit, build)
    # The subset is part of the seed, so held-out angles are not the train ones replayed.
    offset = {"train": 0, "held-out": 1, "all": 2}[subset]
    angle = draw_angles(len(x), min_angle, max_angle, torch.Generator().manual_seed(seed * 3 + offset))
    return gancore.Dataset({"source": rotate(x, angle), "x": x, "label": labels, "angle": angle}, num_classes=10)
