"""What the offline datasets derived from the bundled MNIST split start from.

The subsets: the last ``held_out`` images of the 10k split are kept apart, so a recipe
trains on ``train`` and a benchmark measures on ``held-out`` images the networks never
saw. The styles: the second domain of the unpaired datasets shows the digits restyled.
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


def mnist_subset(
    subset: str, held_out: int, limit: int | None, build: gancore.Build, *, size: int | None = None
) -> tuple[Tensor, Tensor]:
    """(images N x 1 x side x side in [-1, 1], labels) of one subset of the embedded split,
    the first ``limit`` of them, from the "mnist" of the registry (``build``) building the
    dataset. ``size`` resizes the images; by default they keep that dataset's own side."""
    data = build("dataset", "mnist", {} if size is None else {"size": size})
    x, labels = gancore.as_float(data.tensors["x"]), data.tensors["label"]  # styles work on floats
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


def dilate(x: Tensor, radius: int = 1) -> Tensor:
    """Grey-level dilation by a (2r+1)-square: bright strokes grow by r pixels."""
    return F.max_pool2d(x, 2 * radius + 1, stride=1, padding=radius)


# Thick strokes are dilated by a 3 x 3 square; inverted digits are dark on a light ground.
STYLES: dict[str, Callable[[Tensor], Tensor]] = {"thick": dilate, "inverted": torch.neg}
