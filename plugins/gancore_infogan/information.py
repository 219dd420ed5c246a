"""The variational mutual-information term of InfoGAN (Chen et al. 2016, eq. 4-5).

``I(c; G(z, c)) >= H(c) + E[log Q(c | G(z, c))]``. H(c) is fixed by the prior, so
maximising the bound is minimising the negative log-likelihood of the drawn codes under
Q's prediction from the generated sample:

- categorical code: cross-entropy of Q's logits against the drawn category;
- continuous codes: Gaussian negative log-likelihood with a FIXED unit variance, i.e.
  ``0.5 * (c - mu)^2 + 0.5 * log(2 pi)`` per code, summed over the codes. A fixed
  variance (as the original MNIST experiments used) keeps the term bounded below and
  its gradient from blowing up while Q is still guessing; a learned variance can drive
  the NLL towards minus infinity on an easy code and drown out the categorical term.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .codes import LatentCodes

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


@dataclass(frozen=True)
class QOutput:
    """What the Q head predicts from a sample: category logits and continuous-code means."""

    logits: Tensor | None  # N x categories
    mean: Tensor | None  # N x continuous


@dataclass(frozen=True)
class InformationTerms:
    """The two negative log-likelihoods (batch means) and their weighted sum."""

    categorical: Tensor
    continuous: Tensor
    total: Tensor
    accuracy: Tensor  # how often Q's most likely category is the drawn one (0 without one)


def information_loss(
    q: QOutput, codes: LatentCodes, *, info_weight: float = 1.0, continuous_weight: float = 0.1
) -> InformationTerms:
    """``info_weight * (CE(categorical) + continuous_weight * NLL(continuous))``.

    Minimising it maximises the mutual-information lower bound; InfoGAN adds it to the
    loss of the generator and of the Q head.
    """
    zero = codes.latent.new_zeros(())
    categorical, accuracy = zero, zero
    if codes.category is not None:
        assert q.logits is not None
        categorical = F.cross_entropy(q.logits.float(), codes.category)
        # Logged only: a cheap view of how well Q reads the code (no host sync here).
        accuracy = (q.logits.detach().argmax(1) == codes.category).float().mean()
    continuous = zero
    if codes.continuous is not None:
        assert q.mean is not None
        error = codes.continuous - q.mean.float()
        continuous = (0.5 * error.pow(2) + _HALF_LOG_2PI).sum(1).mean()
    total = info_weight * (categorical + continuous_weight * continuous)
    return InformationTerms(categorical, continuous, total, accuracy)


def split_q_output(raw: Tensor, categories: int, continuous: int) -> QOutput:
    """The Q head's flat output (N x (categories + continuous)) as its two parts."""
    logits, mean = torch.split(raw, [categories, continuous], dim=1)
    return QOutput(logits if categories else None, mean if continuous else None)
