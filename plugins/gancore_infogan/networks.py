"""The InfoGAN networks for MNIST-sized images (Chen et al. 2016, appendix C).

Generator: FC 1024 -> FC 7x7x128 -> 4x4 up-conv 64 (stride 2) -> 4x4 up-conv to the image,
norm + ReLU after every layer but the last, tanh out.
Critic: 4x4 conv 64 (stride 2) -> 4x4 conv 128 (stride 2) -> FC 1024, norm + LeakyReLU(0.1)
after every layer but the first: a shared body, read by two heads, the critic's D head
(one raw score) and InfoGAN's Q head (FC 128 -> norm -> LeakyReLU -> the codes'
parameters), which the scheme owns (see ``QHead``).

The widths are parameters (``width`` is the 64 above, ``hidden`` the 1024; the scheme's
``q_hidden`` the 128), so a CPU recipe can train a narrower copy. Any square image whose
side is a multiple of 4 works (28 -> 7, 32 -> 8); the paper's is 1 x 28 x 28.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from torch import Tensor, nn

import gancore

from .codes import LatentLayout, check_codes
from .information import QOutput, split_q_output

Width = Annotated[int, Field(ge=1, le=16384)]  # a bound no real network reaches, far below an overflow
CodeSize = Annotated[int, Field(ge=0, le=1024)]
NormRef = Annotated[str, gancore.Ref("normalization")]
LEAK = 0.1  # the paper's leaky ReLU slope


def infogan_geometry(spec: gancore.DataSpec, what: str) -> int:
    """The side of the smallest feature map (the image side / 4), or a ValueError."""
    if not spec.is_image:
        raise ValueError(f"{what} needs image data (C x H x W), got samples of shape {spec.shape}")
    _, height, width = spec.shape
    if height != width or height % 4 or height < 8:
        raise ValueError(f"{what} supports square images whose side is a multiple of 4 (28, 32, ...), got {height}x{width}")
    return height // 4


class _Layers:
    """Weighted layers (initialised N(0, 0.02), then wrapped by the norm) and norm modules."""

    def __init__(self, norm: str, build: gancore.Build) -> None:
        self.norm: gancore.Normalization = build("normalization", norm)

    def weighted(self, module: nn.Linear | nn.Conv2d | nn.ConvTranspose2d) -> nn.Module:
        # DCGAN-style initialisation, the usual one for this family of networks; weight
        # norm then starts from these weights because the wrap comes after.
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
        return self.norm.wrap(module)

    def after(self, features: int, *, spatial: bool) -> tuple[nn.Module, bool]:
        """The norm module after a layer, and whether that layer still needs its own bias."""
        module = self.norm.layer(features, spatial=spatial)
        shift = getattr(module, "bias", None) is not None
        return module, not shift


class InfoGANGenerator(nn.Module):
    """InfoGAN generator: noise z plus latent codes through FC, FC, two up-convolutions.

    Its input is the whole latent ``[z | one-hot category | continuous codes]``
    (``latent_dim`` wide), so any scheme that draws ``latent_dim`` numbers can drive it.

    Args:
        noise_dim: size of the incompressible noise z
        categories: values of the categorical code (0: none)
        continuous: number of continuous codes, uniform in [-1, 1]
        width: channels of the last hidden feature map (64 in the paper; 2x at the smaller map)
        hidden: units of the first fully connected layer (1024 in the paper)
        norm: normalization after each layer but the output, or wrapping every layer
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
        noise_dim: Width = 62,
        categories: CodeSize = 10,
        continuous: CodeSize = 2,
        width: Width = 64,
        hidden: Width = 1024,
        norm: NormRef = "batch",
    ) -> None:
        super().__init__()
        base = infogan_geometry(spec, "the infogan generator")
        self.layout = LatentLayout(noise_dim, categories, continuous)
        self.noise_dim, self.categories, self.continuous = noise_dim, categories, continuous
        self.latent_dim = self.layout.latent_dim
        self.num_classes = None  # the categorical code is drawn, not a data label
        layers = _Layers(norm, build)
        wide = 2 * width
        norm1, bias1 = layers.after(hidden, spatial=False)
        norm2, bias2 = layers.after(wide, spatial=True)
        norm3, bias3 = layers.after(width, spatial=True)
        self.body = nn.Sequential(
            layers.weighted(nn.Linear(self.latent_dim, hidden, bias=bias1)), norm1, nn.ReLU(),
            layers.weighted(nn.Linear(hidden, wide * base * base, bias=bias2)),
            nn.Unflatten(1, (wide, base, base)), norm2, nn.ReLU(),
            layers.weighted(nn.ConvTranspose2d(wide, width, 4, 2, 1, bias=bias3)), norm3, nn.ReLU(),
        )
        # No norm on the output layer: it would pin the samples' mean and scale.
        self.output = nn.Sequential(layers.weighted(nn.ConvTranspose2d(width, spec.shape[0], 4, 2, 1)), nn.Tanh())

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.output(self.body(z))


class InfoGANCritic(nn.Module):
    """InfoGAN discriminator: conv, conv, FC body and a one-score D head (no sigmoid).

    ``forward(x)`` gives raw scores (N,), as every critic does. ``features(x)`` is the
    shared body's output (N x ``feature_dim``) and ``score(h)`` the D head on it, so the
    InfoGAN scheme runs the body once and reads it with both the D head and its Q head.

    Args:
        width: channels of the first convolution (64 in the paper; 2x in the second)
        hidden: units of the shared fully connected layer (1024 in the paper)
        norm: normalization after each layer but the input, or wrapping every layer
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
        width: Width = 64,
        hidden: Width = 1024,
        norm: NormRef = "batch",
    ) -> None:
        super().__init__()
        base = infogan_geometry(spec, "the infogan critic")
        self.num_classes = None
        self.pack = 1
        self.feature_dim = hidden
        layers = _Layers(norm, build)
        wide = 2 * width
        norm2, bias2 = layers.after(wide, spatial=True)
        norm3, bias3 = layers.after(hidden, spatial=False)
        # No norm on the input layer: it would normalise away the data's own statistics.
        self.body = nn.Sequential(
            layers.weighted(nn.Conv2d(spec.shape[0], width, 4, 2, 1)), nn.LeakyReLU(LEAK),
            layers.weighted(nn.Conv2d(width, wide, 4, 2, 1, bias=bias2)), norm2, nn.LeakyReLU(LEAK),
            nn.Flatten(),
            layers.weighted(nn.Linear(wide * base * base, hidden, bias=bias3)), norm3, nn.LeakyReLU(LEAK),
        )
        self.score_head = layers.weighted(nn.Linear(hidden, 1))

    def features(self, x: Tensor) -> Tensor:
        """The shared body's output, N x ``feature_dim``."""
        return self.body(x)

    def score(self, h: Tensor) -> Tensor:
        """The D head: raw scores (N,) from body features."""
        return self.score_head(h).squeeze(1)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.score(self.features(x))


class QHead(nn.Module):
    """The Q head: FC ``hidden`` -> norm -> LeakyReLU -> the codes' parameters (category
    logits, continuous-code means), read from a critic's body features.

    It is InfoGAN's own part, not the critic's: a critic's parameters are all trained by
    its scores, while Q is trained by the mutual-information term with the generator.
    """

    def __init__(
        self, in_features: int, hidden: int, categories: int, continuous: int, norm: str = "batch",
        *, build: gancore.Build = gancore.build,
    ) -> None:
        super().__init__()
        check_codes(categories, continuous)
        self.categories, self.continuous = categories, continuous
        layers = _Layers(norm, build)
        after, bias = layers.after(hidden, spatial=False)
        self.net = nn.Sequential(
            layers.weighted(nn.Linear(in_features, hidden, bias=bias)), after, nn.LeakyReLU(LEAK),
            layers.weighted(nn.Linear(hidden, categories + continuous)),
        )

    def forward(self, h: Tensor) -> QOutput:
        return split_q_output(self.net(h), self.categories, self.continuous)


__all__ = ["InfoGANCritic", "InfoGANGenerator", "QHead", "infogan_geometry"]
