"""Sample tiles for translation schemes: several images of one item placed side by side."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn


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


class PairedSampling:
    """``translate`` and ``sample`` for a scheme whose generator maps ``source`` to ``x``
    (pix2pix, TP-GAN): the sample grid shows each source | output | target."""

    @torch.no_grad()
    def translate(self, source: Tensor, networks: Mapping[str, nn.Module] | None = None) -> Tensor:
        """The generator's outputs for source images (the EMA copy when ``networks`` has one)."""
        return self.network("generator", networks)(source)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        networks: Mapping[str, nn.Module] | None = None,
        labels: Tensor | None = None,
        batch: Mapping[str, Tensor] | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``n`` images, each source | output | target side by side."""
        if batch is None:
            raise ValueError(f"{type(self).__name__} samples by translating data: pass batch (a dict with source and x)")
        device = next(self.generator.parameters()).device
        source, target = batch["source"][:n].to(device), batch["x"][:n].to(device)
        return side_by_side(source, self.translate(source, networks), target)
