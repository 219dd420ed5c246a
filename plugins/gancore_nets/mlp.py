"""Fully connected generator and critic, as in the original GAN paper (Goodfellow et al. 2014)."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field
from torch import Tensor, nn

import gancore
from _gancore_support.layers import LayerMaker, has_shift

from .conditioning import CriticConditioning, LabelEmbedding, critic_classes, critic_scores, need_classes, require_labels, score_heads
from .packing import pack_samples

Width = Annotated[int, Field(ge=1, le=16384)]  # a bound no real network reaches, far below an overflow
Depth = Annotated[int, Field(ge=1, le=64)]


def _activation(name: str) -> nn.Module:
    return nn.ReLU() if name == "relu" else nn.LeakyReLU(0.2)


def _hidden_stack(
    maker: LayerMaker, in_features: int, hidden: int, layers: int, act: str, *, norm_first: bool, dropout: float = 0.0
) -> nn.Sequential:
    """``layers`` blocks of linear -> norm -> activation (-> dropout).

    ``norm_first=False`` leaves the activation norm off the first block (the one that
    sees the data), as critics do.
    """
    blocks: list[nn.Module] = []
    width = in_features
    for i in range(layers):
        after = maker.norm_layer(hidden, spatial=False) if (norm_first or i > 0) else nn.Identity()
        linear = maker.weighted(nn.Linear(width, hidden, bias=not has_shift(after)))
        blocks += [linear, after, _activation(act)]
        if dropout > 0:
            blocks.append(nn.Dropout(dropout))
        width = hidden
    return nn.Sequential(*blocks)


class MLPGenerator(nn.Module):
    """MLP generator: latent code (plus label embedding) through fully connected layers.

    Images come out through tanh, reshaped to ``spec.shape``; other data (2D points, ...)
    through a linear output layer, since their values are not bounded.

    Args:
        latent_dim: size of the latent code z
        hidden: width of each hidden layer
        layers: number of hidden layers
        norm: normalization after each hidden layer, or wrapping every layer
        activation: hidden-layer activation (leaky_relu has slope 0.2)
        conditional: concatenate a label embedding to z (CGAN); needs labelled data
        embed_dim: size of the label embedding
    """

    def __init__(
        self,
        *,
        spec: gancore.DataSpec,
        build: gancore.Build = gancore.build,
        latent_dim: Width = 64,
        hidden: Width = 256,
        layers: Depth = 3,
        norm: Annotated[str, gancore.Ref("normalization")] = "none",
        activation: Literal["relu", "leaky_relu"] = "relu",
        conditional: bool = False,
        embed_dim: Width = 16,
    ) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.shape = tuple(spec.shape)
        self.num_classes = need_classes(spec.num_classes, "a conditional mlp generator") if conditional else None
        self.embed = LabelEmbedding(self.num_classes, embed_dim) if self.num_classes is not None else None
        maker = LayerMaker(norm, build=build)
        in_features = latent_dim + (embed_dim if conditional else 0)
        self.body = _hidden_stack(maker, in_features, hidden, layers, activation, norm_first=True)
        self.output = nn.Sequential(
            maker.weighted(nn.Linear(hidden, math.prod(self.shape))),
            nn.Tanh() if spec.is_image else nn.Identity(),
        )

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        h = z if self.embed is None else self.embed.concat(z, require_labels(labels, "generator"))
        return self.output(self.body(h)).view(z.shape[0], *self.shape)


class MLPCritic(nn.Module):
    """MLP critic: flattened samples through fully connected layers with LeakyReLU(0.2).

    The norm's activation module follows every hidden layer but the first, which sees
    the data directly (the DCGAN rule, for the same stability reason). Scores are raw.

    Args:
        hidden: width of each hidden layer
        layers: number of hidden layers
        norm: normalization after hidden layers, or wrapping every layer
        dropout: dropout probability after each hidden layer
        conditional: none, concat (label embedding joined to the input) or projection
        embed_dim: size of the label embedding for concat conditioning
        pack: samples per critic input (PacGAN); the batch must be divisible by it

    With packing, every sample keeps its own label (see ``conditioning``).
    """

    def __init__(
        self,
        *,
        spec: gancore.DataSpec,
        build: gancore.Build = gancore.build,
        hidden: Width = 256,
        layers: Depth = 3,
        norm: Annotated[str, gancore.Ref("normalization")] = "none",
        dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0,
        conditional: CriticConditioning = "none",
        embed_dim: Width = 16,
        pack: Width = 1,
    ) -> None:
        super().__init__()
        self.pack = pack
        self.conditioning = conditional
        self.num_classes = critic_classes(spec.num_classes, conditional, "mlp critic")
        maker = LayerMaker(norm, build=build)
        self.embed = LabelEmbedding(self.num_classes, embed_dim) if conditional == "concat" and self.num_classes is not None else None
        per_sample = math.prod(spec.shape) + (embed_dim if conditional == "concat" else 0)
        self.body = _hidden_stack(
            maker, pack * per_sample, hidden, layers, "leaky_relu", norm_first=False, dropout=dropout
        )
        self.psi, self.projection = score_heads(maker.weighted, hidden, self.num_classes, conditional)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        flat = x.reshape(x.shape[0], -1)
        if self.embed is not None:
            flat = self.embed.concat(flat, require_labels(labels, "critic"))
        h = self.body(pack_samples(flat, self.pack))
        return critic_scores(self.psi, self.projection, h, labels, self.pack)
