"""The 2D Gaussian-mixture benchmarks of PacGAN: a ring of 8 modes and a 5x5 grid.

The mode centres and default spreads are module-level functions so that mode-counting
metrics measure against exactly the distribution the data came from.
"""

from __future__ import annotations

import math
from typing import Annotated

import torch
from pydantic import Field
from torch import Tensor

import gancore

RING_STD = 0.01
GRID_STD = 0.05


def ring_modes() -> Tensor:
    """The 8 ring centres on the unit circle, at angles 2*pi*k/8; float32, shape (8, 2)."""
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    return torch.stack([angles.cos(), angles.sin()], dim=1).float()


def grid_modes() -> Tensor:
    """The 25 grid centres {-4,-2,0,2,4}^2, row by row (y major); float32, shape (25, 2)."""
    axis = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    ys, xs = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)


def ring_std() -> float:
    """The default standard deviation of each ring mode."""
    return RING_STD


def grid_std() -> float:
    """The default standard deviation of each grid mode."""
    return GRID_STD


def mixture_modes(name: str) -> tuple[Tensor, float]:
    """``(centres, default std)`` of the mixture called ``name`` ("ring" or "grid")."""
    table = {"ring": (ring_modes, RING_STD), "grid": (grid_modes, GRID_STD)}
    if name not in table:
        raise ValueError(f"unknown mixture {name!r} (available: {', '.join(sorted(table))})")
    modes, std = table[name]
    return modes(), std


def sample_mixture(modes: Tensor, std: float, num_samples: int, seed: int) -> gancore.Dataset:
    """Equal-weight isotropic Gaussians around ``modes``; ``label`` is the mode index.

    A private generator keeps the data the same for a seed whatever else used the
    global random state before.
    """
    rng = torch.Generator().manual_seed(seed)
    labels = torch.randint(len(modes), (num_samples,), generator=rng)
    noise = torch.randn(num_samples, modes.shape[1], generator=rng)
    x = modes[labels] + std * noise
    return gancore.Dataset({"x": x.float(), "label": labels.long()}, num_classes=len(modes), modes=modes.float(), mode_std=std)


def ring(
    std: Annotated[float, Field(gt=0, description="standard deviation of each mode")] = RING_STD,
    num_samples: Annotated[int, Field(ge=1, le=10_000_000, description="number of points")] = 100_000,
    seed: Annotated[int, Field(description="seed of the data's own random generator")] = 0,
) -> gancore.Dataset:
    """8 Gaussians on the unit circle (2D points; label = mode index)."""
    return sample_mixture(ring_modes(), std, num_samples, seed)


def grid(
    std: Annotated[float, Field(gt=0, description="standard deviation of each mode")] = GRID_STD,
    num_samples: Annotated[int, Field(ge=1, le=10_000_000, description="number of points")] = 100_000,
    seed: Annotated[int, Field(description="seed of the data's own random generator")] = 0,
) -> gancore.Dataset:
    """25 Gaussians on a 5x5 grid at {-4,-2,0,2,4}^2 (2D points; label = mode index)."""
    return sample_mixture(grid_modes(), std, num_samples, seed)
