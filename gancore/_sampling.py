"""The classes samples are drawn for, checked against the model's; the codes a request
gave, checked to have been used."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ._errors import GancoreError
from ._parts import SampleRequest


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


def refuse_unused_codes(request: SampleRequest, scheme: str) -> None:
    """After a scheme sampled: an error when the request asked for truncation or gave codes
    and the scheme never took codes from it. Its latents are then not standard normal
    codes (InfoGAN's categorical and uniform codes, a translator's images), which
    truncating per element would not narrow as intended; the option is refused rather
    than silently ignored."""
    if request.drawn or (request.truncation is None and request.latents is None):
        return
    what = "truncation" if request.latents is None else "given latent codes"
    raise GancoreError(f"{what}: scheme {scheme!r} does not sample from standard normal codes of the request "
                       "(SampleRequest.latent), so they do not apply to this run")
