"""Moving MNIST in two styles: offline sequence data for Recycle-GAN (no download).

Each sequence is one digit of the bundled MNIST test split gliding across the 28 x 28
frame at a constant velocity (a whole number of pixels per frame on each axis, never
zero on both). Domain A shows plain digits, domain B restyled ones (thick or inverted
strokes) moving under the same law; the two domains are drawn from disjoint halves of the
images, so no sequence of one domain has its counterpart in the other.

The trajectory is centred on the digit's resting place (frame t sits at
``(t - (T - 1) / 2) * velocity`` pixels, rounded down), so even the fastest digits stay
mostly inside the frame. Everything is built in a handful of batched tensor operations:
the shifted frames are gathered from a background-padded copy of the images with one
advanced index, with no Python loop over the images.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

import gancore

BACKGROUND = -1.0  # MNIST ink is +1 on a -1 background in gancore's [-1, 1] scaling

Subset = Annotated[
    Literal["train", "held-out", "all"],
    Field(description="train (all but the last held_out images), held-out (those) or all"),
]


def mnist_images(subset: str, held_out: int, limit: int | None, build: gancore.Build) -> tuple[Tensor, Tensor]:
    """(images N x 1 x 28 x 28 in [-1, 1], labels) of one subset of the bundled split, from
    the "mnist" of the registry (``build``) building the dataset."""
    data = build("dataset", "mnist")
    x, labels = data.tensors["x"], data.tensors["label"]
    cut = len(x) - held_out
    if subset == "train":
        x, labels = x[:cut], labels[:cut]
    elif subset == "held-out":
        if held_out == 0:
            raise ValueError("subset = 'held-out' needs held_out > 0")
        x, labels = x[cut:], labels[cut:]
    if limit is not None:
        x, labels = x[:limit], labels[:limit]
    return x, labels


def thicken(x: Tensor) -> Tensor:
    """Grey-level dilation by a 3 x 3 square: strokes grow by one pixel on each side."""
    return F.max_pool2d(x, 3, stride=1, padding=1)


STYLES: dict[str, Callable[[Tensor], Tensor]] = {"thick": thicken, "inverted": torch.neg}


def draw_velocities(n: int, max_speed: int, generator: torch.Generator) -> Tensor:
    """(n, 2) integer (dy, dx) velocities in [-max_speed, max_speed], never (0, 0)."""
    # Draw among the (2s + 1)^2 - 1 non-zero velocities directly: no rejection loop.
    side = 2 * max_speed + 1
    code = torch.randint(0, side * side - 1, (n,), generator=generator)
    code = code + (code >= (side * side) // 2).long()  # skip the centre, (0, 0)
    return torch.stack([code // side, code % side], dim=1) - max_speed


def offsets(velocity: Tensor, frames: int) -> Tensor:
    """(n, T, 2) displacement of each frame: a straight path centred on the resting place."""
    t = torch.arange(frames, dtype=torch.float32) - (frames - 1) / 2
    return torch.floor(t[None, :, None] * velocity[:, None, :].float()).long()


def move(images: Tensor, shift: Tensor) -> Tensor:
    """Images (n, C, H, W) displaced by integer (dy, dx) per frame (n, T, 2) -> (n, T, C, H, W).

    Pixels moved in from outside are background: the images are padded by the largest
    shift and every frame is one window of the padded image, gathered by index.
    """
    n, c, h, w = images.shape
    margin = int(shift.abs().max()) if shift.numel() else 0
    padded = F.pad(images, (margin, margin, margin, margin), value=BACKGROUND)
    # Output pixel (i, j) of a frame moved by (dy, dx) shows input pixel (i - dy, j - dx).
    rows = torch.arange(h)[None, None, :] - shift[..., 0:1] + margin  # (n, T, H)
    cols = torch.arange(w)[None, None, :] - shift[..., 1:2] + margin  # (n, T, W)
    index_n = torch.arange(n)[:, None, None, None]
    frames = padded[index_n, :, rows[..., :, None], cols[..., None, :]]  # (n, T, H, W, C)
    return frames.permute(0, 1, 4, 2, 3).contiguous()


def moving_mnist(
    frames: Annotated[int, Field(ge=3, le=8, description="frames per sequence (T)")] = 4,
    max_speed: Annotated[int, Field(ge=1, le=3, description="largest speed along each axis, pixels per frame")] = 2,
    domain_b: Annotated[
        Literal["thick", "inverted"], Field(description="style of domain B: thick (dilated) or inverted digits")
    ] = "thick",
    subset: Subset = "train",
    held_out: Annotated[int, Field(ge=0, le=9000, description="images at the end of the 10k split kept out of train")] = 2000,
    limit: Annotated[int | None, Field(ge=2, description="keep the first N images of the subset")] = None,
    seed: Annotated[int, Field(description="seed of the velocities")] = 0,
    *,
    build: gancore.Build = gancore.build,
) -> gancore.Dataset:
    """Moving MNIST sequences in two styles (Recycle-GAN): a = plain digits, b = x = restyled digits, N x T x 1 x 28 x 28.

    The fields ``velocity_a``/``velocity_b`` ((dy, dx) per sequence) and ``label_a``/
    ``label_b`` are there for evaluation only; no scheme should train on them.
    """
    images, labels = mnist_images(subset, held_out, limit, build)
    half = len(images) // 2
    if half == 0:
        raise ValueError("moving-mnist needs at least 2 images (one per domain)")
    generator = torch.Generator().manual_seed(seed)
    velocity = draw_velocities(2 * half, max_speed, generator)
    path = offsets(velocity, frames)
    a = move(images[:half], path[:half])
    b = move(STYLES[domain_b](images[half : 2 * half]), path[half:])
    return gancore.Dataset(
        {
            "a": a,
            "b": b,
            "x": b,
            "label_a": labels[:half],
            "label_b": labels[half : 2 * half],
            "velocity_a": velocity[:half],
            "velocity_b": velocity[half:],
        },
        num_classes=None,  # labels are for evaluation: nothing here is class-conditional
    )
