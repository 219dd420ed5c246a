"""A small U-Net of strided convolutions and nearest upsampling, for the image-to-image
networks that read their input at several scales (TP-GAN's pathways, Recycle-GAN's
frame predictor)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import LayerMaker


def conv_block(maker: LayerMaker, c_from: int, c_to: int, *, stride: int = 1) -> nn.Sequential:
    """Conv (4x4 when halving, else 3x3), norm, LeakyReLU."""
    kernel = 4 if stride == 2 else 3
    return nn.Sequential(*maker.normed(nn.Conv2d, c_from, c_to, kernel, stride, 1), nn.LeakyReLU(0.2))


class SkipEncoderDecoder(nn.Module):
    """A stem, ``depth`` halvings, an optional fully connected bottleneck, and back up with
    skip connections; maps inputs of ``size`` (H, W) to features of ``width`` channels at
    the same size.

    Channels double at each halving. Each decoder level reads the coarser map, upsampled
    to the exact size of the encoder's map of its level (which also restores odd sides:
    7 -> 3 -> 7), next to that map. A ``bottleneck`` > 0 passes the
    flattened smallest map through that many units and back: any pixel of the input can
    then reach any pixel of the output.
    """

    def __init__(
        self, maker: LayerMaker, c_in: int, width: int, depth: int, size: tuple[int, int], *, bottleneck: int = 0
    ) -> None:
        super().__init__()
        widths = [width * 2**level for level in range(depth + 1)]
        self.stem = conv_block(maker, c_in, widths[0])
        self.down = nn.ModuleList(conv_block(maker, widths[i], widths[i + 1], stride=2) for i in range(depth))
        self.bottleneck: nn.Module | None = None
        if bottleneck > 0:
            h, w = size
            for _ in range(depth):
                h, w = h // 2, w // 2
            flat = widths[-1] * h * w
            self.bottleneck = nn.Sequential(
                nn.Flatten(),
                maker.weighted(nn.Linear(flat, bottleneck)),
                nn.LeakyReLU(0.2),
                maker.weighted(nn.Linear(bottleneck, flat)),
                nn.LeakyReLU(0.2),
                nn.Unflatten(1, (widths[-1], h, w)),
            )
        self.up = nn.ModuleList(conv_block(maker, widths[i + 1] + widths[i], widths[i]) for i in reversed(range(depth)))

    def forward(self, x: Tensor) -> Tensor:
        h = self.stem(x)
        skips = []
        for block in self.down:
            skips.append(h)
            h = block(h)
        if self.bottleneck is not None:
            h = self.bottleneck(h)
        for block in self.up:
            skip = skips.pop()
            h = block(torch.cat([F.interpolate(h, size=skip.shape[-2:], mode="nearest"), skip], dim=1))
        return h
