"""Scores from a classifier's view of the generated samples alone: the Inception Score
(Salimans et al. 2016) and its analogue with a domain classifier (MNIST by default)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

import torch
from pydantic import Field
from torch import Tensor

import gancore

from .common import MnistImagesByDefault, embedded, feature_space, mnist_sized, samples


def classifier_stats(log_probs: Tensor, min_share: float) -> dict[str, float]:
    """Score, class coverage and class entropy from N x K log class probabilities."""
    log_p = log_probs.double()
    n, k = log_p.shape
    # log of the marginal p(y) = mean_i p(y | x_i), computed stably in log space.
    log_marginal = torch.logsumexp(log_p, dim=0) - math.log(n)
    kl = (log_p.exp() * (log_p - log_marginal)).sum(1)
    share = torch.bincount(log_p.argmax(1), minlength=k).double() / n
    nonzero = share[share > 0]
    return {
        "classifier_score": float(kl.mean().exp()),
        # A class counts as produced when it takes at least ``min_share`` of its fair share 1/K.
        "class_coverage": float((share >= min_share / k).double().mean()),
        "class_entropy": float(-(nonzero * nonzero.log()).sum()),
    }


class ClassifierScore(MnistImagesByDefault):
    """Classifier score exp(E KL(p(y|x) || p(y))), class coverage and entropy, label accuracy."""

    higher_is_better: ClassVar[dict[str, bool]] = {
        "classifier_score": True,
        "class_coverage": True,
        "class_entropy": True,
        "label_accuracy": True,
    }

    def __init__(
        self,
        features: Annotated[str | dict[str, Any], gancore.Ref("features")] = "mnist",
        min_share: Annotated[float, Field(gt=0, le=1)] = 0.1,
        *,
        build: gancore.Build = gancore.build,
    ) -> None:
        """
        Args:
            features: feature space with a classifier (``logits``) over the data's classes
            min_share: fraction of the uniform share 1/K a class needs among the predictions to count as covered
        """
        self.space, self.min_share = feature_space(features, build), min_share

    def compute(self, real: Mapping[str, Tensor], fake: Mapping[str, Tensor]) -> dict[str, float]:
        """Scores the generated samples only; ``real`` is not used."""
        x = samples(fake, "generated", minimum=1)
        logits = embedded(self.space.for_samples(x), x, with_logits=True)["logits"]
        out = classifier_stats(torch.log_softmax(logits.double(), dim=1), self.min_share)
        if "label" in fake:
            # Conditional samples: does the classifier see the class that was asked for?
            asked = fake["label"].to(logits.device)
            out["label_accuracy"] = float((logits.argmax(1) == asked).double().mean())
        return out


def inception_score(log_probs: Tensor, splits: int) -> tuple[float, float]:
    """Mean and standard deviation over ``splits`` consecutive parts of the samples of
    exp(E_x KL(p(y|x) || p(y))), p(y) being each part's own marginal: the published
    definition, in float64."""
    n = log_probs.shape[0]
    if n < splits:
        raise ValueError(f"the Inception Score in {splits} splits needs at least {splits} samples, got {n}")
    scores = []
    for part in log_probs.double().tensor_split(splits):
        log_marginal = torch.logsumexp(part, dim=0) - math.log(part.shape[0])
        kl = (part.exp() * (part - log_marginal)).sum(1)
        scores.append(kl.mean().exp())
    values = torch.stack(scores)
    return float(values.mean()), float(values.std(unbiased=False)) if splits > 1 else 0.0


class InceptionScore(gancore.Metric):
    """Inception Score exp(E KL(p(y|x) || p(y))) from Inception-v3's 1008 logits, in splits."""

    # The spread over the splits says how precise the score is, not how good the samples are.
    higher_is_better: ClassVar[dict[str, bool]] = {"inception_score": True}

    def __init__(
        self,
        features: Annotated[str | dict[str, Any], gancore.Ref("features")] = "inception",
        splits: Annotated[int, Field(ge=1, le=1000)] = 10,
        *,
        build: gancore.Build = gancore.build,
    ) -> None:
        """
        Args:
            features: feature space with a classifier (``logits``); the score is defined with inception's
            splits: parts the samples are scored in (the mean and spread over them are reported; 10 as published)
        """
        self.space, self.splits = feature_space(features, build), splits

    @classmethod
    def applies_to(cls, spec: gancore.DataSpec) -> bool:
        """Runs by default on images the MNIST network does not read (there the classifier score applies)."""
        return spec.is_image and not mnist_sized(spec)

    def compute(self, real: Mapping[str, Tensor], fake: Mapping[str, Tensor]) -> dict[str, float]:
        """Scores the generated samples only; ``real`` is not used."""
        x = samples(fake, "generated", minimum=self.splits)
        logits = embedded(self.space.for_samples(x), x, with_logits=True)["logits"]
        mean, std = inception_score(torch.log_softmax(logits.double(), dim=1), self.splits)
        return {"inception_score": mean, "inception_score_std": std}
