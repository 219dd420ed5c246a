"""Offline translation data derived from the bundled MNIST test split (no download).

``mnist-edges`` pairs an edge map with its digit (pix2pix); ``mnist-unpaired`` gives two
domains, plain digits and a restyled version, drawn from disjoint halves of the images so
no image of one domain has its counterpart in the other (CycleGAN). Every transform is
one batched torch operation over the whole split.

Both take a ``subset``: the last ``held_out`` images of the 10k split are kept apart,
so a recipe trains on ``train`` and the benchmark measures on ``held-out`` images the
networks never saw.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

import gancore

Subset = Annotated[
    Literal["train", "held-out", "all"],
    Field(description="train (all but the last held_out images), held-out (those) or all"),
]
HeldOut = Annotated[int, Field(ge=0, le=9000, description="images at the end of the 10k split kept out of train")]
Limit = Annotated[int | None, Field(ge=2, description="keep the first N images of the subset")]
Size = Annotated[int, Field(ge=8, le=256, description="image side: 28 native, 32 or 64 resized bilinearly")]

_SOBEL = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
# The largest Sobel magnitude a [0, 1] image reaches is about 4.5: a hard stroke border
# maps to 1, a soft anti-aliased one stays grey.
_SOBEL_SCALE = 4.0


def mnist_subset(
    subset: str, held_out: int, limit: int | None, size: int, build: gancore.Build
) -> tuple[Tensor, Tensor]:
    """(images N x 1 x size x size in [-1, 1], labels) of one subset of the embedded split,
    from the "mnist" of the registry (``build``) building the dataset."""
    data = build("dataset", "mnist", {"size": size})
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


def sobel_edges(x: Tensor) -> Tensor:
    """Sobel gradient magnitude of images in [-1, 1], back in [-1, 1] (edges bright)."""
    ink = (x + 1) / 2
    kernel_x = _SOBEL.to(x).view(1, 1, 3, 3).expand(x.shape[1], 1, 3, 3)
    kernel_y = kernel_x.transpose(2, 3)
    gx = F.conv2d(ink, kernel_x, padding=1, groups=x.shape[1])
    gy = F.conv2d(ink, kernel_y, padding=1, groups=x.shape[1])
    magnitude = (gx.square() + gy.square()).sqrt()
    return (magnitude / _SOBEL_SCALE).clamp(0, 1) * 2 - 1


def dilate(x: Tensor, radius: int = 1) -> Tensor:
    """Grey-level dilation by a (2r+1)-square: bright strokes grow by r pixels."""
    return F.max_pool2d(x, 2 * radius + 1, stride=1, padding=radius)


def erode(x: Tensor, radius: int = 1) -> Tensor:
    return -dilate(-x, radius)


def morphological_gradient(x: Tensor) -> Tensor:
    """Dilation minus erosion of images in [-1, 1], back in [-1, 1]: a 2-3 pixel outline."""
    return (dilate(x) - erode(x)) - 1  # the difference lies in [0, 2]


EDGES = {"sobel": sobel_edges, "gradient": morphological_gradient}
DOMAIN_B: dict[str, Callable[[Tensor], Tensor]] = {"thick": dilate, "inverted": torch.neg}


def mnist_edges(
    edges: Annotated[Literal["sobel", "gradient"], Field(description="sobel magnitude or morphological gradient")] = "sobel",
    subset: Subset = "train",
    held_out: HeldOut = 2000,
    limit: Limit = None,
    size: Size = 28,
    *,
    build: gancore.Build = gancore.build,
) -> gancore.Dataset:
    """Paired MNIST for pix2pix: source = the digit's edge map, x = the digit, label (offline)."""
    x, labels = mnist_subset(subset, held_out, limit, size, build)
    return gancore.Dataset({"source": EDGES[edges](x), "x": x, "label": labels}, num_classes=10)


def mnist_unpaired(
    domain_b: Annotated[
        Literal["thick", "inverted"], Field(description="domain B: thick (dilated strokes) or inverted digits")
    ] = "thick",
    subset: Subset = "train",
    held_out: HeldOut = 2000,
    limit: Limit = None,
    size: Size = 28,
    *,
    build: gancore.Build = gancore.build,
) -> gancore.Dataset:
    """Unpaired MNIST for CycleGAN: a = plain digits, b = x = restyled digits from the other half of the images.

    ``label_a`` and ``label_b`` are there for evaluation only; no scheme should train on
    them. Each domain holds half of the subset's images.
    """
    x, labels = mnist_subset(subset, held_out, limit, size, build)
    half = len(x) // 2
    b = DOMAIN_B[domain_b](x[half : 2 * half])
    return gancore.Dataset(
        {"a": x[:half], "b": b, "x": b, "label_a": labels[:half], "label_b": labels[half : 2 * half]},
        num_classes=None,  # the labels are not a training field: nothing here is class-conditional
    )
