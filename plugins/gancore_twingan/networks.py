"""The Twin-GAN generator: one encoder and one decoder shared by every domain.

Every weight of every convolution is shared; each convolution is followed by a
per-domain batch norm (``domain-batch``), so encoding "as domain k" and decoding "into
domain k" differ only in the BN statistics and scale/shift picked for k. The shared
latent is a spatial feature map (2 x width channels at a quarter of the image side):
digits keep their layout through it, and the decoder restyles them.

    encoder: conv 4x4/2 -> conv 4x4/2 -> residual blocks     (each conv + domain BN)
    decoder: residual blocks -> deconv 4x4/2 -> deconv 4x4/2 -> tanh
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from torch import Tensor, nn

import gancore
from _gancore_support.domains import set_domain
from _gancore_support.images import image_shape, images_only

Width = Annotated[int, Field(ge=1, le=16384)]  # a bound no real network reaches, far below an overflow


class ResidualBlock(nn.Module):
    """x + conv-BN-ReLU-conv-BN(x), both convolutions 3x3 at constant size."""

    def __init__(self, channels: int, norm: gancore.Normalization) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), norm.layer(channels, spatial=True), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), norm.layer(channels, spatial=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class TwinGenerator(nn.Module):
    """Twin-GAN generator: shared encoder and decoder whose domain is switched by per-domain batch norms.

    ``encode(x, domain)`` maps images of a domain to the shared latent, ``decode(h,
    domain)`` renders a latent in a domain, and ``translate(x, source, target)`` does
    both. ``forward(x)`` translates from ``source_domain`` to ``target_domain`` (0 -> 1
    unless set otherwise). It has no ``latent_dim``: it maps images to images.

    Args:
        width: channels after the first convolution (the latent has twice as many)
        blocks: residual blocks at the latent resolution, in the encoder and again in the decoder
        domains: number of domains (each has its own batch norms)
        output_norm: a domain batch norm on the output layer too (each domain sets its own output level and sign)
    """

    supports = staticmethod(images_only)

    def __init__(
        self,
        *,
        spec: gancore.DataSpec,
        build: gancore.Build = gancore.build,
        width: Width = 32,
        blocks: Annotated[int, Field(ge=0, le=8)] = 1,
        domains: Annotated[int, Field(ge=2, le=16)] = 2,
        output_norm: bool = False,
    ) -> None:
        super().__init__()
        channels, height, width_px = image_shape(spec, "the twin generator")
        if height % 4 or width_px % 4 or min(height, width_px) < 8:
            raise ValueError(f"the twin generator halves the image twice: its sides must be multiples of 4, "
                             f"got {height}x{width_px}")
        self.num_classes = None
        self.domains = domains
        self.source_domain, self.target_domain = 0, 1
        # Per-domain batch norm from the registry building this network (the norms
        # plugin's "domain-batch", unless that registry has another).
        norm = build("normalization", "domain-batch", {"domains": domains})
        latent = 2 * width

        def down(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), norm.layer(c_out, spatial=True), nn.LeakyReLU(0.2)]

        def up(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), norm.layer(c_out, spatial=True), nn.ReLU()]

        # The first layer is normalised too: its per-domain BN is what lets a shared
        # convolution read domains of different intensity or polarity alike.
        self.encoder = nn.Sequential(
            *down(channels, width), *down(width, latent), *(ResidualBlock(latent, norm) for _ in range(blocks))
        )
        # By default the output layer is shared outright (a norm there would pin the images'
        # mean and scale). ``output_norm`` gives each domain its own scale and shift of the
        # output, which can flip polarity with a negative scale; but that scale has to grow
        # to about 3 for the tanh to reach the background's -1, one small Adam step at a time.
        output: list[nn.Module] = [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=not output_norm)]
        if output_norm:
            output.append(norm.layer(channels, spatial=True))
        self.decoder = nn.Sequential(
            *(ResidualBlock(latent, norm) for _ in range(blocks)), *up(latent, width), *output, nn.Tanh()
        )

    def encode(self, x: Tensor, domain: int) -> Tensor:
        """Images of ``domain`` -> the shared latent (N x 2 width x H/4 x W/4)."""
        set_domain(self.encoder, domain)
        return self.encoder(x)

    def decode(self, h: Tensor, domain: int) -> Tensor:
        """A shared latent -> images of ``domain`` in [-1, 1]."""
        set_domain(self.decoder, domain)
        return self.decoder(h)

    def translate(self, x: Tensor, source: int, target: int) -> Tensor:
        return self.decode(self.encode(x, source), target)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.translate(x, self.source_domain, self.target_domain)
