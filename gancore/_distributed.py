"""Training in several processes with ``torch.distributed``: one process per device,
started by ``torchrun`` (or ``gancore train --nproc N``, which runs the same launcher).

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK in each process; a run made in such a
process joins the process group (nccl for CUDA, gloo for the CPU; ``train.backend``
overrides), takes ``cuda:LOCAL_RANK`` or the CPU, and trains its share of each global
batch. ``Processes`` is everything the engine asks of the other processes; in a single
process it does nothing, so the engine's code has one path.

What the engine does with it (see docs/distributed.md):

- each network of an optimizer group is wrapped in its own ``DistributedDataParallel``
  (never one wrapper around generator and critic), swapped in only while a training step
  runs, so checkpoints, sampling and the scheme's helpers always see the plain networks;
- a frozen network (the critic judging the generator's fakes) runs unwrapped: it has
  nothing to reduce, and DDP would otherwise wait for gradients that never come;
- batch-norm running statistics, which each process keeps from its own data, are averaged
  before anything reads them (a log line, samples, a checkpoint);
- the stop signals, the divergence guard's verdicts and errors on the writing process are
  agreed over a separate gloo group, so every process stops at the same step.
"""

from __future__ import annotations

import atexit
import datetime
import functools
import inspect
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from ._errors import DivergenceError, GancoreError

T = TypeVar("T")

BACKENDS = ("auto", "gloo", "nccl")
# How long a process waits in a collective for the others (a rank stuck in a long
# evaluation, a slow checkpoint write) before the job is declared hung.
TIMEOUT = datetime.timedelta(minutes=30)


class JobError(GancoreError):
    """An error every process of the job meets at the same point (the first process's
    line speaks for all)."""


class PeerFailed(GancoreError):
    """Another process of the job ended or could not be reached: this one stops too, with
    exit code 4. The launcher (torchrun) reports which process failed first."""

    exit_code = 4


class FollowedError(JobError):
    """The error the writing process (rank 0) met, raised on every other process so that
    the job stops together; the CLI prints it once, on rank 0. ``exit_code``: the one
    rank 0 exits with (3 for a divergence, else 2)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Topology:
    """Where this process sits in the job (torchrun's environment variables)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_environment(cls) -> "Topology":
        try:
            world = int(os.environ.get("WORLD_SIZE", "1"))
            rank = int(os.environ.get("RANK", "0"))
            local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
        except ValueError:
            raise GancoreError("RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers (torchrun sets them)") from None
        if world < 1 or not 0 <= rank < world or local_rank < 0:
            raise GancoreError(f"inconsistent launch environment: RANK={rank}, WORLD_SIZE={world}, LOCAL_RANK={local_rank}")
        return cls(rank, world, local_rank)

    @property
    def distributed(self) -> bool:
        return self.world > 1


def topology() -> Topology:
    return Topology.from_environment()


def choose_backend(name: str, device: torch.device) -> str:
    if name not in BACKENDS:
        raise JobError(f"train.backend: unknown backend {name!r} (use {', '.join(BACKENDS)})")
    if name == "auto":
        return "nccl" if device.type == "cuda" else "gloo"
    if name == "nccl" and device.type != "cuda":
        raise JobError("train.backend: nccl needs CUDA devices; use gloo (or auto) on the CPU")
    return name


# What an exchange with a process that died says, when the error reaches Python through
# the autograd engine as a plain RuntimeError rather than a DistError.
_LOST_PEER = ("connection closed by peer", "connection reset by peer", "broken pipe", "gloo", "nccl", "processgroup")


def lost_peer(exc: BaseException) -> bool:
    """Whether ``exc`` is a collective that failed because another process is gone."""
    if isinstance(exc, dist.DistError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(marker in text for marker in _LOST_PEER)


def _describe(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class _Replica(DistributedDataParallel):
    """DDP around one network, transparent to the scheme: attributes the scheme reads
    (``latent_dim``) come from the network; its own methods (Twin-GAN's ``encode`` and
    ``decode``, InfoGAN's ``features``) run through DDP as ``forward`` does, so their
    gradients are reduced too; and a frozen network, or one called without gradients,
    runs unwrapped (there is nothing to reduce)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "module":  # not wrapped yet (inside DDP's own __init__)
                raise
            value = getattr(self.module, name)
            if inspect.ismethod(value) and value.__self__ is self.module:
                return functools.partial(self._through, value)
            return value

    def _learning(self) -> bool:
        return torch.is_grad_enabled() and self._first.requires_grad

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        if not self._learning():
            return self.module(*inputs, **kwargs)
        # DDP's forward by name, not through super(): mypy's untyped_calls_exclude sees only named calls
        return DistributedDataParallel.forward(self, *inputs, **kwargs)

    def _through(self, method: Callable[..., Any], *inputs: Any, **kwargs: Any) -> Any:
        """``method`` of the network, run by DDP in place of its ``forward``."""
        if not self._learning():
            return method(*inputs, **kwargs)
        module = self.module

        def once(*args: Any, **kw: Any) -> Any:
            del module.forward  # the method may call the network itself: that is its forward
            return method(*args, **kw)

        module.forward = once  # an instance attribute: DDP's call of the module runs it
        try:
            return DistributedDataParallel.forward(self, *inputs, **kwargs)
        finally:
            module.__dict__.pop("forward", None)


def is_running_statistic(name: str, value: Tensor) -> bool:
    """Whether a state-dict entry is a batch-norm-like running mean or variance."""
    return name.rsplit(".", 1)[-1] in ("running_mean", "running_var") and value.is_floating_point()


def _running_statistics(modules: Iterable[nn.Module]) -> Iterator[Tensor]:
    """The running mean and variance buffers of every batch-norm-like layer (torch's, and
    any layer that keeps floating ``running_mean`` / ``running_var`` buffers, such as
    Twin-GAN's per-domain batch norm)."""
    for module in modules:
        for layer in module.modules():
            for name in ("running_mean", "running_var"):
                buffer = layer._buffers.get(name)
                if buffer is not None and buffer.is_floating_point():
                    yield buffer


class Processes:
    """The other processes of the job, as the engine needs them. A single process is a
    job of one: every method is then free and does nothing."""

    def __init__(self, where: Topology, *, backend: str | None = None, device: torch.device | None = None) -> None:
        self.rank, self.world, self.local_rank = where.rank, where.world, where.local_rank
        self.backend = backend
        self.device = device
        self._control: Any = None  # a gloo group for small host-side agreements

    # -- the job ------------------------------------------------------------------------

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """The process that writes: metrics, samples, callbacks, checkpoints."""
        return self.rank == 0

    def describe(self) -> str:
        return f"process {self.rank} of {self.world}"

    # -- agreement (host values, on the control group) ------------------------------------

    def _reduce(self, value: int, op: Any) -> int:
        if not self.distributed:
            return value
        t = torch.tensor([value], dtype=torch.int64)
        self._collective(dist.all_reduce, t, op=op, group=self._control)
        return int(t[0])

    def any(self, flag: int) -> int:
        """The largest of every process's ``flag`` (0: none raised it)."""
        return self._reduce(int(flag), dist.ReduceOp.MAX)

    def least(self, value: int) -> int:
        return self._reduce(int(value), dist.ReduceOp.MIN)

    def all(self, flag: bool) -> bool:
        return bool(self._reduce(int(flag), dist.ReduceOp.MIN))

    def barrier(self) -> None:
        if self.distributed:
            self._collective(dist.barrier, group=self._control)

    def gather(self, obj: T) -> list[T]:
        """Every process's ``obj`` (small, picklable), in rank order."""
        if not self.distributed:
            return [obj]
        out: list[Any] = [None] * self.world
        self._collective(dist.all_gather_object, out, obj, group=self._control)
        return out

    def share(self, obj: T) -> T:
        """The first process's ``obj`` (small, picklable), on every process."""
        if not self.distributed:
            return obj
        box = [obj]
        self._collective(dist.broadcast_object_list, box, src=0, group=self._control)
        return box[0]

    def on_main(self, work: Callable[[], T]) -> T | None:
        """Run ``work`` on the writing process only; the others wait for it. An error
        there is raised on every process (as ``FollowedError`` elsewhere), so the job
        stops together instead of hanging in the next collective."""
        if not self.distributed:
            return work()
        result, failure = None, None
        if self.is_main:
            try:
                result = work()
            except BaseException as exc:
                failure = exc
        code = 3 if isinstance(failure, DivergenceError) else 2
        message = [None if failure is None else (_describe(failure), code)]
        self._collective(dist.broadcast_object_list, message, src=0, group=self._control)
        if failure is not None:
            raise failure
        if message[0] is not None:
            raise FollowedError(*message[0])
        return result

    def _collective(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A collective; a peer that died turns into one clear error here."""
        try:
            return call(*args, **kwargs)
        except (dist.DistError, ConnectionError) as exc:
            raise PeerFailed(f"{self.describe()}: another process of this job ended or hung ({_describe(exc)})") from None

    # -- tensors --------------------------------------------------------------------------

    def mean(self, values: Tensor) -> Tensor:
        """The mean over processes of ``values`` (same shape on every process)."""
        if not self.distributed:
            return values
        values = values.clone()
        self._collective(dist.all_reduce, values, op=dist.ReduceOp.SUM)
        return values / self.world

    def means(self, tensors: list[Tensor]) -> list[Tensor]:
        """New tensors: each one's mean over the processes (one exchange for all)."""
        if not self.distributed or not tensors:
            return tensors
        flat = torch.cat([t.detach().reshape(-1).float() for t in tensors])
        self._collective(dist.all_reduce, flat, op=dist.ReduceOp.SUM)
        flat /= self.world
        out, offset = [], 0
        for t in tensors:
            out.append(flat[offset : offset + t.numel()].view_as(t).to(t.dtype))
            offset += t.numel()
        return out

    def averaged_statistics(self, state: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """``state`` with its running statistics replaced by their mean over the processes."""
        keys = [k for k, v in state.items() if is_running_statistic(k, v)]
        return dict(state) | dict(zip(keys, self.means([state[k] for k in keys])))

    @contextmanager
    def statistics_averaged(self, modules: Iterable[nn.Module]) -> Iterator[None]:
        """Inside the block, batch-norm running statistics are their mean over the
        processes (each kept its own from its share of the data); after it, each process's
        own again, so reading them (samples, evaluation) does not change the training.
        Other buffers, which every process computes alike from the same weights
        (spectral-norm vectors, counters), are left as they are."""
        stats = list(_running_statistics(modules)) if self.distributed else []
        if not stats:
            yield
            return
        own = [s.clone() for s in stats]
        for s, mean in zip(stats, self.means(stats)):
            s.copy_(mean)
        try:
            yield
        finally:
            for s, mine in zip(stats, own):
                s.copy_(mine)

    # -- networks -------------------------------------------------------------------------

    def replicas(self, networks: dict[str, nn.Module], *, find_unused: Iterable[str] = ()) -> dict[str, DistributedDataParallel]:
        """One DDP wrapper per network that has trainable parameters."""
        if not self.distributed:
            return {}
        find_unused = set(find_unused)
        wrapped: dict[str, DistributedDataParallel] = {}
        for name, net in networks.items():
            trainable = [p for p in net.parameters() if p.requires_grad]
            if not trainable:
                continue
            ids = [self.device.index] if self.device is not None and self.device.type == "cuda" else None
            replica = _Replica(net, device_ids=ids, forward_sync_buffers=False, find_unused_parameters=name in find_unused)
            object.__setattr__(replica, "_first", trainable[0])  # read on every forward: no Module lookup
            wrapped[name] = replica
        return wrapped

    def parameters_agree(self, modules: dict[str, nn.Module]) -> list[str]:
        """The names of networks whose weights differ between processes (a checksum
        compared at checkpoints: replicas that drifted apart mean gradients that were not
        reduced, and a checkpoint of rank 0 alone would hide it)."""
        if not self.distributed:
            return []
        sums = torch.stack([
            torch.stack([p.detach().double().sum() for p in m.parameters()]).sum() if any(True for _ in m.parameters())
            else torch.zeros((), dtype=torch.float64, device=self.device)
            for m in modules.values()
        ]).cpu()
        every = torch.stack(self.gather(sums))
        differ = (every - every[0]).abs().amax(dim=0) > 0
        return [name for name, bad in zip(modules, differ.tolist()) if bad]


def own_state(scheme: Mapping[str, Tensor], ema: Mapping[str, Mapping[str, Tensor]], networks: set[str]) -> dict[str, Any]:
    """What of a checkpoint differs between the processes, besides random streams: the
    scheme's state outside its networks (a history pool of this process's own fakes) and
    the batch-norm running statistics of the networks and their EMA copies."""
    return {
        "scheme": {k: v.detach().cpu() for k, v in scheme.items()
                   if k.split(".", 1)[0] not in networks or is_running_statistic(k, v)},
        "ema": {name: {k: v.detach().cpu() for k, v in state.items() if is_running_statistic(k, v)}
                for name, state in ema.items()},
    }


def restore_streams(rng: Mapping[str, Any], processes: Processes, *, seed: int, step: int, device: torch.device,
                    scheme: nn.Module, ema: Mapping[str, nn.Module]) -> None:
    """This process's random streams (and own state, see ``own_state``) from a checkpoint's
    ``rng``: every stream as it was when resumed on as many processes; otherwise the first
    process takes the checkpoint's own and the others fresh, repeatable ones."""
    rank, world = processes.rank, processes.world
    per_process = rng.get("processes")
    if world > 1 and per_process is not None and len(per_process) == world:
        own = per_process[rank]
        scheme.load_state_dict(own.get("scheme", {}), strict=False)
        for k, e in ema.items():
            e.load_state_dict(own.get("ema", {}).get(k, {}), strict=False)
        torch.set_rng_state(own["cpu"].cpu())
        if "cuda" in own and device.type == "cuda":
            torch.cuda.set_rng_state(own["cuda"].cpu(), device)
    elif rank == 0:
        torch.set_rng_state(rng["cpu"].cpu())
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])
    else:
        torch.manual_seed(process_seed(seed, rank) + step)


def process_seed(seed: int, rank: int) -> int:
    """The default generator's seed on process ``rank`` > 0 (process 0 keeps train.seed,
    so its streams are those of a run in one process)."""
    return (seed + rank * 0x9E3779B9) % 2**63


# -- the process group of this Python process -------------------------------------------------

_joined: Processes | None = None


def join(where: Topology, backend: str, device: torch.device) -> Processes:
    """This process's place in the job, joining the process group the first time (a
    job of one joins nothing)."""
    global _joined
    if not where.distributed:
        return Processes(where)
    chosen = choose_backend(backend, device)
    if _joined is not None:
        if _joined.backend != chosen:
            raise GancoreError(f"train.backend: this process already joined the job with {_joined.backend}, not {chosen}")
        return _joined
    if not dist.is_available():
        raise GancoreError("this PyTorch build has no torch.distributed")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    try:
        if not dist.is_initialized():
            if chosen == "nccl":  # bound to this process's device
                dist.init_process_group(chosen, timeout=TIMEOUT, device_id=device)
            else:
                dist.init_process_group(chosen, timeout=TIMEOUT)
        control = dist.new_group(backend="gloo", timeout=TIMEOUT)
    except (RuntimeError, ValueError, ConnectionError) as exc:
        raise GancoreError(f"could not join the job's process group ({chosen}): {_describe(exc)}") from None
    processes = Processes(where, backend=chosen, device=device)
    processes._control = control
    _joined = processes
    atexit.register(leave)
    return processes


def leave() -> None:
    """Leave the process group (every exit path of ``gancore train`` calls this)."""
    global _joined
    _joined = None
    if dist.is_available() and dist.is_initialized():
        try:
            dist.destroy_process_group()
        except Exception:  # noqa: BLE001 - the group is going away either way
            pass
