"""Batches of the training data, a pure function of (seed, epoch, index).

Each epoch is one random permutation drawn from a generator seeded by (seed, epoch),
and a batch is one ``index_select`` per field: no per-sample Python. Fields stored as
uint8 (images, 0..255) become float32 in [-1, 1] a batch at a time, on the training
device. The only state is how many batches were drawn, so a resumed run draws exactly
the batches a straight run would have.

With ``channels_last`` (``train.channels_last``) each 4-D image batch is served in
channels-last memory format: converted a batch at a time, once it is float on the device.
On the CPU that measured as cheap as gathering from a set held in that format (cheaper for
large images: PyTorch's gather does not keep the format), and it needs no second copy of
the set.

``batch_size`` is the global batch: in a job of ``world`` processes every process draws
the same permutation and takes its own contiguous slice of each batch, so the job as a
whole sees exactly the batches one process would, and each process reads only its rows.

Two sources: :class:`DeviceBatches` indexes tensors that live on the training device
(the usual case: the set was moved there once); :class:`StreamedBatches` gathers rows
on the host, where the set stays (a memory-mapped cache, or a set too large for the
accelerator), in worker threads a few batches ahead, and moves them to the device.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

import torch
from torch import Tensor

from ._distributed import JobError
from ._image_store import is_mapped
from ._parts import as_float


class _Order:
    """Which rows batch number ``j`` holds in this process."""

    def __init__(self, size: int, batch_size: int, seed: int, drawn: int, rank: int, world: int,
                 device: torch.device) -> None:
        if batch_size > size:
            raise JobError(f"train.batch_size: {batch_size} is larger than the dataset ({size} items)")
        if batch_size % world:
            raise JobError(f"train.batch_size: {batch_size} is the global batch and must divide evenly among {world} processes")
        self.size = size
        self.batch_size = batch_size
        self.local = batch_size // world  # this process's rows of each batch
        self.start = rank * self.local
        self.per_epoch = size // batch_size  # the last partial batch is dropped
        self.seed = seed
        self.drawn = drawn
        self._order_device = device
        self._perms: dict[int, Tensor] = {}
        self._lock = threading.Lock()  # worker threads ask for rows at once

    def _permutation(self, epoch: int) -> Tensor:
        with self._lock:
            if epoch not in self._perms:
                g = torch.Generator(device=self._order_device)
                g.manual_seed(self.seed * 1_000_003 + epoch)
                for old in [e for e in self._perms if e < epoch - 1]:
                    del self._perms[old]  # keep this epoch's and the previous one's
                self._perms[epoch] = torch.randperm(self.size, generator=g, device=self._order_device)
            return self._perms[epoch]

    def rows(self, j: int) -> Tensor:
        epoch, i = divmod(j, self.per_epoch)
        first = i * self.batch_size + self.start
        return self._permutation(epoch)[first : first + self.local]


def in_layout(t: Tensor, channels_last: bool) -> Tensor:
    """A field of a batch as the networks take it: a 4-D image batch in channels-last memory
    format when ``channels_last`` (its strides say so, even with one channel, where either
    format's strides would do); anything else as it is."""
    return t.to(memory_format=torch.channels_last) if channels_last and t.dim() == 4 else t


class DeviceBatches(_Order):
    def __init__(
        self, tensors: dict[str, Tensor], batch_size: int, seed: int, drawn: int = 0, *, rank: int = 0, world: int = 1,
        channels_last: bool = False,
    ) -> None:
        self.tensors = tensors
        self.device = next(iter(tensors.values())).device
        self.channels_last = channels_last
        super().__init__(next(iter(tensors.values())).shape[0], batch_size, seed, drawn, rank, world, self.device)

    def next(self) -> dict[str, Tensor]:
        idx = self.rows(self.drawn)
        self.drawn += 1
        # uint8 images become floats here, a batch at a time, on the device.
        return {name: in_layout(as_float(t.index_select(0, idx)), self.channels_last) for name, t in self.tensors.items()}

    def peek(self, n: int) -> dict[str, Tensor]:
        """The first ``n`` items, for sample grids of translating schemes (no state change)."""
        return {name: in_layout(as_float(t[:n]), self.channels_last) for name, t in self.tensors.items()}


class StreamedBatches(_Order):
    """Batches gathered from host tensors by ``workers`` threads, ``ahead`` batches in
    advance. The permutation is drawn on the CPU, so on the CPU these are exactly the
    batches :class:`DeviceBatches` gives. Gathering copies only this process's rows;
    from a memory map, only their pages are read."""

    def __init__(
        self, tensors: dict[str, Tensor], batch_size: int, seed: int, drawn: int = 0, *, rank: int = 0,
        world: int = 1, device: torch.device | str = "cpu", workers: int = 2, ahead: int = 4, channels_last: bool = False,
    ) -> None:
        self.tensors = tensors
        self.device = torch.device(device)
        self.channels_last = channels_last
        super().__init__(next(iter(tensors.values())).shape[0], batch_size, seed, 0, rank, world, torch.device("cpu"))
        self._pin = self.device.type == "cuda"
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gancore-batches")
        self._ahead = ahead
        self._queue: deque[tuple[int, Future[dict[str, Tensor]]]] = deque()
        self._drawn = drawn

    # ``drawn`` is the state a checkpoint keeps; setting it (on resume) drops what was
    # gathered ahead for other positions.
    @property
    def drawn(self) -> int:
        return self._drawn

    @drawn.setter
    def drawn(self, value: int) -> None:
        self._drawn = value
        if getattr(self, "_queue", None):
            for _, future in self._queue:
                future.cancel()
            self._queue.clear()

    def _gather(self, j: int) -> dict[str, Tensor]:
        idx = self.rows(j)
        batch = {name: _take(t, idx) for name, t in self.tensors.items()}
        return {name: t.pin_memory() for name, t in batch.items()} if self._pin else batch

    def next(self) -> dict[str, Tensor]:
        j = self._drawn
        while self._queue and self._queue[0][0] != j:  # stale (never happens in order)
            self._queue.popleft()[1].cancel()
        last = self._queue[-1][0] if self._queue else j - 1
        while len(self._queue) < self._ahead:
            last += 1
            self._queue.append((last, self._pool.submit(self._gather, last)))
        batch = self._queue.popleft()[1].result()
        self._drawn = j + 1
        # Copies from pinned memory overlap the step; the floats are made on the device.
        return {name: in_layout(as_float(t.to(self.device, non_blocking=self._pin)), self.channels_last)
                for name, t in batch.items()}

    def peek(self, n: int) -> dict[str, Tensor]:
        return {name: in_layout(as_float(t[:n].to(self.device)), self.channels_last) for name, t in self.tensors.items()}

    def close(self) -> None:
        self.drawn = self._drawn  # cancels what is queued
        self._pool.shutdown(wait=True, cancel_futures=True)


def _take(t: Tensor, idx: Tensor) -> Tensor:
    """Rows ``idx`` of host tensor ``t``, copied by numpy where it can: torch's own gather
    would start a team of OpenMP threads in this worker thread, which spin beside the
    training step's and slow it (by about a sixth on 2 cores); numpy's is one thread."""
    try:
        return torch.from_numpy(t.numpy().take(idx.numpy(), axis=0))
    except (TypeError, RuntimeError):  # a dtype numpy lacks (bfloat16): torch's gather
        return t.index_select(0, idx)


def batches_for(tensors: dict[str, Tensor], device: torch.device, batch_size: int, seed: int, *, rank: int = 0,
                world: int = 1, channels_last: bool = False) -> DeviceBatches | StreamedBatches:
    """Batches for the training set: moved whole to the device when it fits there (on the
    CPU, where it already is), else streamed from the host. A memory-mapped set is always
    streamed: it is read a batch at a time, never loaded whole. ``channels_last``: 4-D
    image batches in channels-last memory format."""
    size = sum(t.numel() * t.element_size() for t in tensors.values())
    mapped = any(is_mapped(t) for t in tensors.values())
    fits = device.type == "cpu" or size <= _device_budget(device)
    if fits and not mapped:
        return DeviceBatches({k: v.to(device) for k, v in tensors.items()}, batch_size, seed, rank=rank, world=world,
                             channels_last=channels_last)
    return StreamedBatches(tensors, batch_size, seed, rank=rank, world=world, device=device, channels_last=channels_last)


def _device_budget(device: torch.device) -> int:
    """Half the accelerator's free memory: the rest is for the networks and their steps."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free // 2
    return 1 << 62  # other accelerators: as before, the set moves there whole
