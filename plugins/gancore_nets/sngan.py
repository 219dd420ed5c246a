"""ResNet generator and critic in the style of SN-GAN (Miyato et al. 2018) and BigGAN
(Brock et al. 2019), with optional self-attention (SAGAN, Zhang et al. 2019).

Square images of side 32 or 64, any number of channels. The generator projects z to a
4x4 map and doubles it with residual up-blocks; the critic halves the image with residual
down-blocks to 4x4, then sums its ReLU features over the positions into a linear score.
Every block up to 32x32 has ``width`` channels (as SN-GAN's and BigGAN's CIFAR models
keep a constant width); the blocks at 64x64 have half as many, to keep their cost down.

Normalization is swappable by name as in the other networks: activation norms (batch,
layer, ...) are placed before each 3x3 convolution of a residual branch (pre-activation
order, norm -> ReLU -> conv), weight reparametrisations (spectral, weight) wrap every
weighted layer, shortcuts and attention included. The critic's input convolution gets no
activation norm: it would normalise away the data's own statistics.

A class-conditional generator replaces the batch norms of its residual blocks by
conditional batch norm (one gain and bias per class, de Vries et al. 2017, as SN-GAN's
conditional generator does); it therefore needs ``norm = "batch"`` and refuses any other
normalization when built. Its output block keeps a plain batch norm, as in SN-GAN.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

import gancore
from _gancore_support.images import image_shape
from _gancore_support.layers import Init, LayerMaker, has_shift

from .conditioning import critic_classes, critic_scores, need_classes, require_labels, score_heads
from .dcgan import NormRef, Width
from .packing import pack_samples

SIDES = (32, 64)
BASE = 4  # side of the generator's first map and the critic's last one

Resolution = Annotated[int, Field(ge=0, le=4096)]  # a feature-map side, or 0 for none
SNGANConditioning = Literal["none", "projection"]


def sngan_side(spec: gancore.DataSpec, what: str) -> int:
    """The image side of a spec the sngan networks build for, or a ValueError."""
    _, height, width = image_shape(spec, what)
    if height != width or height not in SIDES:
        raise ValueError(f"{what} supports square images of side {' or '.join(map(str, SIDES))}, "
                         f"got {height}x{width}")
    return height


def sngan_sized(spec: gancore.DataSpec) -> bool:
    """Whether the data are square images of side 32 or 64."""
    try:
        sngan_side(spec, "")
    except ValueError:
        return False
    return True


def block_channels(width: int, side: int) -> int:
    """Channels of the blocks at a feature-map side: ``width`` up to 32, halved per doubling above."""
    return max(1, width * 32 // max(side, 32))


def check_attention(attention: int, valid: list[int], what: str) -> None:
    if attention and attention not in valid:
        raise ValueError(f"{what} cannot insert self-attention at {attention}x{attention}: attention must be "
                         f"0 (none) or one of {', '.join(map(str, valid))} (the sides of its blocks' outputs), "
                         f"got {attention}")


def _upsample(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm without its own affine, then a per-class gain and bias (both learned
    embeddings, gains starting at 1 and biases at 0)."""

    def __init__(self, num_features: int, num_classes: int, *, eps: float = 1e-5, momentum: float | None = 0.1) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(num_features, affine=False, eps=eps, momentum=momentum)
        self.gain = nn.Embedding(num_classes, num_features)
        self.bias = nn.Embedding(num_classes, num_features)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        return self.bn(x) * self.gain(labels)[:, :, None, None] + self.bias(labels)[:, :, None, None]


class SelfAttention(nn.Module):
    """Self-attention over the positions of a feature map (SAGAN): x + gamma * attention(x).

    Queries and keys have C/8 channels, values C/2 (as in BigGAN), each a 1x1 convolution;
    a last 1x1 convolution maps the attended values back to C channels. ``gamma`` starts at
    0, so the block begins as the identity and the network learns how much to attend.
    """

    def __init__(self, channels: int, maker: LayerMaker) -> None:
        super().__init__()
        inner, values = max(1, channels // 8), max(1, channels // 2)
        self.query = maker.weighted(nn.Conv2d(channels, inner, 1, bias=False))
        self.key = maker.weighted(nn.Conv2d(channels, inner, 1, bias=False))
        self.value = maker.weighted(nn.Conv2d(channels, values, 1, bias=False))
        self.out = maker.weighted(nn.Conv2d(values, channels, 1, bias=False))
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        n, _, height, width = x.shape
        q = self.query(x).flatten(2)  # (N, C/8, P)
        k = self.key(x).flatten(2)
        v = self.value(x).flatten(2)  # (N, C/2, P)
        weights = torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # (N, P queries, P keys)
        attended = (v @ weights.transpose(1, 2)).view(n, -1, height, width)
        return x + self.gamma * self.out(attended)


class UpBlock(nn.Module):
    """norm -> ReLU -> upsample x2 -> conv3x3 -> norm -> ReLU -> conv3x3, plus an upsampled
    1x1-conv shortcut. The norms are conditional batch norms when ``num_classes`` is set."""

    def __init__(self, in_channels: int, out_channels: int, maker: LayerMaker, num_classes: int | None) -> None:
        super().__init__()
        self.conditional = num_classes is not None
        self.norm1 = self._norm(in_channels, maker, num_classes)
        self.norm2 = self._norm(out_channels, maker, num_classes)
        self.conv1 = maker.weighted(nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=not has_shift(self.norm2)))
        self.conv2 = maker.weighted(nn.Conv2d(out_channels, out_channels, 3, 1, 1))
        # A 1x1 convolution commutes with nearest upsampling: applied first, it costs a quarter.
        self.shortcut = maker.weighted(nn.Conv2d(in_channels, out_channels, 1))

    @staticmethod
    def _norm(channels: int, maker: LayerMaker, num_classes: int | None) -> nn.Module:
        plain = maker.norm_layer(channels, spatial=True)
        if num_classes is None:
            return plain
        assert isinstance(plain, nn.modules.batchnorm._BatchNorm)  # a conditional generator refuses other norms
        return ConditionalBatchNorm2d(channels, num_classes, eps=plain.eps, momentum=plain.momentum)

    def _normed(self, norm: nn.Module, x: Tensor, labels: Tensor | None) -> Tensor:
        return norm(x, labels) if self.conditional else norm(x)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        h = self.conv1(_upsample(F.relu(self._normed(self.norm1, x, labels))))
        h = self.conv2(F.relu(self._normed(self.norm2, h, labels)))
        return h + _upsample(self.shortcut(x))


class DownBlock(nn.Module):
    """ReLU -> conv3x3 -> ReLU -> conv3x3 -> avgpool x2, plus an avgpooled 1x1-conv
    shortcut; activation norms (if any) before each ReLU. The ``first`` block reads the
    image: no ReLU and no norm before its first convolution (SN-GAN's optimized block)."""

    def __init__(self, in_channels: int, out_channels: int, maker: LayerMaker, *, first: bool) -> None:
        super().__init__()
        self.first = first
        self.norm1 = nn.Identity() if first else maker.norm_layer(in_channels, spatial=True)
        self.norm2 = maker.norm_layer(out_channels, spatial=True)
        self.conv1 = maker.weighted(nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=not has_shift(self.norm2)))
        self.conv2 = maker.weighted(nn.Conv2d(out_channels, out_channels, 3, 1, 1))
        # Average pooling and a 1x1 convolution commute: pooling first costs a quarter.
        self.shortcut = maker.weighted(nn.Conv2d(in_channels, out_channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        h = x if self.first else F.relu(self.norm1(x))
        h = self.conv2(F.relu(self.norm2(self.conv1(h))))
        return F.avg_pool2d(h, 2) + self.shortcut(F.avg_pool2d(x, 2))


class SNGANGenerator(nn.Module):
    """ResNet generator (SN-GAN / BigGAN): linear z -> 4x4 map, residual up-blocks, norm-ReLU-conv3x3-tanh.

    Each up-block doubles the side with nearest upsampling (32x32: three blocks, 64x64:
    four). A conditional generator uses conditional batch norm in its blocks and must be
    called with labels; it needs norm = "batch" (any other norm is refused when built).

    Args:
        latent_dim: size of the latent code z
        width: channels of the 4x4 map and of every block up to 32x32 (halved at 64x64)
        norm: normalization before each 3x3 convolution, or wrapping every layer
        conditional: conditional batch norm (per-class gain and bias) in the blocks; needs labelled data and norm batch
        attention: side of the feature map after which a self-attention block is inserted (SAGAN), 0 for none
        init: dcgan (weights N(0, 0.02), norm scales N(1, 0.02)) or PyTorch's default
    """

    supports = staticmethod(sngan_sized)

    def __init__(
        self,
        *,
        spec: gancore.DataSpec,
        build: gancore.Build = gancore.build,
        latent_dim: Width = 128,
        width: Width = 64,
        norm: NormRef = "batch",
        conditional: bool = False,
        attention: Resolution = 0,
        init: Init = "default",
    ) -> None:
        super().__init__()
        side = sngan_side(spec, "the sngan generator")
        sides = [BASE * 2**i for i in range(1, (side // BASE).bit_length())]  # block outputs: 8, ..., side
        check_attention(attention, sides, f"the sngan generator for {side}x{side} images")
        self.latent_dim = latent_dim
        self.num_classes = need_classes(spec.num_classes, "a conditional sngan generator") if conditional else None
        maker = LayerMaker(norm, init, build=build)
        if conditional and not isinstance(maker.norm_layer(1, spatial=True), nn.modules.batchnorm._BatchNorm):
            raise ValueError(f"a conditional sngan generator replaces its batch norms by conditional batch norm, "
                             f"so it needs norm 'batch', got {norm!r} (use conditional = false with this norm)")

        channels = block_channels(width, BASE)
        self.base_channels = channels
        self.project = maker.weighted(nn.Linear(latent_dim, channels * BASE * BASE))
        self.blocks = nn.ModuleList()
        for out_side in sides:
            out_channels = block_channels(width, out_side)
            self.blocks.append(UpBlock(channels, out_channels, maker, self.num_classes))
            if out_side == attention:
                self.blocks.append(SelfAttention(out_channels, maker))
            channels = out_channels
        self.output_norm = maker.norm_layer(channels, spatial=True)
        self.output = maker.weighted(nn.Conv2d(channels, spec.shape[0], 3, 1, 1))

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.num_classes is not None:
            labels = require_labels(labels, "generator")
        else:
            labels = None  # an unconditional generator ignores labels
        h = self.project(z).view(z.shape[0], self.base_channels, BASE, BASE)
        for block in self.blocks:
            h = block(h, labels) if isinstance(block, UpBlock) else block(h)
        return torch.tanh(self.output(F.relu(self.output_norm(h))))


class SNGANCritic(nn.Module):
    """ResNet critic (SN-GAN / BigGAN): residual down-blocks to 4x4, ReLU, sum over positions, linear score.

    Spectral normalization by default, as in SN-GAN; the first block reads the image with
    no ReLU before its first convolution. Scores are raw (no sigmoid).

    Args:
        width: channels of every block up to 32x32 (the block reading a 64x64 image has half)
        norm: normalization wrapping every layer, or before each 3x3 convolution but the first
        conditional: none or projection (Miyato & Koyama 2018); projection needs labelled data
        attention: side of the feature map after which a self-attention block is inserted (SAGAN), 0 for none
        pack: samples per critic input (PacGAN), stacked along channels
        init: dcgan (weights N(0, 0.02), norm scales N(1, 0.02)) or PyTorch's default

    With packing, every sample keeps its own label (see ``conditioning``).
    """

    supports = staticmethod(sngan_sized)

    def __init__(
        self,
        *,
        spec: gancore.DataSpec,
        build: gancore.Build = gancore.build,
        width: Width = 64,
        norm: NormRef = "spectral",
        conditional: SNGANConditioning = "none",
        attention: Resolution = 0,
        pack: Width = 1,
        init: Init = "default",
    ) -> None:
        super().__init__()
        side = sngan_side(spec, "the sngan critic")
        sides = [side // 2**i for i in range(1, (side // BASE).bit_length())]  # block outputs: side/2, ..., 4
        check_attention(attention, sides, f"the sngan critic for {side}x{side} images")
        self.pack = pack
        self.conditioning = conditional
        self.num_classes = critic_classes(spec.num_classes, conditional, "sngan critic")
        maker = LayerMaker(norm, init, build=build)

        channels = pack * spec.shape[0]
        self.blocks = nn.ModuleList()
        for in_side in [side, *sides[:-1]]:
            out_channels = block_channels(width, in_side)
            self.blocks.append(DownBlock(channels, out_channels, maker, first=in_side == side))
            if in_side // 2 == attention:
                self.blocks.append(SelfAttention(out_channels, maker))
            channels = out_channels
        self.psi, self.projection = score_heads(maker.weighted, channels, self.num_classes, conditional)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        h = pack_samples(x, self.pack)
        for block in self.blocks:
            h = block(h)
        h = F.relu(h).sum(dim=(2, 3))  # global sum pooling
        return critic_scores(self.psi, self.projection, h, labels, self.pack)
