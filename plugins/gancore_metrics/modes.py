"""Mode counting: the PacGAN protocol on the 2D mixtures, and Stacked MNIST's 1000 modes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

import torch
from torch import Tensor

import gancore

from .common import histogram_kl_to_uniform, samples
from .features import MnistFeatures

#: A sample is high quality when it lies within this many standard deviations of a mode.
QUALITY_STDS = 3.0


def mixture_mode_stats(points: Tensor, centres: Tensor, std: float) -> dict[str, float]:
    """Modes hit, fraction of high-quality samples and reverse KL of their mode histogram."""
    centres = centres.to(device=points.device, dtype=torch.float32)
    nearest_distance, nearest = torch.cdist(points.float(), centres).min(dim=1)
    good = nearest_distance <= QUALITY_STDS * std
    counts = torch.bincount(nearest[good], minlength=len(centres))
    return {
        "modes": float((counts > 0).sum()),
        "high_quality": float(good.double().mean()),
        "reverse_kl": histogram_kl_to_uniform(counts),
    }


def mixture_modes(name: str, build: gancore.Build) -> tuple[Tensor, float]:
    """The mode centres and default spread of the registered dataset ``name`` (``ring``,
    ``grid``): a mixture dataset gives them itself (``Dataset.modes``, ``mode_std``).
    ``build`` is the metric's, so the dataset is the one its registry has."""
    data = build("dataset", name, {"num_samples": 1})
    if data.modes is None or data.mode_std is None:
        raise ValueError(f"dataset {name!r} is not a mixture with known modes")
    return data.modes, data.mode_std


class MixtureModes(gancore.Metric):
    """Modes covered, high-quality fraction and reverse KL on the ring/grid mixtures (PacGAN protocol)."""

    higher_is_better: ClassVar[dict[str, bool]] = {"modes": True, "high_quality": True, "reverse_kl": False}

    def __init__(
        self, benchmark: Literal["auto", "ring", "grid"] = "auto", *, build: gancore.Build = gancore.build
    ) -> None:
        """
        Args:
            benchmark: the mixture the generator was trained on: ring (8 modes), grid (25 modes), or auto (the one the real samples lie on)
        """
        self.benchmark = benchmark
        self.build = build  # the mixtures' modes are read when the metric is computed

    @classmethod
    def applies_to(cls, spec: gancore.DataSpec) -> bool:
        """Runs by default on 2D points."""
        return spec.shape == (2,)

    def detect(self, real: Tensor) -> str:
        """The mixture on whose modes the real samples lie (not guessed: checked)."""
        shares = {}
        for name in ("ring", "grid"):
            centres, std = mixture_modes(name, self.build)
            near = torch.cdist(real.float(), centres.to(real.device)).min(dim=1).values
            shares[name] = float((near <= QUALITY_STDS * std).double().mean())
        best = max(shares, key=shares.__getitem__)
        if shares[best] < 0.9:
            raise ValueError("the real samples lie on neither the ring nor the grid; set the modes metric's benchmark")
        return best

    def compute(self, real: Mapping[str, Tensor], fake: Mapping[str, Tensor]) -> dict[str, float]:
        """Scores the generated points against the known mode centres; ``real`` only tells
        which mixture when ``benchmark`` is auto.

        ``reverse_kl`` is KL(p || uniform) of the high-quality samples' mode histogram
        (infinite when no sample is of high quality).
        """
        points = samples(fake, "generated", minimum=1)
        if points.dim() != 2 or points.shape[1] != 2:
            raise ValueError(f"the modes metric takes N x 2 points, got shape {tuple(points.shape)}")
        benchmark = self.benchmark if self.benchmark != "auto" else self.detect(samples(real, "real", minimum=1))
        centres, std = mixture_modes(benchmark, self.build)
        return mixture_mode_stats(points, centres, std)


class StackedMnistModes(gancore.Metric):
    """Modes covered (of 1000) and KL to uniform on Stacked MNIST, each channel classified as a digit."""

    higher_is_better: ClassVar[dict[str, bool]] = {"modes": True, "kl": False}

    def __init__(self) -> None:
        self.classifier = MnistFeatures()

    @classmethod
    def applies_to(cls, spec: gancore.DataSpec) -> bool:
        """Runs by default on three-channel 28x28 images (Stacked MNIST)."""
        return spec.shape == (3, 28, 28)

    def stacked_labels(self, x: Tensor) -> Tensor:
        """The mode 100 * d0 + 10 * d1 + d2 of each N x 3 x H x W image."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"stacked-mnist-modes takes N x 3 x H x W images, got shape {tuple(x.shape)}")
        n, _, h, w = x.shape
        digits = self.classifier.logits(x.reshape(n * 3, 1, h, w)).argmax(1).view(n, 3)
        return (digits * torch.tensor([100, 10, 1], device=digits.device)).sum(1)

    def compute(self, real: Mapping[str, Tensor], fake: Mapping[str, Tensor]) -> dict[str, float]:
        """Scores the generated images only; ``real`` is not used."""
        modes = self.stacked_labels(samples(fake, "generated", minimum=1))
        counts = torch.bincount(modes, minlength=1000)
        return {"modes": float((counts > 0).sum()), "kl": histogram_kl_to_uniform(counts)}
