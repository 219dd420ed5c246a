"""Frechet distance between Gaussians fitted to features: FID (Heusel et al. 2017)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

import torch
from pydantic import Field
from torch import Tensor

import gancore

from .common import FeaturesParam, ImagesByDefault, embed, embedded, feature_space, samples


def gaussian_fit(features: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and (unbiased) covariance of N x D features, in float64."""
    f = features.double()
    mean = f.mean(0)
    centred = f - mean
    cov = centred.T @ centred / (f.shape[0] - 1)
    return mean, cov


def _psd_sqrt(matrix: Tensor) -> Tensor:
    """Square root of a symmetric positive semi-definite matrix, by eigen-decomposition."""
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    # Round-off can push tiny eigenvalues below zero; they are zero.
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def trace_sqrt_product(cov1: Tensor, cov2: Tensor) -> Tensor:
    """Tr((S1 S2)^{1/2}) for covariances S1, S2.

    S1 S2 is similar to the symmetric PSD matrix sqrt(S1) S2 sqrt(S1), whose eigenvalues
    are real and non-negative: so the trace is the sum of their square roots, with no
    complex intermediate and no iterative sqrtm to fail on singular covariances.
    """
    root1 = _psd_sqrt(cov1)
    middle = root1 @ cov2 @ root1
    values = torch.linalg.eigvalsh((middle + middle.T) / 2)
    return values.clamp_min(0).sqrt().sum()


def frechet_distance(mean1: Tensor, cov1: Tensor, mean2: Tensor, cov2: Tensor) -> float:
    """||m1 - m2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2}), computed in float64."""
    mean1, cov1, mean2, cov2 = (t.double() for t in (mean1, cov1, mean2, cov2))
    diff = mean1 - mean2
    value = diff @ diff + cov1.trace() + cov2.trace() - 2 * trace_sqrt_product(cov1, cov2)
    # The exact value is >= 0; clamp away round-off on identical sets.
    return max(float(value), 0.0)


class FrechetDistance(ImagesByDefault):
    """Frechet distance between Gaussians fitted to real and generated features (FID)."""

    higher_is_better: ClassVar[dict[str, bool]] = {"fid": False}

    def __init__(
        self,
        features: FeaturesParam = None,
        reference: Annotated[str | None, Field(description="a statistics file (.npz: mu, sigma) standing in for the real images")] = None,
        *,
        build: gancore.Build = gancore.build,
    ) -> None:
        """
        Args:
            features: feature space the Gaussians are fitted in
        """
        self.space = feature_space(features, build)
        self.reference = gancore.load_statistics(reference) if reference is not None else None
        self.reference_path = reference
        self.needs_real = self.reference is None

    def compute(self, real: Mapping[str, Tensor], fake: Mapping[str, Tensor]) -> dict[str, float]:
        if self.reference is None:
            f_real, f_fake = embed(self.space, real, fake)
            # D x D statistics: the eigen-solvers are most robust on the CPU.
            m1, s1 = gaussian_fit(f_real.cpu())
        else:
            x = samples(fake, "generated")
            space = self.space.for_samples(x)
            check_reference(self.reference, space, self.reference_path)
            f_fake = embedded(space, x)["features"]
            m1, s1 = self.reference.mu, self.reference.sigma
            if m1.shape[0] != f_fake.shape[1]:
                raise ValueError(f"the reference statistics {self.reference_path} are {m1.shape[0]}-d; "
                                 f"the {type(space).__name__} features are {f_fake.shape[1]}-d")
        m2, s2 = gaussian_fit(f_fake.cpu())
        return {"fid": frechet_distance(m1, s1, m2, s2)}


def check_reference(reference: gancore.Statistics, space: Any, path: str | None) -> None:
    """Refuse statistics made in another feature space or with other preprocessing than
    ``space`` describes (a file without that record, pytorch-fid's own, is taken as is)."""
    describe = getattr(space, "describe", None)
    mine = describe() if callable(describe) else {}
    for key in ("features", "resize"):
        theirs = reference.about.get(key)
        if theirs is not None and key in mine and theirs != mine[key]:
            raise ValueError(f"the reference statistics {path} were made with {key} {theirs!r}, "
                             f"this evaluation uses {mine[key]!r}")
