"""The sample grid of schemes that map the data's ``source`` to ``x`` (pix2pix, TP-GAN)."""

from __future__ import annotations

import torch
from torch import Tensor

import gancore


class PairedSampling:
    """``translate`` and ``sample`` for a scheme whose ``generator`` maps the data's
    ``source`` to ``x``: the sample grid shows source | output | target."""

    generator: torch.nn.Module

    @torch.no_grad()
    def translate(self, source: Tensor) -> Tensor:
        """The generator's outputs for source images."""
        return self.generator(source)

    def sample(self, request: gancore.SampleRequest) -> Tensor:
        source, target = request.source("source", "x")
        return gancore.side_by_side(source, self.translate(source), target)
