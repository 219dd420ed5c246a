"""The PatchGAN critic of pix2pix and CycleGAN (Isola et al. 2017), scaled to small images.

Instead of one score per image it scores every overlapping patch, so it judges local
texture and sharpness and leaves global structure to the reconstruction terms. With
``layers = 2`` on 28 x 28 images (28 -> 14 -> 7, then two stride-1 convolutions) it gives
a 5 x 5 map of scores, each seeing a 34-pixel window; ``layers = 1`` gives 12 x 12 scores
over 16-pixel windows.

The scores come back as ``(N, P)``, one row per image: the adversarial losses are means,
so they treat every patch as a sample.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from torch import Tensor, nn

import gancore
from _gancore_support.images import Channels, image_shape, images_only, source_channels
from _gancore_support.layers import Init, LayerMaker

NormRef = Annotated[str, gancore.Ref("normalization")]
MAX_DOUBLINGS = 3


def patch_side(side: int, layers: int) -> int:
    """Side of the score map: ``layers`` halvings, then two 4x4 stride-1 convolutions."""
    for _ in range(layers):
        side //= 2
    return side - 2


class PatchGANCritic(nn.Module):
    """PatchGAN critic: strided 4x4 convolutions ending in a map of per-patch scores, shape (N, P).

    With ``paired = true`` it scores (source, image) pairs, concatenated along the
    channels by the scheme (pix2pix's conditional critic).

    Args:
        width: channels of the first layer (doubled at each further one, up to 8x)
        layers: stride-2 convolutions before the two stride-1 ones (more: larger patches)
        norm: normalization after every layer but the first and the last
        paired: read (source, image) pairs: input channels = source channels + image channels
        init: dcgan (weights N(0, 0.02), as in pix2pix) or PyTorch's default
        in_channels: channels of the images it scores (default: those of x)
    """

    supports = staticmethod(images_only)

    def __init__(
        self,
        *,
        spec: gancore.DataSpec,
        build: gancore.Build = gancore.build,
        width: Annotated[int, Field(ge=1, le=4096)] = 32,
        layers: Annotated[int, Field(ge=1, le=6)] = 2,
        norm: NormRef = "instance",
        paired: bool = False,
        init: Init = "dcgan",
        in_channels: Channels = None,
    ) -> None:
        super().__init__()
        c, height, width_px = image_shape(spec, "the patchgan critic")
        if min(patch_side(height, layers), patch_side(width_px, layers)) < 1:
            raise ValueError(f"the patchgan critic with {layers} layers leaves no patch of a {height}x{width_px} image")
        c = in_channels or c
        self.paired = paired
        self.in_channels = c + source_channels(spec) if paired else c
        self.num_classes = None
        self.pack = 1
        maker = LayerMaker(norm, init, build=build)

        def conv_norm(c_from: int, c_to: int, stride: int) -> list[nn.Module]:
            return [*maker.normed(nn.Conv2d, c_from, c_to, 4, stride, 1), nn.LeakyReLU(0.2)]

        body: list[nn.Module] = [maker.weighted(nn.Conv2d(self.in_channels, width, 4, 2, 1)), nn.LeakyReLU(0.2)]
        channels = width
        for level in range(1, layers):
            body += conv_norm(channels, width * 2 ** min(level, MAX_DOUBLINGS), 2)
            channels = width * 2 ** min(level, MAX_DOUBLINGS)
        body += conv_norm(channels, width * 2 ** min(layers, MAX_DOUBLINGS), 1)
        body.append(maker.weighted(nn.Conv2d(width * 2 ** min(layers, MAX_DOUBLINGS), 1, 4, 1, 1)))
        self.net = nn.Sequential(*body)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.net(x).flatten(1)
