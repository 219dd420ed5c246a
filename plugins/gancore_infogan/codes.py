"""The InfoGAN latent: noise z, one categorical code (one-hot) and continuous codes.

The generator sees one concatenated vector ``[z | one-hot(c_cat) | c_cont]``; this module
fixes that layout in one place, draws it on the training device, and arranges the codes
of a sample grid so that each row shows one category.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

import gancore


@dataclass(frozen=True)
class LatentCodes:
    """One draw of the latent: the generator's input and the codes Q must recover."""

    latent: Tensor  # N x (noise_dim + categories + continuous)
    category: Tensor | None  # N, int64; None without a categorical code
    continuous: Tensor | None  # N x continuous in [-1, 1]; None without continuous codes


@dataclass(frozen=True)
class LatentLayout:
    """Sizes of the three parts of the latent, in the order the generator reads them."""

    noise_dim: int
    categories: int
    continuous: int

    def __post_init__(self) -> None:
        if self.noise_dim < 1:
            raise ValueError(f"the noise z needs at least one dimension (got noise_dim={self.noise_dim})")
        check_codes(self.categories, self.continuous)

    @property
    def latent_dim(self) -> int:
        return self.noise_dim + self.categories + self.continuous

    def assemble(self, noise: Tensor, category: Tensor | None, continuous: Tensor | None) -> LatentCodes:
        """Concatenate given parts (category as class indices) into the generator's input."""
        parts = [noise]
        if self.categories:
            assert category is not None
            parts.append(F.one_hot(category, self.categories).to(noise.dtype))
        if self.continuous:
            assert continuous is not None
            parts.append(continuous)
        return LatentCodes(torch.cat(parts, dim=1), category, continuous)

    def draw(
        self,
        n: int,
        device: torch.device | str,
        *,
        category: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> LatentCodes:
        """Codes from the prior: z ~ N(0, I), c_cat ~ uniform over categories, c_cont ~ U(-1, 1).

        With a ``generator`` (sampling) the draw happens on the CPU, so a seed gives the
        same samples on every device; without one (training) it happens on ``device``.
        """
        where = "cpu" if generator is not None else device
        if generator is None:  # training: gancore's per-row draws, the same for any process count
            noise = gancore.randn(n, self.noise_dim, device=where)
            if self.categories and category is None:
                category = gancore.randint(self.categories, n, device=where)
            continuous = gancore.rand(n, self.continuous, device=where).mul_(2).sub_(1) if self.continuous else None
        else:
            noise = torch.randn(n, self.noise_dim, device=where, generator=generator)
            if self.categories and category is None:
                category = torch.randint(0, self.categories, (n,), device=where, generator=generator)
            continuous = None
            if self.continuous:
                continuous = torch.rand(n, self.continuous, device=where, generator=generator).mul_(2).sub_(1)
        if category is not None:
            category = category.to(where)
        codes = self.assemble(noise, category, continuous)
        if generator is None:
            return codes
        return LatentCodes(codes.latent.to(device), *(None if t is None else t.to(device) for t in (codes.category, codes.continuous)))


def check_codes(categories: int, continuous: int) -> None:
    """The code sizes InfoGAN can use, or a ValueError saying why not."""
    if categories < 0 or continuous < 0:
        raise ValueError(f"code sizes cannot be negative (categories={categories}, continuous={continuous})")
    if categories == 1:
        raise ValueError("categories = 1 is a constant code; use 0 (no categorical code) or at least 2")
    if categories == 0 and continuous == 0:
        raise ValueError("InfoGAN needs at least one latent code: set categories >= 2 or continuous >= 1")


def grid_categories(n: int, categories: int) -> Tensor:
    """Category per sample so that a grid of ``n`` tiles shows category k on row k.

    The grid has ``ceil(sqrt(n))`` columns (as the run's sample grid draws it). When the
    grid has more rows than there are categories, the draw is one for statistics (an
    evaluation), not a picture: categories then repeat one per sample in turn, so every
    category appears equally often instead of some rows' categories twice.
    """
    columns = math.ceil(math.sqrt(n))
    index = torch.arange(n)
    if math.ceil(n / columns) <= categories:
        return index // columns
    return index % categories
