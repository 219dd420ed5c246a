"""How well a learned categorical code matches the data's classes.

The code is learned without labels, so category k has no reason to be class k. The
figure is the agreement under the best one-to-one mapping of categories to classes
(Hungarian assignment on the category x class count table), read from a classifier's
predictions on generated samples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

import gancore

if TYPE_CHECKING:
    from .scheme import InfoGAN


@dataclass(frozen=True)
class CodeAgreement:
    """``accuracy``: share of samples whose class is their category's mapped class."""

    accuracy: float
    mapping: dict[int, int]  # category -> class
    per_category: dict[int, float]  # category -> share of its samples in the mapped class
    counts: Tensor  # categories x classes


def code_agreement(category: Tensor, predicted: Tensor, categories: int, classes: int) -> CodeAgreement:
    """The best one-to-one category -> class agreement of paired (category, class) draws."""
    from scipy.optimize import linear_sum_assignment  # only measuring needs scipy

    if category.shape != predicted.shape or category.dim() != 1:
        raise ValueError(f"category {tuple(category.shape)} and predicted {tuple(predicted.shape)} must be equal 1D")
    flat = category.long().cpu() * classes + predicted.long().cpu()
    counts = torch.bincount(flat, minlength=categories * classes).view(categories, classes)
    rows, cols = linear_sum_assignment(counts.numpy(), maximize=True)
    matched = int(counts[rows, cols].sum())
    totals = counts.sum(1)
    mapping = {int(r): int(c) for r, c in zip(rows, cols)}
    per_category = {r: float(counts[r, c]) / max(int(totals[r]), 1) for r, c in mapping.items()}
    return CodeAgreement(matched / max(int(counts.sum()), 1), mapping, per_category, counts)


@torch.no_grad()
def measure_code_agreement(
    scheme: InfoGAN,
    classify: Callable[[Tensor], Tensor],
    *,
    per_category: int = 1000,
    seed: int = 0,
    chunk: int = 500,
) -> CodeAgreement:
    """Generate ``per_category`` samples of each category, classify them, and match.

    ``classify(x) -> N x classes logits`` (the MNIST feature network's ``logits``).
    Put the scheme in eval mode first; for a run's EMA weights, call it inside
    ``with run.averaged() as scheme``.
    """
    k = scheme.layout.categories
    category = torch.arange(k).repeat_interleave(per_category)
    gen = torch.Generator().manual_seed(seed)
    device = next(scheme.parameters()).device
    predicted, classes = [], 0
    for part in category.split(chunk):
        request = gancore.SampleRequest(part.numel(), device, labels=part.to(device), generator=gen)
        logits = classify(scheme.sample(request))
        predicted.append(logits.argmax(1).cpu())
        classes = logits.shape[1]
    return code_agreement(category, torch.cat(predicted), k, classes)
