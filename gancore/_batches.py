"""Batches drawn from tensors that already live on the training device.

Each epoch is one random permutation, drawn on the device from a generator seeded by
(seed, epoch), and a batch is one ``index_select`` per field: no per-sample Python, no
host round trip. Fields stored as uint8 (images, 0..255) become float32 in [-1, 1] a
batch at a time, on the device. The only state is how many batches were drawn, so a resumed run
draws exactly the batches a straight run would have.

``batch_size`` is the global batch: in a job of ``world`` processes every process draws
the same permutation and takes its own contiguous slice of each batch, so the job as a
whole sees exactly the batches one process would.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._distributed import JobError
from ._parts import as_float


class DeviceBatches:
    def __init__(
        self, tensors: dict[str, Tensor], batch_size: int, seed: int, drawn: int = 0, *, rank: int = 0, world: int = 1
    ) -> None:
        self.tensors = tensors
        self.size = next(iter(tensors.values())).shape[0]
        if batch_size > self.size:
            raise JobError(f"train.batch_size: {batch_size} is larger than the dataset ({self.size} items)")
        if batch_size % world:
            raise JobError(f"train.batch_size: {batch_size} is the global batch and must divide evenly among {world} processes")
        self.batch_size = batch_size
        self.local = batch_size // world  # this process's rows of each batch
        self.start = rank * self.local
        self.per_epoch = self.size // batch_size  # the last partial batch is dropped
        self.seed = seed
        self.drawn = drawn
        self._epoch = -1
        self._perm: Tensor | None = None
        self.device = next(iter(tensors.values())).device

    def _permutation(self, epoch: int) -> Tensor:
        g = torch.Generator(device=self.device)
        g.manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.size, generator=g, device=self.device)

    def next(self) -> dict[str, Tensor]:
        epoch, i = divmod(self.drawn, self.per_epoch)
        if epoch != self._epoch:
            self._perm, self._epoch = self._permutation(epoch), epoch
        assert self._perm is not None
        first = i * self.batch_size + self.start
        idx = self._perm[first : first + self.local]
        self.drawn += 1
        # uint8 images become floats here, a batch at a time, on the device.
        return {name: as_float(t.index_select(0, idx)) for name, t in self.tensors.items()}

    def peek(self, n: int) -> dict[str, Tensor]:
        """The first ``n`` items, for sample grids of translating schemes (no state change)."""
        return {name: as_float(t[:n]) for name, t in self.tensors.items()}
