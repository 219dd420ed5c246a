"""R3GAN (Huang et al. 2024, "The GAN is dead; long live the GAN! A Modern Baseline GAN"):
a modernised residual generator and critic, meant for the RpGAN loss with R1 and R2.

Both networks are stacks of stages, one per feature-map side. A stage holds ``blocks``
residual blocks in the ResNeXt style: a 1x1 convolution widening the features by
``expansion``, a grouped 3x3 convolution (``cardinality`` groups), a 1x1 convolution back
to the stage's width, with leaky ReLU(0.2) after the first two, the result added to the
block's input. There are no normalization layers (``norm = "none"``): the paper keeps the
network stable by its initialisation alone (fix-up): every weight starts He-scaled for its
fan-in, the first two layers of a branch further multiplied by L^(-1/(2m-2)) (L residual
blocks in the network, m = 3 layers per branch), and the last layer of every branch starts
at zero, so that each block starts as the identity.

Stages are joined by resampling and, where the width changes, a 1x1 convolution (before
upsampling in the generator, after downsampling in the critic, at the smaller side either
way). The default resampling is the paper's low-pass one: the separable binomial filter
[1, 3, 3, 1] / 8 (the [1, 2, 1] filter widened by the factor 2), applied after inserting
zeros to upsample (interpolation) and before dropping every other pixel to downsample
(anti-aliasing). Upsampling by it is bilinear interpolation but for zeros beyond the
borders; downsampling damps what would alias far more than a 2x2 average does.
``resample = "bilinear"`` uses torch's bilinear interpolation instead, whose downsampling
is that 2x2 average.

The generator modulates a learned start-size basis (one map per channel) by a linear map
of z, and ends in a 1x1 convolution to the data's channels: linear, as the paper's, but
clamped to [-1, 1] (gancore's generators keep their samples in the data's range) with the
identity's gradient wherever it leads back into the range, so that pixels past it keep
learning and none runs away (``output = "clamp"``); ``output = "tanh"`` squashes instead, which on MNIST lets a generator saturate
at the all-black background and stop there. The critic starts with a
1x1 convolution from the data's channels, and ends in the paper's discriminative basis: a
depthwise convolution over the whole start-size map, one feature per channel, then a
linear score.

Sizes: square images of side 28 (stages at 7, 14, 28) or 32, 64, 128, 256 (from 4x4, one
stage per doubling); any channel count. ``widths``, ``blocks`` and ``cardinality`` take a
list with one entry per stage, listed from the smallest side up, in the generator and in
the critic alike (so one list gives mirrored networks, as in the paper). ``blocks`` and
``cardinality`` also take an int, the same at every stage; ``widths`` takes an int as the
width at the image's side, doubled at each smaller side (as dcgan's ``width``).

The defaults are sized for a CPU at MNIST size, not like the paper's (its CIFAR-10
networks have 768 channels at every stage, two blocks per stage and 16 channels per
group). On a CPU the cost of a step is the cost of the largest feature maps, so the
channels double as the side halves: ``widths = 8`` gives 32, 16 and 8 channels at 7, 14
and 28, with one block per stage and two groups (cardinality 2). A 28x28 step with R1
then costs about twice the dcgan-mnist networks' step on one core; 64 channels at every
stage would cost about fifteen times as much (docs/networks.md has the measurements).

Conditioning as in the paper: the generator concatenates a learned embedding of the label
to z; the critic adds a projection term, the inner product of its final features with an
embedding of the label (Miyato & Koyama 2018).

Any registered normalization can be asked for by name: activation norms (batch, layer,
...) follow the first two convolutions of every residual branch; weight reparametrisations
(spectral, weight) wrap every weighted layer. A reparametrised weight cannot start at
zero (spectral and weight norm divide by its size), so under those norms the last layer of
each branch starts fix-up scaled like the others, and the blocks are not the identity at
first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

import gancore
from _gancore_support.images import image_shape
from _gancore_support.layers import LayerMaker, has_shift

from .conditioning import LabelEmbedding, critic_classes, critic_scores, need_classes, require_labels, score_heads
from .dcgan import NormRef, Width
from .packing import pack_samples

SIDES = (28, 32, 64, 128, 256)
BRANCH_LAYERS = 3  # m in the fix-up factor: weighted layers per residual branch
SLOPE = 0.2  # of the leaky ReLUs
LEAKY_GAIN = math.sqrt(2 / (1 + SLOPE**2))  # He gain that keeps the variance through a leaky ReLU

PerStage = Width | Annotated[list[Width], Field(min_length=1)]
Blocks = Annotated[int, Field(ge=1, le=64)]
PerStageBlocks = Blocks | Annotated[list[Blocks], Field(min_length=1)]
Resampling = Literal["lowpass", "bilinear"]
R3GANConditioning = Literal["none", "projection"]


# ---------------------------------------------------------------- geometry


def r3gan_sides(spec: gancore.DataSpec, what: str) -> list[int]:
    """The stages' sides, smallest first (28: 7, 14, 28; 32: 4, 8, 16, 32), or a ValueError."""
    _, height, width = image_shape(spec, what)
    if height != width or height not in SIDES:
        raise ValueError(f"{what} supports square images of side {', '.join(map(str, SIDES[:-1]))} or {SIDES[-1]}, "
                         f"got {height}x{width}")
    sides = [7 if height == 28 else 4]
    while sides[-1] < height:
        sides.append(sides[-1] * 2)
    return sides


def r3gan_sized(spec: gancore.DataSpec) -> bool:
    """Whether the data are square images of side 28, 32, 64, 128 or 256."""
    try:
        r3gan_sides(spec, "")
    except ValueError:
        return False
    return True


def per_stage(value: int | list[int], name: str, sides: list[int], what: str) -> list[int]:
    """One value per stage: an int repeated, or a list of exactly one per stage."""
    if isinstance(value, int):
        return [value] * len(sides)
    if len(value) != len(sides):
        side = sides[-1]
        raise ValueError(f"{what} for {side}x{side} images has {len(sides)} stages ({' -> '.join(map(str, sides))}): "
                         f"{name} takes an int or a list of {len(sides)}, one per stage, got {len(value)} ({list(value)})")
    return list(value)


def stage_widths(widths: int | list[int], sides: list[int], what: str) -> list[int]:
    """Channels per stage, smallest side first: a list as given, or an int as the width at
    the image's side, doubled at each smaller side (as dcgan's ``width``)."""
    if isinstance(widths, int):
        return [widths * 2 ** (len(sides) - 1 - i) for i in range(len(sides))]
    return per_stage(widths, "widths", sides, what)


def check_groups(widths: list[int], expansion: int, cardinality: list[int], what: str) -> None:
    for stage, (width, groups) in enumerate(zip(widths, cardinality)):
        if (width * expansion) % groups:
            raise ValueError(f"{what}: cardinality {groups} does not divide the {width * expansion} channels of stage "
                             f"{stage}'s grouped convolution (width {width} x expansion {expansion})")


@dataclass(frozen=True)
class Stages:
    """A network's stages, smallest side first: side, channels, residual blocks, groups."""

    sides: list[int]
    widths: list[int]
    blocks: list[int]
    groups: list[int]


def plan_stages(spec: gancore.DataSpec, what: str, widths: int | list[int], blocks: int | list[int],
                expansion: int, cardinality: int | list[int]) -> Stages:
    """The stages for a data spec, or a ValueError naming what does not fit."""
    sides = r3gan_sides(spec, what)
    plan = Stages(sides, stage_widths(widths, sides, what), per_stage(blocks, "blocks", sides, what),
                  per_stage(cardinality, "cardinality", sides, what))
    check_groups(plan.widths, expansion, plan.groups, what)
    return plan


# ---------------------------------------------------------------- initialisation


def fixup_gain(total_blocks: int) -> float:
    """He gain of the first two layers of a residual branch: the leaky ReLU's gain times
    L^(-1/(2m-2)) for L residual blocks of m layers each."""
    return LEAKY_GAIN * total_blocks ** (-1 / (2 * BRANCH_LAYERS - 2))


def he_init(layer: nn.Conv2d | nn.Linear, gain: float = 1.0) -> nn.Module:
    """Weights N(0, (gain / sqrt(fan-in))^2), biases 0; fan-in counts a grouped convolution's own group."""
    fan_in = layer.weight[0].numel()  # (in / groups) * kernel area for a convolution, in for a linear layer
    nn.init.normal_(layer.weight, 0.0, gain / math.sqrt(fan_in))
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def zero_start(layer: nn.Conv2d, fallback_gain: float, maker: LayerMaker) -> nn.Module:
    """The last layer of a residual branch: zero weights where the norm leaves the weight a
    plain parameter; under a reparametrisation (spectral, weight), a fix-up scaled start."""
    wrapped = maker.weighted(he_init(layer, fallback_gain))
    if isinstance(wrapped.weight, nn.Parameter):
        with torch.no_grad():
            wrapped.weight.zero_()
    return wrapped


# ---------------------------------------------------------------- resampling


def lowpass_taps() -> Tensor:
    """The 1-d filter of the low-pass resampling, [1, 3, 3, 1] / 8 ([1, 2, 1] widened by [1, 1])."""
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
    return taps / taps.sum()


class Resample(nn.Module):
    """Doubles (``up``) or halves the sides of every channel's map alone.

    ``lowpass``: the separable 4x4 binomial filter, after zero insertion to upsample (its
    taps doubled per axis, to keep the mean) or before decimation to downsample; zero
    padding at the borders. ``bilinear``: torch's bilinear interpolation (half-pixel
    centres); halving is then a 2x2 average.
    """

    kernel: Tensor

    def __init__(self, up: bool, mode: Resampling) -> None:
        super().__init__()
        self.up, self.mode = up, mode
        taps = lowpass_taps()
        self.register_buffer("kernel", torch.outer(taps, taps)[None, None] * (4.0 if up else 1.0), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        if self.mode == "bilinear":
            return F.interpolate(x, scale_factor=2.0 if self.up else 0.5, mode="bilinear", align_corners=False)
        channels = x.shape[1]
        kernel = self.kernel.to(x.dtype).expand(channels, 1, 4, 4)
        # A depthwise 4-tap filter with padding 1: up gives 2H exactly, down H / 2; each
        # output pixel is centred between its source pixels (bilinear's alignment).
        if self.up:
            return F.conv_transpose2d(x, kernel, stride=2, padding=1, groups=channels)
        return F.conv2d(x, kernel, stride=2, padding=1, groups=channels)

    def extra_repr(self) -> str:
        return f"{'up' if self.up else 'down'}, {self.mode}"


class Transition(nn.Module):
    """Between stages: resampling, and a 1x1 convolution where the width changes, applied
    at the smaller side (before upsampling, after downsampling)."""

    def __init__(self, in_channels: int, out_channels: int, up: bool, mode: Resampling, maker: LayerMaker) -> None:
        super().__init__()
        self.up = up
        self.resample = Resample(up, mode)
        self.conv = (maker.weighted(he_init(nn.Conv2d(in_channels, out_channels, 1, bias=False)))
                     if in_channels != out_channels else nn.Identity())

    def forward(self, x: Tensor) -> Tensor:
        return self.resample(self.conv(x)) if self.up else self.conv(self.resample(x))


# ---------------------------------------------------------------- blocks


class ResidualBlock(nn.Module):
    """x + reduce(lrelu(norm(grouped(lrelu(norm(expand(x))))))): 1x1 widening by
    ``expansion``, grouped 3x3, 1x1 back; the last layer starts at zero (see ``zero_start``)."""

    def __init__(self, channels: int, expansion: int, cardinality: int, gain: float, maker: LayerMaker) -> None:
        super().__init__()
        inner = channels * expansion
        norm1, norm2 = maker.norm_layer(inner, spatial=True), maker.norm_layer(inner, spatial=True)
        self.expand = maker.weighted(he_init(nn.Conv2d(channels, inner, 1, bias=not has_shift(norm1)), gain))
        self.norm1 = norm1
        self.grouped = maker.weighted(he_init(
            nn.Conv2d(inner, inner, 3, padding=1, groups=cardinality, bias=not has_shift(norm2)), gain))
        self.norm2 = norm2
        self.reduce = zero_start(nn.Conv2d(inner, channels, 1), gain / LEAKY_GAIN, maker)

    def forward(self, x: Tensor) -> Tensor:
        h = F.leaky_relu(self.norm1(self.expand(x)), SLOPE)
        h = F.leaky_relu(self.norm2(self.grouped(h)), SLOPE)
        return x + self.reduce(h)


class GenerativeBasis(nn.Module):
    """The generator's start: a learned map per channel, each scaled by a linear function of the input code."""

    def __init__(self, in_features: int, channels: int, side: int, maker: LayerMaker) -> None:
        super().__init__()
        self.basis = nn.Parameter(torch.randn(channels, side, side))
        self.linear = maker.weighted(he_init(nn.Linear(in_features, channels, bias=False)))

    def forward(self, code: Tensor) -> Tensor:
        return self.basis * self.linear(code)[:, :, None, None]


class DiscriminativeBasis(nn.Module):
    """The critic's end: a depthwise convolution covering the whole start-size map, one feature per channel."""

    def __init__(self, channels: int, side: int, maker: LayerMaker) -> None:
        super().__init__()
        self.conv = maker.weighted(he_init(nn.Conv2d(channels, channels, side, groups=channels, bias=False)))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x).flatten(1)


def stage_blocks(width: int, count: int, expansion: int, cardinality: int, gain: float, maker: LayerMaker) -> list[nn.Module]:
    return [ResidualBlock(width, expansion, cardinality, gain, maker) for _ in range(count)]


# ---------------------------------------------------------------- networks


class InwardClamp(torch.autograd.Function):
    """Clamps to [-1, 1]; its gradient is the identity's inside the range and, outside it,
    only where a descent step moves the value back towards the range.

    A plain straight-through clamp passes every gradient, and on MNIST the critic asks for
    ever darker background pixels: they ran off to -1e9 within 1,000 steps, the activations
    before them with them, and the generator collapsed. Under tanh the same pixels saturate
    and stop learning. Values are exactly the clamp's (``y + (clamp(y) - y).detach()``
    rounds to garbage once ``|y|`` is large)."""

    @staticmethod
    def forward(ctx: Any, y: Tensor) -> Tensor:
        ctx.save_for_backward(y)
        return y.clamp(-1.0, 1.0)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        # Descent moves y by -grad: below -1 only a negative gradient raises it, above 1
        # only a positive one lowers it.
        outward = ((y < -1.0) & (grad > 0)) | ((y > 1.0) & (grad < 0))
        return grad.masked_fill(outward, 0.0)


class R3GANGenerator(nn.Module):
    """R3GAN generator: a start-size basis modulated by z, residual stages doubling the side, a 1x1 conv out.

    Args:
        latent_dim: size of the latent code z
        widths: channels per stage from the smallest side up, or an int: the width at the image's side, doubled at each smaller side
        blocks: residual blocks of every stage (an int), or one per stage from the smallest side up
        expansion: factor by which a residual branch widens its features
        cardinality: groups of the 3x3 convolution of every stage (an int), or one per stage
        resample: lowpass (the paper's [1, 3, 3, 1] filter) or bilinear
        norm: normalization in the residual branches (none in the paper), or wrapping every layer
        conditional: concatenate a label embedding to z; needs labelled data
        embed_dim: size of the label embedding
        output: clamp (the paper's linear output, clamped to [-1, 1] with the identity's gradient) or tanh
    """

    supports = staticmethod(r3gan_sized)

    def __init__(
        self,
        *,
        spec: gancore.DataSpec,
        build: gancore.Build = gancore.build,
        latent_dim: Width = 64,
        widths: PerStage = 8,
        blocks: PerStageBlocks = 1,
        expansion: Width = 2,
        cardinality: PerStage = 2,
        resample: Resampling = "lowpass",
        norm: NormRef = "none",
        conditional: bool = False,
        embed_dim: Width = 64,
        output: Literal["clamp", "tanh"] = "clamp",
    ) -> None:
        super().__init__()
        self.squash = output
        plan = plan_stages(spec, "the r3gan generator", widths, blocks, expansion, cardinality)
        self.latent_dim = latent_dim
        self.num_classes = need_classes(spec.num_classes, "a conditional r3gan generator") if conditional else None
        self.embed = None
        if self.num_classes is not None:
            self.embed = LabelEmbedding(self.num_classes, embed_dim)
            # The paper's embedding is a linear map of the one-hot label, He-initialised.
            nn.init.normal_(self.embed.embed.weight, 0.0, 1 / math.sqrt(self.num_classes))
        maker = LayerMaker(norm, build=build)
        gain = fixup_gain(sum(plan.blocks))

        width = plan.widths
        self.basis = GenerativeBasis(latent_dim + (embed_dim if conditional else 0), width[0], plan.sides[0], maker)
        stages: list[nn.Module] = []
        for i in range(len(plan.sides)):
            layers: list[nn.Module] = [Transition(width[i - 1], width[i], True, resample, maker)] if i else []
            layers += stage_blocks(width[i], plan.blocks[i], expansion, plan.groups[i], gain, maker)
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.output = maker.weighted(he_init(nn.Conv2d(width[-1], spec.shape[0], 1)))

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        code = z if self.embed is None else self.embed.concat(z, require_labels(labels, "generator"))
        y = self.output(self.stages(self.basis(code)))
        if self.squash == "tanh":
            return torch.tanh(y)
        # Samples stay in the data's range; a pixel past it still learns to come back, as
        # the paper's linear output would, but is never pushed further out (see InwardClamp).
        return InwardClamp.apply(y)


class R3GANCritic(nn.Module):
    """R3GAN critic: 1x1 conv from the image, residual stages halving the side, the discriminative basis, a linear score.

    Scores are raw (no sigmoid).

    Args:
        widths: channels per stage from the smallest side up, or an int: the width at the image's side, doubled at each smaller side
        blocks: residual blocks of every stage (an int), or one per stage from the smallest side up
        expansion: factor by which a residual branch widens its features
        cardinality: groups of the 3x3 convolution of every stage (an int), or one per stage
        resample: lowpass (the paper's [1, 3, 3, 1] filter) or bilinear
        norm: normalization in the residual branches (none in the paper), or wrapping every layer
        conditional: none or projection (Miyato & Koyama 2018); projection needs labelled data
        pack: samples per critic input (PacGAN), stacked along channels

    With packing, every sample keeps its own label (see ``conditioning``).
    """

    supports = staticmethod(r3gan_sized)

    def __init__(
        self,
        *,
        spec: gancore.DataSpec,
        build: gancore.Build = gancore.build,
        widths: PerStage = 8,
        blocks: PerStageBlocks = 1,
        expansion: Width = 2,
        cardinality: PerStage = 2,
        resample: Resampling = "lowpass",
        norm: NormRef = "none",
        conditional: R3GANConditioning = "none",
        pack: Width = 1,
    ) -> None:
        super().__init__()
        plan = plan_stages(spec, "the r3gan critic", widths, blocks, expansion, cardinality)
        self.pack = pack
        self.conditioning = conditional
        self.num_classes = critic_classes(spec.num_classes, conditional, "r3gan critic")
        maker = LayerMaker(norm, build=build)
        gain = fixup_gain(sum(plan.blocks))

        width = plan.widths
        self.input = maker.weighted(he_init(nn.Conv2d(pack * spec.shape[0], width[-1], 1, bias=False)))
        stages: list[nn.Module] = []
        for i in reversed(range(len(plan.sides))):  # from the image's side down
            layers = stage_blocks(width[i], plan.blocks[i], expansion, plan.groups[i], gain, maker)
            if i:
                layers.append(Transition(width[i], width[i - 1], False, resample, maker))
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.basis = DiscriminativeBasis(width[0], plan.sides[0], maker)
        self.psi, self.projection = score_heads(maker.weighted, width[0], self.num_classes, conditional)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        h = self.basis(self.stages(self.input(pack_samples(x, self.pack))))
        return critic_scores(self.psi, self.projection, h, labels, self.pack)
