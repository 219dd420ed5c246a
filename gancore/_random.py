"""Random values for the rows of a training batch: the same however many processes share it.

A run owns one ``gancore.Random``, seeded from ``train.seed`` and kept in checkpoints. A
scheme draws its latent codes through the step it is given (``step.randn``); a part that
draws per-row values itself (a penalty's mixing weights, an augmentation's offsets)
declares a parameter typed ``gancore.Random`` and is given the run's. Nothing reaches a
part any other way.

In a job of N processes every process draws all N x n rows from the same generator state
and keeps its own n: process r gets rows r*n .. (r+1)*n - 1 of what one process drawing
the whole global batch gets, so the run does not depend on how many processes share the
batch. Drawing N times the rows costs little next to a network's forward pass.

Randomness inside networks (dropout) and in a scheme's own bookkeeping (an image pool)
uses torch's default generator, which each process seeds differently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

# torch's default generator is seeded with train.seed for the networks' initialisation;
# the row generator gets a different seed so its draws are not the same numbers.
_OFFSET = 2**32


class Random:
    """Per-row draws: ``randn(n, *shape)``, ``rand(n, *shape)``, ``randint(high, n, *shape)``.

    ``Random()`` draws from torch's default generator (a part used outside a run);
    ``Random.seeded(seed, device, rank, world)`` is a run's: its own generator, and this
    process's rows of the global batch.
    """

    def __init__(self, generator: torch.Generator | None = None, *, rank: int = 0, world: int = 1, seed: int = 0) -> None:
        self.generator, self.rank, self.world, self.seed = generator, rank, world, seed

    @classmethod
    def seeded(cls, seed: int, device: torch.device, rank: int = 0, world: int = 1) -> Random:
        generator = torch.Generator(device=device)
        generator.manual_seed(seed + _OFFSET)
        return cls(generator, rank=rank, world=world, seed=seed)

    def _draw(self, make: Callable[..., Tensor], n: int, shape: tuple[int, ...], device: torch.device | str | None,
              **kwargs: Any) -> Tensor:
        if self.generator is None:
            return make(size=(n, *shape), device=device, **kwargs)
        full = make(size=(n * self.world, *shape), generator=self.generator, device=self.generator.device, **kwargs)
        mine = full if self.world == 1 else full[self.rank * n : (self.rank + 1) * n]
        return mine if device is None else mine.to(device)

    def randn(self, n: int, *shape: int, device: torch.device | str | None = None,
              dtype: torch.dtype | None = None) -> Tensor:
        """``n`` rows of standard normal values of shape ``shape`` (latent codes: ``randn(n, dim)``)."""
        return self._draw(torch.randn, n, shape, device, dtype=dtype)

    def rand(self, n: int, *shape: int, device: torch.device | str | None = None,
             dtype: torch.dtype | None = None) -> Tensor:
        """``n`` rows of values uniform in [0, 1) of shape ``shape``."""
        return self._draw(torch.rand, n, shape, device, dtype=dtype)

    def randint(self, high: int, n: int, *shape: int, device: torch.device | str | None = None) -> Tensor:
        """``n`` rows of whole numbers uniform in 0 .. high - 1 of shape ``shape``."""
        return self._draw(lambda **kw: torch.randint(high, **kw), n, shape, device)

    # -- checkpoints ------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The generator's state, with the device type it belongs to (a CUDA generator's
        state means nothing to a CPU one)."""
        if self.generator is None:
            return {}
        return {"device": self.generator.device.type, "state": self.generator.get_state()}

    def load_state_dict(self, saved: Any, step: int) -> None:
        """Continue from a checkpoint's state, when it is of this device type; otherwise
        (a CUDA run sampled or resumed on the CPU, an older checkpoint without one) from a
        fresh stream that depends on the step, so a resumed run does not replay old codes."""
        if self.generator is None:
            return
        if isinstance(saved, dict) and saved.get("device") == self.generator.device.type:
            self.generator.set_state(saved["state"].cpu())
        else:
            self.generator.manual_seed(self.seed + _OFFSET + 1_000_003 * (step + 1))
