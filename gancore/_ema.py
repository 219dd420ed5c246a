"""The EMA copy of a network: ``torch.optim.swa_utils.AveragedModel`` with a warm-up of its
decay, updated by the training loop after every step and swapped in for sampling."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel


def averaged_copy(network: nn.Module, decay: float) -> AveragedModel:
    """An EMA copy of ``network`` (buffers too, so batch-norm statistics are averaged)."""
    avg = AveragedModel(network, use_buffers=True)
    avg.multi_avg_fn = _ema_with_warmup(decay, avg)
    # The update reads this counter on the host every step; keeping it on the CPU avoids
    # a device sync per step.
    avg.n_averaged = avg.n_averaged.cpu()
    return avg


def _ema_with_warmup(decay: float, owner: AveragedModel) -> Callable[..., None]:
    """EMA whose decay ramps up as min(decay, (1 + n) / (10 + n)) over the first updates,
    so that early samples are not dominated by the random initial weights."""

    def update(averaged: list[Tensor], current: list[Tensor], _: Tensor) -> None:
        n = int(owner.n_averaged)  # a CPU counter: reading it costs no device sync
        d = min(decay, (1 + n) / (10 + n))
        if averaged[0].is_floating_point():
            torch._foreach_lerp_(averaged, current, 1 - d)
        else:  # integer buffers (BN's batch counter) are copied
            for a, c in zip(averaged, current):
                a.copy_(c)

    return update
