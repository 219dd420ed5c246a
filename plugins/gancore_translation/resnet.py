"""The residual translator of CycleGAN (Zhu et al. 2017, after Johnson et al. 2016).

A 7x7 stem, two stride-2 downsamplings, ``blocks`` residual blocks at a quarter of the
resolution, two transposed-convolution upsamplings and a 7x7 output layer with tanh.
Reflection padding around the wide convolutions keeps borders free of the dark frame zero
padding leaves. Odd sides (7 -> 4 -> 7) come back exactly: each upsampling's output padding
is worked out from the spec at build time.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field
from torch import Tensor, nn

import gancore
from _gancore_support.images import Channels, generator_channels, images_only
from _gancore_support.layers import Init, LayerMaker

NormRef = Annotated[str, gancore.Ref("normalization")]
DOWNSAMPLINGS = 2


class ResidualBlock(nn.Module):
    """x + conv-norm-relu-conv-norm(x), with reflection padding."""

    def __init__(self, channels: int, maker: LayerMaker) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(2):
            layers += [nn.ReflectionPad2d(1), *maker.normed(nn.Conv2d, channels, channels, 3)]
            if i == 0:
                layers.append(nn.ReLU())
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """CycleGAN's residual translator: 7x7 stem, 2 downsamplings, residual blocks, 2 upsamplings, tanh.

    Called as ``generator(image)``; it has no latent code. Input channels follow the
    data's ``source`` field when it has one, else ``x``; output channels follow ``x``.

    Args:
        width: channels of the stem (doubled at each downsampling)
        blocks: residual blocks at the lowest resolution (CycleGAN: 6 at 128px, 9 at 256px)
        norm: normalization after every inner layer (CycleGAN: instance)
        init: dcgan (weights N(0, 0.02), as in CycleGAN) or PyTorch's default
        in_channels: channels of the input images (default: from the data)
        out_channels: channels of the output images (default: those of x)
    """

    supports = staticmethod(images_only)

    def __init__(
        self,
        *,
        spec: gancore.DataSpec,
        build: gancore.Build = gancore.build,
        width: Annotated[int, Field(ge=1, le=4096)] = 32,
        blocks: Annotated[int, Field(ge=0, le=64)] = 6,
        norm: NormRef = "instance",
        init: Init = "dcgan",
        in_channels: Channels = None,
        out_channels: Channels = None,
    ) -> None:
        super().__init__()
        c_in, c_out, height, width_px = generator_channels(spec, "the resnet generator", in_channels, out_channels)
        sides = [(height, width_px)]
        for _ in range(DOWNSAMPLINGS):
            h, w = sides[-1]
            sides.append(((h + 1) // 2, (w + 1) // 2))  # a 3x3, stride-2, padding-1 conv rounds up
        if min(height, width_px) < 4 or min(sides[-1]) < 2:
            raise ValueError(f"the resnet generator needs images of at least 5x5, got {height}x{width_px}")
        self.in_channels, self.out_channels = c_in, c_out
        self.num_classes = None
        maker = LayerMaker(norm, init, build=build)

        def conv_norm_relu(conv: type[nn.Module], c_from: int, c_to: int, *args: int, **kwargs: Any) -> list[nn.Module]:
            return [*maker.normed(conv, c_from, c_to, *args, **kwargs), nn.ReLU()]

        layers: list[nn.Module] = [nn.ReflectionPad2d(3), *conv_norm_relu(nn.Conv2d, c_in, width, 7)]
        channels = width
        for _ in range(DOWNSAMPLINGS):
            layers += conv_norm_relu(nn.Conv2d, channels, channels * 2, 3, 2, 1)
            channels *= 2
        layers += [ResidualBlock(channels, maker) for _ in range(blocks)]
        for level in range(DOWNSAMPLINGS, 0, -1):
            (h_small, w_small), (h_big, w_big) = sides[level], sides[level - 1]
            pad = (h_big - (2 * h_small - 1), w_big - (2 * w_small - 1))
            layers += conv_norm_relu(nn.ConvTranspose2d, channels, channels // 2, 3, 2, 1, output_padding=pad)
            channels //= 2
        layers += [nn.ReflectionPad2d(3), maker.weighted(nn.Conv2d(channels, c_out, 7)), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.net(z)
