"""TP-GAN's two-pathway generator (Huang et al. 2017), sized for small images.

The global pathway is an encoder-decoder over the whole image: strided convolutions down
to a quarter of the side, a fully connected bottleneck (the paper's global feature
vector, which lets any pixel of the input reach any pixel of the output: a rotation
moves strokes across the whole image) and an upsampling decoder with skip connections.

Each local pathway is a smaller encoder-decoder of its own (weights not shared, as the
paper's eye, nose and mouth pathways) over one fixed box of the input. Their feature maps
are pasted into full-size maps at their boxes and fused by taking the maximum at each
pixel (the paper's max fusion); the fused map is concatenated with the global decoder's
features and the input, and two convolutions make the output image.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

import gancore
from _gancore_support.encoder_decoder import SkipEncoderDecoder, conv_block
from _gancore_support.images import generator_channels, images_only
from _gancore_support.layers import Init, LayerMaker

from .boxes import PatchLayout, patch_boxes

NormRef = Annotated[str, gancore.Ref("normalization")]
HALVINGS = 2  # both pathways halve twice: 28 -> 14 -> 7 (boxes 16 -> 8 -> 4)


class TwoPathwayGenerator(nn.Module):
    """TP-GAN generator: a global encoder-decoder and local ones on fixed boxes, fused before the last convs.

    Called as ``generator(source_image)``; an image-to-image network with no latent code.
    Input channels follow the data's ``source`` field when it has one, else ``x``;
    output channels follow ``x``.

    Args:
        width: channels of the global pathway at full resolution (doubled at each halving)
        local_width: channels of each local pathway at full resolution (doubled at each halving)
        patches: the local pathways' boxes: quadrants (4 corner boxes), bands (3 horizontal) or none
        bottleneck: size of the global pathway's fully connected bottleneck (0: convolutions only)
        norm: normalization after every inner convolution
        init: dcgan (weights N(0, 0.02)) or PyTorch's default
    """

    supports = staticmethod(images_only)

    def __init__(
        self,
        *,
        spec: gancore.DataSpec,
        build: gancore.Build = gancore.build,
        width: Annotated[int, Field(ge=1, le=4096)] = 32,
        local_width: Annotated[int, Field(ge=1, le=4096)] = 16,
        patches: PatchLayout = "quadrants",
        bottleneck: Annotated[int, Field(ge=0, le=16384)] = 128,
        norm: NormRef = "batch",
        init: Init = "default",
    ) -> None:
        super().__init__()
        c_in, c_out, height, width_px = generator_channels(spec, "the tp generator")
        self.boxes = patch_boxes(patches, height, width_px)
        smallest = min([min(b.height, b.width) for b in self.boxes] + [height, width_px])
        if smallest >> HALVINGS < 2:
            raise ValueError(f"the tp generator halves its inputs {HALVINGS} times; {smallest} pixels is too small")
        self.size = (height, width_px)
        self.num_classes = None
        maker = LayerMaker(norm, init, build=build)
        self.global_path = SkipEncoderDecoder(maker, c_in, width, HALVINGS, self.size, bottleneck=bottleneck)
        self.local_paths = nn.ModuleList(
            SkipEncoderDecoder(maker, c_in, local_width, HALVINGS, (b.height, b.width)) for b in self.boxes
        )
        fused = width + (local_width if self.boxes else 0) + c_in
        self.out = nn.Sequential(
            conv_block(maker, fused, width),
            maker.weighted(nn.Conv2d(width, c_out, 3, 1, 1)),
            nn.Tanh(),
        )

    def local_features(self, x: Tensor) -> Tensor:
        """The local pathways' feature maps pasted at their boxes, fused by a pixelwise max."""
        height, width = self.size
        pasted = []
        for box, path in zip(self.boxes, self.local_paths):
            patch = x[..., box.top : box.top + box.height, box.left : box.left + box.width]
            # ReLU makes features non-negative, so the zeros around a pasted box never win the max.
            pasted.append(F.pad(F.relu(path(patch)), box.pad_to(height, width)))
        return torch.stack(pasted).amax(dim=0)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        parts = [self.global_path(z), z]
        if self.boxes:
            parts.insert(1, self.local_features(z))
        return self.out(torch.cat(parts, dim=1))
