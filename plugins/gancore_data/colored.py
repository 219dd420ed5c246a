"""Colored MNIST: an RGB dataset that needs no download.

Each image is an MNIST digit (the bundled test split) drawn in one colour on a background
of another, placed at a random offset in a 32 x 32 frame. The colours come from a fixed
palette of eight, background and foreground always different, so the set has real
structure for a GAN to learn (shape, placement and two colours per image, 10 x 8 x 7
combinations) and a label (the digit) for conditional models. It is stored as uint8.
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field

import gancore

#: Saturated colours that stay apart from one another (RGB, 0..255).
PALETTE = torch.tensor([
    [220, 40, 40], [40, 170, 60], [40, 80, 220], [240, 200, 40],
    [150, 60, 200], [40, 190, 200], [245, 245, 245], [25, 25, 25],
], dtype=torch.float32)
SIZE = 32


def colour_digits(digits: torch.Tensor, num_samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``num_samples`` coloured images (uint8, N x 3 x 32 x 32) from ``digits`` (float
    N x 1 x 28 x 28 in [-1, 1]), with the index of each one's digit and its two colours."""
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randint(len(digits), (num_samples,), generator=gen)
    background = torch.randint(len(PALETTE), (num_samples,), generator=gen)
    # A foreground colour other than the background's: shift by 1..7 around the palette.
    foreground = (background + torch.randint(1, len(PALETTE), (num_samples,), generator=gen)) % len(PALETTE)
    offset = torch.randint(0, SIZE - 28 + 1, (num_samples, 2), generator=gen)
    ink = (digits[pick] + 1) / 2  # N x 1 x 28 x 28 in [0, 1]: how much of the foreground
    frame = torch.zeros(num_samples, 1, SIZE, SIZE)
    for dy in range(SIZE - 28 + 1):  # a few slices, one per offset: no per-image loop
        for dx in range(SIZE - 28 + 1):
            rows = (offset[:, 0] == dy) & (offset[:, 1] == dx)
            frame[rows, :, dy:dy + 28, dx:dx + 28] = ink[rows]
    fg = PALETTE[foreground][:, :, None, None]
    bg = PALETTE[background][:, :, None, None]
    images = (frame * fg + (1 - frame) * bg).round().clamp(0, 255).to(torch.uint8)
    return images.contiguous(), pick, torch.stack([background, foreground], 1)


def colored_mnist(
    num_samples: Annotated[int, Field(ge=1, le=500_000, description="number of images")] = 20_000,
    seed: Annotated[int, Field(description="seed of the digits, colours and offsets drawn")] = 0,
    *,
    build: gancore.Build = gancore.build,
) -> gancore.Dataset:
    """Colored MNIST: 3 x 32 x 32 digits in one of 8 colours on another, at random offsets (label = digit); offline."""
    base = build("dataset", "mnist", {})  # the bundled test split: no download
    images, pick, _ = colour_digits(gancore.as_float(base.tensors["x"]), num_samples, seed)
    return gancore.Dataset({"x": images, "label": base.tensors["label"][pick]}, num_classes=10)
