"""Random values for the rows of a training batch: the same however many processes share it.

A scheme draws its latent codes (and a penalty its mixing weights) with ``gancore.randn``,
``gancore.rand`` and ``gancore.randint`` instead of ``torch``'s. During a training step
they come from the run's own generator, seeded from ``train.seed`` and kept in
checkpoints. In a job of N processes every process draws all N x n rows from the same
generator state and keeps its own n: process r gets rows r*n .. (r+1)*n - 1 of what one
process drawing the whole global batch gets, so the run does not depend on how many
processes share the batch. Drawing N times the rows costs little next to a network's
forward pass. Outside a training step they are plain ``torch`` draws.

Randomness inside networks (dropout) and in a scheme's own bookkeeping (an image pool)
uses torch's default generator, which each process seeds differently.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

# torch's default generator is seeded with train.seed for the networks' initialisation;
# the batch generator gets a different seed so its draws are not the same numbers.
_OFFSET = 2**32


@dataclass
class BatchRandom:
    """The generator of per-row draws, and which rows of the global batch are this process's."""

    generator: torch.Generator
    rank: int = 0
    world: int = 1
    seed: int = 0

    @classmethod
    def seeded(cls, seed: int, device: torch.device, rank: int = 0, world: int = 1) -> "BatchRandom":
        gen = torch.Generator(device=device)
        gen.manual_seed(seed + _OFFSET)
        return cls(gen, rank, world, seed)

    def state(self) -> dict[str, Any]:
        """The generator's state, with the device type it belongs to (a CUDA generator's
        state means nothing to a CPU one)."""
        return {"device": self.generator.device.type, "state": self.generator.get_state()}

    def load(self, saved: Any, step: int) -> None:
        """Continue from a checkpoint's state, when it is of this device type; otherwise
        (a CUDA run sampled or resumed on the CPU, an older checkpoint without one) from a
        fresh stream that depends on the step, so a resumed run does not replay old codes."""
        if isinstance(saved, dict) and saved.get("device") == self.generator.device.type:
            self.generator.set_state(saved["state"].cpu())
        else:
            self.generator.manual_seed(self.seed + _OFFSET + 1_000_003 * (step + 1))


_current: ContextVar[BatchRandom | None] = ContextVar("gancore_batch_random", default=None)


@contextmanager
def drawing(rows: BatchRandom) -> Iterator[None]:
    """Inside the block, ``gancore.randn`` and friends draw this process's rows from ``rows``."""
    token = _current.set(rows)
    try:
        yield
    finally:
        _current.reset(token)


def _draw(make: Any, n: int, shape: tuple[int, ...], device: torch.device | str | None, **kwargs: Any) -> Tensor:
    rows = _current.get()
    if rows is None:
        return make(size=(n, *shape), device=device, **kwargs)
    full = make(size=(n * rows.world, *shape), generator=rows.generator, device=rows.generator.device, **kwargs)
    mine = full if rows.world == 1 else full[rows.rank * n : (rows.rank + 1) * n]
    return mine if device is None else mine.to(device)


def randn(n: int, *shape: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Tensor:
    """``n`` rows of standard normal values of shape ``shape`` (latent codes: ``randn(n, dim)``)."""
    return _draw(torch.randn, n, shape, device, dtype=dtype)


def rand(n: int, *shape: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Tensor:
    """``n`` rows of values uniform in [0, 1) of shape ``shape``."""
    return _draw(torch.rand, n, shape, device, dtype=dtype)


def randint(high: int, n: int, *shape: int, device: torch.device | str | None = None) -> Tensor:
    """``n`` rows of whole numbers uniform in 0 .. high - 1 of shape ``shape``."""
    return _draw(lambda **kw: torch.randint(high, **kw), n, shape, device)
