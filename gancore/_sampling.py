"""What a scheme's ``sample`` is asked for, and the sample tiles translation schemes share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class SampleRequest:
    """``n`` samples on ``device``: ``labels`` (N,) for class-conditional schemes,
    ``batch`` of source data for schemes that translate (``needs_data_to_sample``), and
    the ``generator`` every latent draw must use (so samples repeat with the seed).

    The engine has already put the EMA weights in place, switched the networks to eval
    mode and turned gradients off."""

    n: int
    device: torch.device
    labels: Tensor | None = None
    batch: Mapping[str, Tensor] | None = None
    generator: torch.Generator | None = None

    def latent(self, dim: int) -> Tensor:
        """``n`` standard normal codes of size ``dim``, drawn on the CPU from ``generator``
        (the same samples on every device), then moved to ``device``."""
        return torch.randn(self.n, dim, generator=self.generator).to(self.device)

    def source(self, *fields: str) -> list[Tensor]:
        """The first ``n`` items of each named field of ``batch``, on ``device``."""
        if self.batch is None:
            raise ValueError(f"this scheme samples by translating data: it needs a batch with {', '.join(fields)}")
        return [self.batch[f][: self.n].to(self.device) for f in fields]


def side_by_side(*images: Tensor) -> Tensor:
    """N x C x H x W images -> N x C x H x (k W): one tile per item, so a sample grid keeps
    each source next to its translation. Single-channel images are repeated to match
    colour ones; otherwise the channel counts must agree."""
    channels = max(x.shape[1] for x in images)
    matched = []
    for x in images:
        if x.shape[1] != channels:
            if x.shape[1] != 1:
                raise ValueError(f"cannot place {x.shape[1]}-channel images next to {channels}-channel ones")
            x = x.expand(-1, channels, -1, -1)
        matched.append(x.float())
    return torch.cat(matched, dim=-1)
