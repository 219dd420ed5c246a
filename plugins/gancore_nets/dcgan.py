"""DCGAN (Radford et al. 2016): transposed-convolution generator and strided-convolution critic.

Square images of side ``base * 2**k`` (k >= 1) with base 4 or 7: 28 = 7 -> 14 -> 28,
32 = 4 -> 8 -> 16 -> 32, 64 adds one more doubling. Channels double at each halving of
the resolution, from ``width`` at the largest feature map.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from torch import Tensor, nn

import gancore
from _gancore_support.images import image_shape
from _gancore_support.layers import Init, LayerMaker, has_shift

from .conditioning import CriticConditioning, LabelEmbedding, critic_classes, critic_scores, need_classes, require_labels, score_heads
from .packing import pack_samples

Width = Annotated[int, Field(ge=1, le=16384)]  # a bound no real network reaches, far below an overflow
NormRef = Annotated[str, gancore.Ref("normalization")]


def dcgan_geometry(spec: gancore.DataSpec, what: str) -> tuple[int, int]:
    """(base side, number of doublings) for an image spec, or a ValueError."""
    _, height, width = image_shape(spec, what)
    for base in (4, 7):
        side, doublings = height, 0
        while side > base and side % 2 == 0:
            side, doublings = side // 2, doublings + 1
        if side == base and doublings >= 1 and height == width:
            return base, doublings
    raise ValueError(
        f"{what} supports square images of side 4*2^k or 7*2^k (k >= 1: 8, 14, 16, 28, 32, 64, ...), "
        f"got {height}x{width}"
    )


def dcgan_sized(spec: gancore.DataSpec) -> bool:
    """Whether the data are images whose side halves down to 4 or 7 (28, 32, 64, ...)."""
    try:
        dcgan_geometry(spec, "")
    except ValueError:
        return False
    return True


class DCGANGenerator(nn.Module):
    """DCGAN generator: project and reshape z, then transposed convolutions up to the image.

    Norm and ReLU follow every layer except the output layer, which ends in tanh.

    Args:
        latent_dim: size of the latent code z
        width: channels of the largest feature map (doubled at each smaller one)
        norm: normalization after each layer but the output, or wrapping every layer
        conditional: concatenate a label embedding to z (CGAN); needs labelled data
        embed_dim: size of the label embedding
        init: dcgan (weights N(0, 0.02), norm scales N(1, 0.02)) or PyTorch's default
    """

    supports = staticmethod(dcgan_sized)

    def __init__(
        self,
        *,
        spec: gancore.DataSpec,
        build: gancore.Build = gancore.build,
        latent_dim: Width = 100,
        width: Width = 64,
        norm: NormRef = "batch",
        conditional: bool = False,
        embed_dim: Width = 16,
        init: Init = "dcgan",
    ) -> None:
        super().__init__()
        base, doublings = dcgan_geometry(spec, "the dcgan generator")
        self.latent_dim = latent_dim
        self.num_classes = need_classes(spec.num_classes, "a conditional dcgan generator") if conditional else None
        self.embed = LabelEmbedding(self.num_classes, embed_dim) if self.num_classes is not None else None
        maker = LayerMaker(norm, init, build=build)
        channels = width * 2 ** (doublings - 1)
        after = maker.norm_layer(channels, spatial=True)
        in_features = latent_dim + (embed_dim if conditional else 0)
        project = maker.weighted(nn.Linear(in_features, channels * base * base, bias=not has_shift(after)))
        blocks: list[nn.Module] = [project, nn.Unflatten(1, (channels, base, base)), after, nn.ReLU()]
        for _ in range(doublings - 1):
            blocks += [*maker.normed(nn.ConvTranspose2d, channels, channels // 2, 4, 2, 1), nn.ReLU()]
            channels //= 2
        self.body = nn.Sequential(*blocks)
        # No norm on the output layer: it would pin the samples' mean and scale.
        self.output = nn.Sequential(maker.weighted(nn.ConvTranspose2d(channels, spec.shape[0], 4, 2, 1)), nn.Tanh())

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        h = z if self.embed is None else self.embed.concat(z, require_labels(labels, "generator"))
        return self.output(self.body(h))


class DCGANCritic(nn.Module):
    """DCGAN critic: strided convolutions with LeakyReLU(0.2) down to a raw score.

    Norm follows every convolution except the input layer; the final linear score layer
    reads the flattened smallest feature map (no sigmoid).

    Args:
        width: channels of the input layer's output (doubled at each halving)
        norm: normalization after each layer but the input, or wrapping every layer
        conditional: none, concat (label embedding as constant channel maps) or projection
        embed_dim: number of label channel maps for concat conditioning
        pack: samples per critic input (PacGAN), stacked along channels
        init: dcgan (weights N(0, 0.02), norm scales N(1, 0.02)) or PyTorch's default

    With packing, every sample keeps its own label (see ``conditioning``).
    """

    supports = staticmethod(dcgan_sized)

    def __init__(
        self,
        *,
        spec: gancore.DataSpec,
        build: gancore.Build = gancore.build,
        width: Width = 64,
        norm: NormRef = "batch",
        conditional: CriticConditioning = "none",
        embed_dim: Width = 16,
        pack: Width = 1,
        init: Init = "dcgan",
    ) -> None:
        super().__init__()
        base, doublings = dcgan_geometry(spec, "the dcgan critic")
        self.pack = pack
        self.conditioning = conditional
        self.num_classes = critic_classes(spec.num_classes, conditional, "dcgan critic")
        self.embed = LabelEmbedding(self.num_classes, embed_dim) if conditional == "concat" and self.num_classes is not None else None
        maker = LayerMaker(norm, init, build=build)

        in_channels = pack * (spec.shape[0] + (embed_dim if conditional == "concat" else 0))
        # No norm on the input layer: it would normalise away the data's own statistics.
        self.input = nn.Sequential(maker.weighted(nn.Conv2d(in_channels, width, 4, 2, 1)), nn.LeakyReLU(0.2))
        blocks: list[nn.Module] = []
        channels = width
        for _ in range(doublings - 1):
            blocks += [*maker.normed(nn.Conv2d, channels, channels * 2, 4, 2, 1), nn.LeakyReLU(0.2)]
            channels *= 2
        self.body = nn.Sequential(*blocks)
        features = channels * base * base
        self.psi, self.projection = score_heads(maker.weighted, features, self.num_classes, conditional)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            x = self.embed.concat_maps(x, require_labels(labels, "critic"))
        h = self.body(self.input(pack_samples(x, self.pack))).flatten(1)
        return critic_scores(self.psi, self.projection, h, labels, self.pack)
