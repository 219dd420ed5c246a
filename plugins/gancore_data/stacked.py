"""Stacked MNIST: three random digits as the channels of one image, 1000 modes."""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field
from torch import Tensor

import gancore


def stack_digits(images: Tensor, labels: Tensor, num_samples: int, seed: int) -> gancore.Dataset:
    """Stack three digits drawn at random (with replacement) from ``images`` (N x 1 x H x W).

    The label of a stacked image is 100 * d0 + 10 * d1 + d2, its digits' labels by channel.
    """
    gen = torch.Generator().manual_seed(seed)
    picks = torch.randint(len(images), (num_samples, 3), generator=gen)
    # images[picks] is num_samples x 3 x 1 x H x W: the singleton channel goes.
    x = images[picks].squeeze(2)
    label = (labels[picks] * torch.tensor([100, 10, 1], dtype=labels.dtype)).sum(1)
    return gancore.Dataset({"x": x.contiguous(), "label": label}, num_classes=1000)


def stacked_mnist(
    num_samples: Annotated[int, Field(ge=1, le=500_000, description="number of stacked images")] = 50_000,
    seed: Annotated[int, Field(description="seed of the digit draws")] = 0,
    size: Annotated[int, Field(ge=8, le=256, description="image side: 28 native, 32 or 64 resized bilinearly")] = 28,
    *,
    build: gancore.Build = gancore.build,
) -> gancore.Dataset:
    """Stacked MNIST: 3 x 28 x 28 images whose channels are random digits (label = 100*d0 + 10*d1 + d2)."""
    # The digits are the "mnist" of the registry building this dataset (called directly,
    # the process's).
    base = build("dataset", "mnist", {"size": size})
    return stack_digits(base.tensors["x"], base.tensors["label"], num_samples, seed)
