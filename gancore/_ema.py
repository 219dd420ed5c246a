"""The EMA copy of a network: ``torch.optim.swa_utils.AveragedModel`` updated by the
training loop after every step and swapped in for sampling. Its decay is a fixed value
warmed up over the first updates, or StyleGAN's half-life in images (with an optional
ramp-up), which stays the same whatever the batch size."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from typing import TypeVar

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel


S = TypeVar("S", bound=nn.Module)


@dataclass
class EmaLength:
    """The average's length, read by every update: a ``[schedule]`` of ``ema.decay`` or
    ``ema.half_life`` sets it before each step."""

    decay: float
    half_life: float | None = None


def averaged_copy(network: nn.Module, decay: float, *, half_life: float | None = None, rampup: float | None = None,
                  batch_size: int = 1, start: int = 0, length: EmaLength | None = None) -> AveragedModel:
    """An EMA copy of ``network`` (buffers too, so batch-norm statistics are averaged):
    with ``half_life`` (kimg) the decay follows :func:`half_life_decay`, else ``decay``
    with a warm-up. ``start``: the steps trained before the first update. ``length``, when
    given, holds the decay and half-life instead (shared by a run's copies, and scheduled)."""
    avg = AveragedModel(network, use_buffers=True)
    length = length or EmaLength(decay, half_life)
    if length.half_life is not None:
        avg.multi_avg_fn = _ema_by_half_life(rampup, batch_size, start, avg, length)
    else:
        avg.multi_avg_fn = _ema_with_warmup(avg, length)
    # The update reads this counter on the host every step; keeping it on the CPU avoids
    # a device sync per step.
    avg.n_averaged = avg.n_averaged.cpu()
    return avg


def _ema_with_warmup(owner: AveragedModel, length: EmaLength) -> Callable[..., None]:
    """EMA whose decay ramps up as min(decay, (1 + n) / (10 + n)) over the first updates,
    so that early samples are not dominated by the random initial weights."""

    def update(averaged: list[Tensor], current: list[Tensor], _: Tensor) -> None:
        n = int(owner.n_averaged)  # a CPU counter: reading it costs no device sync
        _average(averaged, current, min(length.decay, (1 + n) / (10 + n)))

    return update


def half_life_decay(half_life: float, rampup: float | None, batch_size: int, images: int) -> float:
    """The decay of one update of ``batch_size`` images, after ``images`` images in all,
    for a half-life of ``half_life`` thousand images: ``0.5 ** (batch_size / h)`` with
    ``h = half_life * 1000``, or ``min(h, rampup * images)`` with a ramp-up (StyleGAN2-ADA's
    ema_kimg and ema_rampup)."""
    h = half_life * 1000
    if rampup is not None:
        h = min(h, images * rampup)
    return float(0.5 ** (batch_size / max(h, 1e-8)))


def _ema_by_half_life(rampup: float | None, batch_size: int, start: int, owner: AveragedModel,
                      length: EmaLength) -> Callable[..., None]:
    def update(averaged: list[Tensor], current: list[Tensor], _: Tensor) -> None:
        # The n-th update (n >= 1: the first one copies) follows training step start + n + 1:
        # the images so far depend only on the checkpointed counter, so resumes are exact.
        images = (start + int(owner.n_averaged) + 1) * batch_size
        _average(averaged, current, half_life_decay(length.half_life or 0.0, rampup, batch_size, images))

    return update


def _average(averaged: list[Tensor], current: list[Tensor], decay: float) -> None:
    if averaged[0].is_floating_point():
        torch._foreach_lerp_(averaged, current, 1 - decay)
    else:  # integer buffers (BN's batch counter) are copied
        for a, c in zip(averaged, current):
            a.copy_(c)


@contextlib.contextmanager
def swapped_in(scheme: S, ema: Mapping[str, AveragedModel]) -> Iterator[S]:
    """``scheme`` with the EMA copies (those that have started) in place of its live
    networks, in eval mode and without gradients; everything is put back afterwards."""
    swapped = {}
    for name, avg in ema.items():
        if int(avg.n_averaged) > 0:
            swapped[name] = getattr(scheme, name)
            setattr(scheme, name, avg.module)
    modes = {m: m.training for m in scheme.modules()}
    scheme.eval()
    try:
        with torch.no_grad():
            yield scheme
    finally:
        for name, live in swapped.items():
            setattr(scheme, name, live)
        for m, was in modes.items():
            m.train(was)
