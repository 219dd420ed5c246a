"""Helpers the metrics share: checking inputs, embedding them in a feature space."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from torch import Tensor

import gancore


def samples(data: Mapping[str, Tensor], which: str, minimum: int = 2) -> Tensor:
    """The ``x`` tensor of ``data``, checked to hold at least ``minimum`` samples."""
    if "x" not in data:
        raise ValueError(f"{which} data needs an 'x' tensor")
    x = data["x"]
    if x.shape[0] < minimum:
        raise ValueError(f"{which} data has {x.shape[0]} samples; this metric needs at least {minimum}")
    return x


def feature_space(name: str, build: gancore.Build) -> Any:
    """The registered features part ``name`` (an object with ``features(x)``), from the
    registry (``build``) building the metric."""
    return build("features", name)


def embed(
    space: Any, real: Mapping[str, Tensor], fake: Mapping[str, Tensor], minimum: int = 2
) -> tuple[Tensor, Tensor]:
    """Features of the real and the generated samples, on the same device."""
    f_real = space.features(samples(real, "real", minimum))
    f_fake = space.features(samples(fake, "generated", minimum))
    return f_real, f_fake.to(f_real.device)


def histogram_kl_to_uniform(counts: Tensor) -> float:
    """KL(p || uniform) of the histogram ``counts`` over its bins, in nats.

    Empty bins contribute nothing (0 log 0 = 0); an all-empty histogram is infinitely far
    from uniform.
    """
    counts = counts.double()
    total = counts.sum()
    if total <= 0:
        return math.inf
    p = counts / total
    p = p[p > 0]
    return float((p * (p * counts.numel()).log()).sum())
