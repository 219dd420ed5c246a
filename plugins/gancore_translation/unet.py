"""The U-Net translator of pix2pix (Isola et al. 2017), sized for small images.

An encoder of strided 4x4 convolutions halves the image ``depth`` times (28 -> 14 -> 7
-> 3); a decoder of transposed convolutions doubles it back, and each decoder level
concatenates the encoder's feature map of the same size (the skip connections that carry
the source's fine detail straight to the output). Odd sizes (7 -> 3 -> 7) are restored
with the transposed convolutions' output padding, worked out from the spec at build time.
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field
from torch import Tensor, nn

import gancore
from gancore import Init, LayerMaker, has_shift

from .channels import Channels, generator_channels

NormRef = Annotated[str, gancore.Ref("normalization")]
MAX_DOUBLINGS = 3  # channels stop growing after width * 8, as in pix2pix
DROPOUT_LEVELS = 3  # dropout sits in the innermost decoder levels only, as in pix2pix


def halvings(size: int, depth: int, what: str) -> list[int]:
    """Feature-map sides [size, size // 2, ...] after each of ``depth`` halvings (>= 2 each)."""
    sides = [size]
    for _ in range(depth):
        sides.append(sides[-1] // 2)
    if sides[-1] < 2:
        raise ValueError(f"{what}: depth {depth} halves a side of {size} below 2 pixels; use a smaller depth")
    return sides


class UNetGenerator(nn.Module):
    """U-Net image translator (pix2pix): strided-conv encoder, transposed-conv decoder, skip connections.

    Called as ``generator(source_image)``: an image-to-image network has no latent code
    (pix2pix's noise is its dropout). Input channels follow the data's ``source`` field
    when it has one, else ``x``; output channels follow ``x``.

    Args:
        width: channels after the first halving (doubled at each further one, up to 8x)
        depth: how many times the encoder halves the image (28 -> 14 -> 7 -> 3 is 3)
        norm: normalization after every inner layer (pix2pix: batch; instance works as well)
        dropout: dropout rate in the innermost decoder levels (pix2pix uses 0.5)
        init: dcgan (weights N(0, 0.02), as in pix2pix) or PyTorch's default
        in_channels: channels of the input images (default: from the data)
        out_channels: channels of the output images (default: those of x)
    """

    @staticmethod
    def supports(spec: gancore.DataSpec) -> bool:
        """Images (C x H x W) only."""
        return spec.is_image

    def __init__(
        self,
        *,
        spec: gancore.DataSpec,
        build: gancore.Build = gancore.build,
        width: Annotated[int, Field(ge=1, le=4096)] = 32,
        depth: Annotated[int, Field(ge=1, le=8)] = 3,
        norm: NormRef = "instance",
        dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0,
        init: Init = "dcgan",
        in_channels: Channels = None,
        out_channels: Channels = None,
    ) -> None:
        super().__init__()
        c_in, c_out, height, width_px = generator_channels(spec, "the unet generator", in_channels, out_channels)
        heights = halvings(height, depth, "the unet generator")
        widths = halvings(width_px, depth, "the unet generator")
        self.in_channels, self.out_channels = c_in, c_out
        self.num_classes = None
        maker = LayerMaker(norm, init, build=build)
        channels = [width * 2 ** min(level, MAX_DOUBLINGS) for level in range(depth)]

        # Encoder level i maps side s_i -> s_{i+1} with channels[i] out.
        self.down = nn.ModuleList([nn.Sequential(maker.weighted(nn.Conv2d(c_in, channels[0], 4, 2, 1)))])
        for level in range(1, depth):
            after = maker.norm_layer(channels[level], spatial=True)
            conv = nn.Conv2d(channels[level - 1], channels[level], 4, 2, 1, bias=not has_shift(after))
            self.down.append(nn.Sequential(nn.LeakyReLU(0.2), maker.weighted(conv), after))

        # Decoder level i maps s_{i+1} -> s_i; all but the innermost also read a skip.
        self.up = nn.ModuleList()
        for level in range(depth - 1, 0, -1):
            c_from = channels[level] * (1 if level == depth - 1 else 2)
            after = maker.norm_layer(channels[level - 1], spatial=True)
            pad = (heights[level] - 2 * heights[level + 1], widths[level] - 2 * widths[level + 1])
            deconv = nn.ConvTranspose2d(c_from, channels[level - 1], 4, 2, 1, output_padding=pad, bias=not has_shift(after))
            layers = [nn.ReLU(), maker.weighted(deconv), after]
            if dropout > 0 and depth - 1 - level < DROPOUT_LEVELS:
                layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))
        c_last = channels[0] * (2 if depth > 1 else 1)
        pad = (heights[0] - 2 * heights[1], widths[0] - 2 * widths[1])
        self.out = nn.Sequential(
            nn.ReLU(), maker.weighted(nn.ConvTranspose2d(c_last, c_out, 4, 2, 1, output_padding=pad)), nn.Tanh()
        )

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        skips = []
        h = z
        for block in self.down:
            h = block(h)
            skips.append(h)
        skips.pop()  # the innermost map is h itself
        for block in self.up:
            h = torch.cat([block(h), skips.pop()], dim=1)
        return self.out(h)
