"""Helpers the metrics share: checking inputs, embedding them in a feature space, and the
data the MNIST-based metrics run on by default."""

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


class MnistImagesByDefault(gancore.Metric):
    """A metric whose default feature space (or classifier) is the bundled MNIST network:
    ``gancore eval`` runs it by default where that network reads the data."""

    @classmethod
    def applies_to(cls, spec: gancore.DataSpec) -> bool:
        """Runs by default on single-channel 28x28 or 32x32 images (the MNIST feature space)."""
        return spec.is_image and spec.shape[0] == 1 and spec.shape[1] in (28, 32)
