"""Augmentation before every critic call (DiffAugment, ADA): the engine hooks a recipe's
``[[augment]]`` parts onto each critic, so real and generated samples are augmented alike
in the critic's and the generator's updates and inside gradient penalties (which then
differentiate through the augmentation), whatever the scheme. Schemes do nothing for it.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn


class Augment(nn.Module):
    """A differentiable augmentation of a batch, ``(N, ...) -> (N, ...)`` of the same shape.

    ``forward`` must be differentiable in its input (the generator learns through it) and
    draw its randomness with ``gancore.rand`` / ``randint`` / ``randn``, so that a run
    repeats and resumes exactly. State that changes in training (ADA's probability) lives
    in buffers: the engine keeps it in the checkpoint.
    """

    def forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def observe(self, real_scores: Tensor) -> None:
        """The critic's scores of the (augmented) real batch, after each critic forward
        pass of a critic update, detached: what an adaptive augmentation steers by."""

    def logs(self) -> dict[str, Tensor]:
        """Values for the metrics rows (``ada_p``), as tensors: logging does not sync."""
        return {}


class Augmentation(nn.Module):
    """The recipe's augmentations, applied in order; the engine registers it in the
    scheme (``scheme.augmentation``), so its buffers are in every checkpoint."""

    def __init__(self, augments: Sequence[Augment]) -> None:
        super().__init__()
        self.augments = nn.ModuleList(augments)

    def forward(self, x: Tensor) -> Tensor:
        for augment in self.augments:
            out = augment(x)
            if not isinstance(out, Tensor) or out.shape != x.shape:
                got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
                raise TypeError(f"augment {type(augment).__name__} returned {got} for a batch of shape "
                                f"{tuple(x.shape)}: an augmentation keeps the batch's shape")
            x = out
        return x

    def observe(self, real_scores: Tensor) -> None:
        for augment in self.augments:
            augment.observe(real_scores)

    def logs(self) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for augment in self.augments:
            out |= augment.logs()
        return out


_attached: "weakref.WeakKeyDictionary[nn.Module, Augmentation]" = weakref.WeakKeyDictionary()


def attach(augmentation: Augmentation, critics: Iterable[nn.Module]) -> None:
    """Augment the first argument (the samples) of every call of each critic in training
    mode; a critic in eval mode sees its inputs as they are."""

    def augment_input(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not module.training or not args or not isinstance(args[0], Tensor):
            return None
        return (augmentation(args[0]), *args[1:]), kwargs

    for critic in critics:
        if critic in _attached:
            raise ValueError(f"critic {type(critic).__name__} is augmented twice (one module in two critic slots?)")
        critic.register_forward_pre_hook(augment_input, with_kwargs=True)
        _attached[critic] = augmentation


def augmentation_of(critic: nn.Module) -> Augmentation | None:
    """The augmentation hooked onto ``critic`` (inside a DDP wrapper too), if any."""
    if isinstance(critic, torch.nn.parallel.DistributedDataParallel):
        critic = critic.module
    return _attached.get(critic)
