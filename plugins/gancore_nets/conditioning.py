"""Class conditioning: label embeddings (CGAN, Mirza & Osindero 2014) and the projection
critic head (Miyato & Koyama 2018).

With packing, every sample keeps its own label: concatenated embeddings are attached to
each sample before the pack is formed, and a projection head sums the projection terms of
all samples in the pack (``<sum_i embed(y_i), h>``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor, nn

from .packing import sum_over_pack

CriticConditioning = Literal["none", "concat", "projection"]


def need_classes(num_classes: int | None, what: str) -> int:
    """The class count of a conditional part, or a clear error when the data has none."""
    if not num_classes:
        raise ValueError(f"{what} needs labelled data (spec.num_classes is not set)")
    return num_classes


def critic_classes(num_classes: int | None, conditional: CriticConditioning, what: str) -> int | None:
    """The class count of a critic conditioned by ``conditional``; None for ``"none"``."""
    if conditional == "none":
        return None
    return need_classes(num_classes, f"a {conditional}-conditional {what}")


def require_labels(labels: Tensor | None, who: str) -> Tensor:
    if labels is None:
        raise ValueError(f"this {who} is class-conditional: call it with labels")
    return labels


class LabelEmbedding(nn.Module):
    """A learned vector per class, for concatenation to a network's input."""

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_classes, dim)

    def forward(self, labels: Tensor) -> Tensor:
        return self.embed(labels)

    def concat(self, x: Tensor, labels: Tensor) -> Tensor:
        """Flat input (N, F) -> (N, F + dim)."""
        return torch.cat([x, self.embed(labels)], dim=1)

    def concat_maps(self, x: Tensor, labels: Tensor) -> Tensor:
        """Image (N, C, H, W) -> (N, C + dim, H, W): the embedding as constant channel maps."""
        maps = self.embed(labels)[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        return torch.cat([x, maps], dim=1)


class ProjectionHead(nn.Module):
    """score = psi(h) + <embed(y), h>; ``embed`` is wrapped by the critic's weight norm."""

    def __init__(self, num_classes: int, features: int, wrap) -> None:
        super().__init__()
        embed = nn.Embedding(num_classes, features)
        # Small, fan-balanced start: N(0, 1) rows would dwarf psi's output at first.
        nn.init.xavier_uniform_(embed.weight)
        self.embed = wrap(embed)

    def forward(self, h: Tensor, labels: Tensor, pack: int) -> Tensor:
        """Projection term (N // pack,) for packed features h (N // pack, features)."""
        return (sum_over_pack(self.embed(labels), pack) * h).sum(dim=1)


def score_heads(
    wrap: Callable[[nn.Module], nn.Module], features: int, num_classes: int | None, conditional: CriticConditioning
) -> tuple[nn.Module, ProjectionHead | None]:
    """A critic's linear score ``psi`` on its features and, for projection conditioning,
    its projection head; ``wrap`` is the critic's weighted-layer maker."""
    psi = wrap(nn.Linear(features, 1))
    if conditional != "projection":
        return psi, None
    assert num_classes is not None  # a conditional critic has its classes (critic_classes)
    return psi, ProjectionHead(num_classes, features, wrap)


def critic_scores(psi: nn.Module, projection: ProjectionHead | None, h: Tensor, labels: Tensor | None, pack: int) -> Tensor:
    """Raw scores (N // pack,) from features h: psi(h), plus the projection term if any."""
    scores = psi(h).squeeze(1)
    if projection is not None:
        scores = scores + projection(h, require_labels(labels, "critic"), pack)
    return scores
