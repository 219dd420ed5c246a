"""Classifier score: the Inception-score analogue with a domain classifier (MNIST by default)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, ClassVar

import torch
from pydantic import Field
from torch import Tensor

import gancore

from .common import MnistImagesByDefault, feature_space, samples


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
        features: Annotated[str, gancore.Ref("features")] = "mnist",
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
        logits = self.space.logits(samples(fake, "generated", minimum=1))
        out = classifier_stats(torch.log_softmax(logits.double(), dim=1), self.min_share)
        if "label" in fake:
            # Conditional samples: does the classifier see the class that was asked for?
            asked = fake["label"].to(logits.device)
            out["label_accuracy"] = float((logits.argmax(1) == asked).double().mean())
        return out
