"""k-nearest-neighbour manifold metrics in a feature space.

Precision and recall (Kynkaanniemi et al. 2019) and density and coverage (Naeem et al. 2020)
estimate each sample set's support as the union of balls around its samples, each ball
reaching the sample's k-th nearest neighbour. Distances are computed in row blocks, so
10k x 10k sets stay within a few hundred MB.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar

import torch
from pydantic import Field
from torch import Tensor

import gancore

from .common import FeaturesParam, ImagesByDefault, embed, feature_space

#: Elements of one block of the distance matrix (float32): 2^24 is 64 MB.
_BLOCK_ELEMENTS = 1 << 24


def _squared_distances(a: Tensor, b: Tensor) -> Tensor:
    """||a_i - b_j||^2 as ||a_i||^2 + ||b_j||^2 - 2 a_i.b_j: one matrix product.

    Balls are compared by squared radius, so no square root is taken; this form runs at
    matrix-product speed, about twice as fast as ``torch.cdist`` on the CPU.
    """
    norms = a.square().sum(1)[:, None] + b.square().sum(1)[None, :]
    return torch.addmm(norms, a, b.T, alpha=-2).clamp_min_(0)


def _row_blocks(rows: Tensor, columns: int) -> tuple[Tensor, ...]:
    return rows.split(max(1, _BLOCK_ELEMENTS // max(columns, 1)))


def knn_radii_squared(features: Tensor, k: int) -> Tensor:
    """Squared distance of each sample to its k-th nearest neighbour within the same set."""
    if features.shape[0] <= k:
        raise ValueError(f"k = {k} nearest neighbours need more than {k} samples, got {features.shape[0]}")
    radii = []
    for block in _row_blocks(features, features.shape[0]):
        # k + 1 smallest: the nearest is the sample itself (distance 0).
        radii.append(_squared_distances(block, features).topk(k + 1, dim=1, largest=False).values[:, -1])
    return torch.cat(radii)


def manifold_stats(f_real: Tensor, f_fake: Tensor, k: int, *, with_recall: bool = True) -> dict[str, float]:
    """Precision, density, coverage (and recall) of ``f_fake`` against ``f_real``."""
    f_real, f_fake = f_real.float(), f_fake.float()
    radii_real = knn_radii_squared(f_real, k)
    radii_fake = knn_radii_squared(f_fake, k) if with_recall else None
    n_real = f_real.shape[0]
    # Per generated sample: how many real balls contain it (precision, density).
    real_balls_per_fake = []
    # Per real sample: whether some generated sample lies in its ball (coverage) ...
    real_ball_hit = torch.zeros(n_real, dtype=torch.bool, device=f_real.device)
    # ... and whether it lies in some generated sample's ball (recall).
    real_in_fake_ball = torch.zeros(n_real, dtype=torch.bool, device=f_real.device)
    start = 0
    for block in _row_blocks(f_fake, n_real):
        d = _squared_distances(block, f_real)  # generated x real
        inside_real = d <= radii_real[None, :]
        real_balls_per_fake.append(inside_real.sum(1))
        real_ball_hit |= inside_real.any(0)
        if radii_fake is not None:
            real_in_fake_ball |= (d <= radii_fake[start : start + block.shape[0], None]).any(0)
        start += block.shape[0]
    counts = torch.cat(real_balls_per_fake).double()
    stats = {
        "precision": float((counts > 0).double().mean()),
        "density": float(counts.sum() / (k * f_fake.shape[0])),
        "coverage": float(real_ball_hit.double().mean()),
    }
    if with_recall:
        stats["recall"] = float(real_in_fake_ball.double().mean())
    return stats


class PrecisionRecall(ImagesByDefault):
    """Improved precision and recall (Kynkaanniemi et al. 2019): k-NN support estimates in feature space."""

    higher_is_better: ClassVar[dict[str, bool]] = {"precision": True, "recall": True}

    def __init__(
        self,
        features: FeaturesParam = None,
        k: Annotated[int, Field(ge=1)] = 3,
        *,
        build: gancore.Build = gancore.build,
    ) -> None:
        """
        Args:
            features: feature space the neighbourhoods are computed in
            k: neighbour whose distance sets each sample's ball radius
        """
        self.space, self.k = feature_space(features, build), k

    def compute(self, real: Mapping[str, Tensor], fake: Mapping[str, Tensor]) -> dict[str, float]:
        f_real, f_fake = embed(self.space, real, fake, minimum=self.k + 1)
        stats = manifold_stats(f_real, f_fake, self.k, with_recall=True)
        return {"precision": stats["precision"], "recall": stats["recall"]}


class DensityCoverage(ImagesByDefault):
    """Density and coverage (Naeem et al. 2020): k-NN balls around real samples, robust to outliers."""

    higher_is_better: ClassVar[dict[str, bool]] = {"density": True, "coverage": True}

    def __init__(
        self,
        features: FeaturesParam = None,
        k: Annotated[int, Field(ge=1)] = 5,
        *,
        build: gancore.Build = gancore.build,
    ) -> None:
        """
        Args:
            features: feature space the neighbourhoods are computed in
            k: neighbour whose distance sets each real sample's ball radius
        """
        self.space, self.k = feature_space(features, build), k

    def compute(self, real: Mapping[str, Tensor], fake: Mapping[str, Tensor]) -> dict[str, float]:
        f_real, f_fake = embed(self.space, real, fake, minimum=self.k + 1)
        stats = manifold_stats(f_real, f_fake, self.k, with_recall=False)
        return {"density": stats["density"], "coverage": stats["coverage"]}
