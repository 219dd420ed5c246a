"""Per-domain batch normalization: one set of BN statistics and affine parameters per domain.

A network built with ``norm = "domain-batch"`` shares every weight of its linear/conv
layers between the domains; only the batch norms after them are kept per domain. Which
domain a network normalises for is switched for the whole network at once with
``set_domain(network, k)`` (or, restoring the previous domain afterwards, ``with
use_domain(network, k): ...``). This is how Twin-GAN turns one shared decoder into a
generator for either domain.

The per-domain parameters are stored stacked (``weight`` and ``bias`` of shape
``domains x C``, likewise the running statistics) and the active row is picked by
indexing. So every parameter receives a gradient in every backward pass (zeros for the
rows of inactive domains), as the network contract expects. With momentum optimizers
(Adam) a row keeps moving by its momentum during steps that do not use its domain; a
scheme that uses every domain in every step (as ``twin-gan`` does) is not affected.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from _gancore_support.domains import PerDomain

from .activation import ActivationNormalization


class DomainBatchNorm(PerDomain):
    """Batch norm with one set of statistics and affine parameters per domain.

    ``domain`` (a plain int, set with ``set_domain``) picks the row used by ``forward``.
    """

    # Buffers, registered in __init__.
    running_mean: Tensor
    running_var: Tensor

    def __init__(
        self, num_features: int, domains: int = 2, *, spatial: bool, eps: float = 1e-5, momentum: float = 0.1
    ) -> None:
        super().__init__()
        if domains < 1:
            raise ValueError(f"domain batch norm needs at least one domain, got {domains}")
        self.num_features, self.domains, self.spatial = num_features, domains, spatial
        self.eps, self.momentum = eps, momentum
        self.domain = 0
        self.weight = nn.Parameter(torch.ones(domains, num_features))
        self.bias = nn.Parameter(torch.zeros(domains, num_features))
        self.register_buffer("running_mean", torch.zeros(domains, num_features))
        self.register_buffer("running_var", torch.ones(domains, num_features))

    def forward(self, x: Tensor) -> Tensor:
        want = 4 if self.spatial else 2
        if x.dim() != want:
            raise ValueError(f"domain batch norm for {'spatial' if self.spatial else 'flat'} features expects "
                             f"{want}-d input, got shape {tuple(x.shape)}")
        k = self.domain
        # Row views share storage with the buffers, so batch_norm's in-place update of the
        # running statistics lands in this domain's row and nowhere else.
        return F.batch_norm(
            x, self.running_mean[k], self.running_var[k], self.weight[k], self.bias[k],
            self.training, self.momentum, self.eps,
        )

    def extra_repr(self) -> str:
        return f"{self.num_features}, domains={self.domains}, spatial={self.spatial}, domain={self.domain}"


class DomainBatchNormalization(ActivationNormalization):
    """Per-domain batch normalization (Twin-GAN): shared layers, one BN per domain, switched with set_domain.

    Args:
        domains: number of domains, each with its own BN statistics and scale/shift
    """

    def __init__(self, domains: Annotated[int, Field(ge=1, le=64)] = 2) -> None:
        self.domains = domains

    def flat(self, num_features: int) -> nn.Module:
        return DomainBatchNorm(num_features, self.domains, spatial=False)

    def spatial(self, num_features: int) -> nn.Module:
        return DomainBatchNorm(num_features, self.domains, spatial=True)
