"""Recycle-GAN's temporal predictor P: the next frame from the frames before it.

The last ``context`` frames are stacked along the channels and run through a small U-Net
(strided-conv encoder, upsample-and-conv decoder, skip connections). The skips carry the
frames' fine detail to the output, so the network mostly has to learn where to move it:
with two frames of context the displacement between them is the velocity to extrapolate.
The output is the frame itself (tanh, in [-1, 1]), not a difference to the last frame,
so a predictor that learned nothing is not accidentally as good as copying.
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field
from torch import Tensor, nn

import gancore
from _gancore_support.encoder_decoder import SkipEncoderDecoder
from _gancore_support.layers import Init, LayerMaker

from .per_frame import frames_or_sequences

NormRef = Annotated[str, gancore.Ref("normalization")]


def frame_shape(spec: gancore.DataSpec, what: str) -> tuple[int, int, int]:
    """(C, H, W) of one frame: the data's samples are frames (C x H x W) or sequences
    of them (T x C x H x W)."""
    if len(spec.shape) not in (3, 4):
        raise ValueError(f"{what} needs images or image sequences, got samples of shape {spec.shape}")
    c, h, w = spec.shape[-3:]
    return c, h, w


def context_frames(frames: Tensor, context: int) -> Tensor:
    """The last ``context`` frames of sequences (N, T, C, H, W) stacked along the channels
    (N, context * C, H, W). Shorter histories repeat their first frame: a sequence seen for
    one frame only is read as standing still. A 4-D input is one frame per item."""
    if frames.dim() == 4:
        frames = frames.unsqueeze(1)
    if frames.dim() != 5:
        raise ValueError(f"expected frames N x T x C x H x W (or N x C x H x W), got shape {tuple(frames.shape)}")
    missing = context - frames.shape[1]
    if missing > 0:
        frames = torch.cat([frames[:, :1].expand(-1, missing, -1, -1, -1), frames], dim=1)
    return frames[:, -context:].flatten(1, 2)


class FramePredictor(SkipEncoderDecoder):
    """Temporal predictor (Recycle-GAN): the next frame from the last `context` frames, a small U-Net.

    Called as ``predictor(frames)`` with frames N x T x C x H x W (T >= 1; the last
    ``context`` are used) or one frame N x C x H x W; returns the next frame, N x C x H x W.

    Args:
        context: how many past frames the prediction reads
        width: channels at full resolution (doubled at each halving)
        depth: halvings of the image in the encoder (28 -> 14 -> 7 is 2)
        norm: normalization after every inner convolution
        init: dcgan (weights N(0, 0.02)) or PyTorch's default
    """

    supports = staticmethod(frames_or_sequences)

    def __init__(
        self,
        *,
        spec: gancore.DataSpec,
        build: gancore.Build = gancore.build,
        context: Annotated[int, Field(ge=1, le=8)] = 2,
        width: Annotated[int, Field(ge=1, le=4096)] = 32,
        depth: Annotated[int, Field(ge=1, le=4)] = 2,
        norm: NormRef = "none",
        init: Init = "default",
    ) -> None:
        c, h, w = frame_shape(spec, "the frame-predictor")
        if min(h, w) >> depth < 2:
            raise ValueError(f"the frame-predictor's {depth} halvings leave less than 2 pixels of a {h}x{w} frame")
        maker = LayerMaker(norm, init, build=build)
        super().__init__(maker, context * c, width, depth, (h, w))
        self.context, self.channels = context, c
        self.num_classes = None
        self.out = nn.Sequential(maker.weighted(nn.Conv2d(width, c, 3, 1, 1)), nn.Tanh())

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.out(super().forward(context_frames(z, self.context)))
