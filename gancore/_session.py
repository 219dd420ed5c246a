"""What wraps a run's training loop: its callbacks (and the progress display, one of them),
the run directory claimed for one writer, signals turned into stops between steps
(``gancore.Stopped``), every way the loop can end told to the callbacks (with the checkpoint
a graceful stop saves), and the metrics rows it logs.

``Run.train`` reads as the loop itself; this module is what happens around it.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import torch
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress as _Bar, ProgressColumn, Task, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.table import Column
from rich.text import Text
from torch import Tensor

from . import _checkpoint as ckpt
from . import _rundir as rundir
from ._distributed import JobError, PeerFailed, Processes, lost_peer
from ._errors import DivergenceError, GancoreError
from ._engine import NonfiniteGuard, hint
from ._parts import Callback
from ._registry import Registry


class CallbackList:
    """A run's callbacks: every one, in order, for each event."""

    def __init__(self, callbacks: Sequence[Callback]) -> None:
        self.callbacks = list(callbacks)

    @classmethod
    def of(cls, registry: Registry, parts: Sequence[tuple[str, str, dict[str, Any]]], extra: Sequence[Callback],
           progress: bool) -> CallbackList:
        """A recipe's ``[[callbacks]]`` (``parts``), built now (a missing optional package
        fails before the first step), then the caller's, then the progress display."""
        built = [registry.build(kind, name, params) for kind, name, params in parts]
        for cb, (_, name, _) in zip(built, parts):
            if not isinstance(cb, Callback):
                raise TypeError(f"callback {name!r} did not build a gancore.Callback")
        return cls([*built, *extra, *([Progress()] if progress else [])])

    def __bool__(self) -> bool:
        return bool(self.callbacks)

    def fire(self, event: str, run: Any, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, event)(run, *args)

    def failure(self, run: Any, error: BaseException) -> None:
        """Tell every callback; one that fails while being told must not hide ``error``."""
        for cb in self.callbacks:
            try:
                cb.on_failure(run, error)
            except Exception as exc:  # noqa: BLE001 - the original error is what matters
                warnings.warn(f"callback {type(cb).__name__}.on_failure raised {type(exc).__name__}: {exc}", stacklevel=2)


@contextlib.contextmanager
def training_session(run: Any, callbacks: CallbackList, *, out: Path | None, processes: Processes,
                     claim: Callable[[], None], save: Callable[[], Path], guard: NonfiniteGuard) -> Iterator[StopRequests]:
    """Around the loop of ``run``: ``claim`` the directory (on the writing process, holding
    its lock until the block ends), stop requests from signals, and the failure paths.
    ``save`` writes a checkpoint of the step reached when a signal stops the run."""
    started_at = run.step
    with contextlib.ExitStack() as held:

        def claim_directory() -> None:
            if out is not None:
                held.enter_context(rundir.RunLock(out))
                claim()

        processes.on_main(claim_directory)
        # A job's processes may each get a stop signal twice (scheduler and launcher).
        stops = held.enter_context(StopRequests(repeat_grace=2.0 if processes.distributed else 0.0))
        try:
            yield stops
        except DivergenceError as exc:
            raise diverged(exc, run, callbacks, out, guard) from None
        except RuntimeError as exc:
            if not (processes.distributed and lost_peer(exc)):
                callbacks.failure(run, exc)
                raise
            # DDP's own exchange (inside a backward pass) found a peer gone.
            lost = PeerFailed(f"{processes.describe()}: another process of this job ended or hung ({exc.__class__.__name__})")
            callbacks.failure(run, lost)
            raise lost from None
        except KeyboardInterrupt as exc:
            # A signal (Stopped) came between steps: save that step. A second signal cut a
            # step short: save nothing.
            if getattr(exc, "graceful", True) and out is not None and run.step > started_at:
                try:
                    save()
                except DivergenceError as found:  # the stop found a divergence: report that
                    raise diverged(found, run, callbacks, out, guard) from None
            callbacks.failure(run, exc)
            raise
        except BaseException as exc:
            callbacks.failure(run, exc)
            raise


def diverged(exc: DivergenceError, run: Any, callbacks: CallbackList, out: Path | None, guard: NonfiniteGuard) -> DivergenceError:
    """The error a diverged run ends with: what went wrong, what was kept, what to try."""
    kept = "these weights were not saved"
    if out is not None:
        good = ckpt.newest_finite(out / rundir.CHECKPOINTS)
        kept = ("no checkpoint was written" if good is None else
                f"no checkpoint of these weights was written; the newest finite one is step {good[0]} ({good[1]})")
    error = DivergenceError(f"{exc}; {kept}; {hint(guard.mode)}", exc.step)
    callbacks.failure(run, error)
    return error


class Meter:
    """The values a run logs, kept on the device between log lines; ``row`` fetches their
    interval means in one transfer (one host sync per log line, not per step)."""

    def __init__(self, step: int) -> None:
        self.pending: dict[str, list[Tensor]] = {}
        self.since, self.since_step = time.perf_counter(), step

    def add(self, logs: Mapping[str, Tensor]) -> None:
        for key, value in logs.items():
            self.pending.setdefault(key, []).append(value)

    def row(self, step: int, processes: Processes) -> tuple[dict[str, Any], float]:
        """The row of ``step`` (means over the processes too) and the seconds since the last."""
        now = time.perf_counter()
        elapsed = now - self.since
        row: dict[str, Any] = {"step": step, "steps_per_sec": round((step - self.since_step) / max(elapsed, 1e-9), 3)}
        if self.pending:
            keys = list(self.pending)
            means = torch.stack([torch.stack(self.pending[k]).float().mean() for k in keys])
            row |= dict(zip(keys, processes.mean(means).tolist()))
        self.pending, self.since, self.since_step = {}, now, step
        return row, elapsed


def refuse_untrainable(run: Any) -> None:
    """One clear error for a run that must not train on."""
    if run.read_only is not None:
        raise GancoreError(f"{run.out} cannot train on: {run.read_only}")
    if run.recipe.train.sync_batchnorm and run.device.type != "cuda":
        raise JobError("train.sync_batchnorm: SyncBatchNorm works on CUDA devices only; set it to false on the CPU")
    writes = run.out is not None
    if run.processes.distributed and run.processes.any(writes) != run.processes.all(writes):
        raise JobError("every process of the job must be given the same run directory (out=...), or none")


# -- the progress display --------------------------------------------------------------------


_SKIP = {"step", "total", "seconds", "steps_per_sec"}


def _values(row: Mapping[str, Any]) -> str:
    return "  ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in _SKIP and isinstance(v, (int, float)))


class _Values(ProgressColumn):
    """The logged values, cut short with an ellipsis where the terminal ends. The table
    narrows the columns that may wrap first (this one and the bar): the step count, speed
    and times keep their width."""

    def render(self, task: Task) -> Text:
        return Text(task.fields["values"], no_wrap=True, overflow="ellipsis")


def _kept() -> Column:
    return Column(no_wrap=True)


class Progress(Callback):
    """Shows each metrics row: a progress bar when stderr is a terminal, else a line on stdout.

    ``console``: where the bar is drawn (default: a rich console on stderr)."""

    def __init__(self, *, bar: bool | None = None, console: Console | None = None) -> None:
        self.bar = sys.stderr.isatty() if bar is None else bar
        self._progress: _Bar | None = None
        self._task: Any = None
        self._out = Console(highlight=False, soft_wrap=True)
        self._bar_console = console

    def on_start(self, run: Any) -> None:
        self.total = run.target_steps
        if self.bar:
            self._progress = _Bar(
                TextColumn("[bold]train", table_column=_kept()), BarColumn(),
                MofNCompleteColumn(table_column=_kept()), TextColumn("{task.fields[speed]}", table_column=_kept()),
                TimeElapsedColumn(table_column=_kept()), TimeRemainingColumn(table_column=_kept()), _Values(),
                console=self._bar_console or Console(stderr=True, highlight=False, soft_wrap=True),
            )
            self._task = self._progress.add_task("train", total=self.total, completed=run.step, speed="", values="")
            self._progress.start()

    def on_log(self, run: Any, row: Mapping[str, Any]) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=row["step"], speed=f"{row['steps_per_sec']:.1f} it/s", values=_values(row))
        else:
            self._out.print(f"step {row['step']}/{self.total}  {row['steps_per_sec']:.1f} it/s  {_values(row)}", markup=False)

    def _stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def on_end(self, run: Any) -> None:
        self._stop()

    def on_failure(self, run: Any, error: BaseException) -> None:
        self._stop()


# -- stop signals ----------------------------------------------------------------------------


SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1") if hasattr(signal, name))


class Stopped(KeyboardInterrupt):
    """Training was stopped by a signal. ``graceful``: the step in progress finished (and
    the engine saved a checkpoint of it); otherwise a second signal cut it short."""

    def __init__(self, signum: int, *, graceful: bool) -> None:
        self.signum, self.graceful = signum, graceful
        self.name = signal.Signals(signum).name
        super().__init__(f"stopped by {self.name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


class StopRequests:
    """A context in which those signals ask the training loop to stop (``requested``).

    Handlers can only be installed from the main thread; elsewhere the block leaves the
    process's handlers alone (and Ctrl-C raises KeyboardInterrupt as usual).

    ``repeat_grace``: seconds in which a second signal counts as the same request. A job
    of several processes uses it: a scheduler may signal every process and the launcher
    forward the same signal again, which must not cut the step short."""

    def __init__(self, repeat_grace: float = 0.0) -> None:
        self.requested: int | None = None
        self.repeat_grace = repeat_grace
        self._since = 0.0
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested is not None:
            if time.monotonic() - self._since < self.repeat_grace:
                return
            raise Stopped(signum, graceful=False)
        self.requested, self._since = signum, time.monotonic()

    def check(self, agree: Callable[[int], int] | None = None) -> None:
        """Between steps: stop now if a signal came. ``agree`` makes it a decision of the
        whole job (the largest signal number any process got; 0 for none)."""
        requested = self.requested or 0
        if agree is not None:
            requested = agree(requested)
        if requested:
            raise Stopped(requested, graceful=True)

    def __enter__(self) -> "StopRequests":
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for signum, handler in self._previous.items():
            # None: the handler was not installed from Python; the default is the best guess.
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}
