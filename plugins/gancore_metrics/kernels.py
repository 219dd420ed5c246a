"""Kernel Inception Distance (Binkowski et al. 2018): unbiased MMD^2, polynomial kernel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar

import torch
from pydantic import Field
from torch import Tensor

import gancore

from .common import FeaturesParam, ImagesByDefault, embed, feature_space

#: Subsets whose kernel matrices are formed at once; bounds memory at a few hundred MB.
_SUBSETS_PER_CHUNK = 8


def polynomial_kernel(a: Tensor, b: Tensor) -> Tensor:
    """k(x, y) = (x.y / d + 1)^3 between the rows of ``a`` and ``b`` (S x n x d each)."""
    d = a.shape[-1]
    # The "/ d + 1" rides along in the matrix product and the cube is taken in place:
    # the kernel matrices are the large temporaries here.
    return torch.baddbmm(a.new_ones(1, 1, 1), a, b.transpose(-1, -2), alpha=1.0 / d).pow_(3)


def unbiased_mmd2(x: Tensor, y: Tensor) -> Tensor:
    """Unbiased MMD^2 estimates for batches of equal-size sets x, y: S x m x d -> S."""
    m = x.shape[-2]
    k_xx = polynomial_kernel(x, x)
    k_yy = polynomial_kernel(y, y)
    k_xy = polynomial_kernel(x, y)
    # The within-set terms leave out the diagonal k(x_i, x_i): that is what makes it unbiased.
    within_x = (k_xx.sum((-1, -2)) - k_xx.diagonal(dim1=-2, dim2=-1).sum(-1)) / (m * (m - 1))
    within_y = (k_yy.sum((-1, -2)) - k_yy.diagonal(dim1=-2, dim2=-1).sum(-1)) / (m * (m - 1))
    return within_x + within_y - 2 * k_xy.mean((-1, -2))


def _random_subsets(n: int, count: int, size: int, gen: torch.Generator) -> Tensor:
    """``count`` index sets of ``size`` distinct indices in [0, n)."""
    return torch.rand(count, n, generator=gen).argsort(dim=1)[:, :size]


def kernel_distance(f_real: Tensor, f_fake: Tensor, subsets: int, subset_size: int, seed: int) -> tuple[float, float]:
    """Mean and standard deviation of the subset MMD^2 estimates."""
    m = min(subset_size, f_real.shape[0], f_fake.shape[0])
    gen = torch.Generator().manual_seed(seed)
    idx_real = _random_subsets(f_real.shape[0], subsets, m, gen).to(f_real.device)
    idx_fake = _random_subsets(f_fake.shape[0], subsets, m, gen).to(f_real.device)
    dtype = torch.float32 if f_real.device.type == "mps" else torch.float64
    f_real, f_fake = f_real.to(dtype), f_fake.to(dtype)
    estimates = torch.cat(
        [
            unbiased_mmd2(f_real[ir], f_fake[jf])
            for ir, jf in zip(idx_real.split(_SUBSETS_PER_CHUNK), idx_fake.split(_SUBSETS_PER_CHUNK))
        ]
    )
    std = estimates.std() if subsets > 1 else torch.zeros((), dtype=dtype)
    return float(estimates.mean()), float(std)


class KernelDistance(ImagesByDefault):
    """Kernel distance (KID): unbiased MMD^2 with a cubic polynomial kernel, over random subsets."""

    # The spread over the subsets says how precise the estimate is, not how good the samples are.
    higher_is_better: ClassVar[dict[str, bool]] = {"kid": False}

    def __init__(
        self,
        features: FeaturesParam = None,
        subsets: Annotated[int, Field(ge=1, le=10_000)] = 100,
        subset_size: Annotated[int, Field(ge=2, le=100_000)] = 1000,
        seed: int = 0,
        *,
        build: gancore.Build = gancore.build,
    ) -> None:
        """
        Args:
            features: feature space the kernel is evaluated in
            subsets: number of random subsets the estimate is averaged over
            subset_size: samples per subset (clamped to the smaller sample count)
            seed: seed of the subset draws
        """
        self.space = feature_space(features, build)
        self.subsets, self.subset_size, self.seed = subsets, subset_size, seed

    def compute(self, real: Mapping[str, Tensor], fake: Mapping[str, Tensor]) -> dict[str, float]:
        f_real, f_fake = embed(self.space, real, fake)
        kid, std = kernel_distance(f_real, f_fake, self.subsets, self.subset_size, self.seed)
        return {"kid": kid, "kid_std": std}
