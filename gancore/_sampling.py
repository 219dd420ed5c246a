"""The classes samples are drawn for, checked against the model's."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ._errors import GancoreError


def requested_labels(scheme: Any, n: int, labels: Tensor | list[int] | int | None) -> Tensor | None:
    """The classes ``n`` samples are drawn for: ``labels`` checked against the model's
    classes, or, without them, the classes a conditional scheme chooses
    (``Scheme.sample_classes``); None for an unconditional model."""
    # A scheme may offer classes to sample that are not data labels (InfoGAN's code).
    classes = getattr(scheme, "num_classes", None) or getattr(scheme, "sample_labels", None)
    if labels is None:
        return scheme.sample_classes(n, classes) if classes else None
    if not classes:
        raise GancoreError("this model is not class-conditional: --label does not apply")
    if not isinstance(labels, Tensor):
        labels = torch.full((n,), labels) if isinstance(labels, int) else torch.tensor(labels)
    if int(labels.min()) < 0 or int(labels.max()) >= classes:
        raise GancoreError(f"label out of range: this model has classes 0..{classes - 1}")
    return labels
