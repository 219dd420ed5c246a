"""Running a sweep's trials: the loop a process runs until the study holds the requested
number of finished trials, and ``--jobs N``: N such processes on this machine, each with
its share of the cores.

Every process takes trials from the same study in the storage (Optuna's own way of
sharing one search among processes and machines). On this machine, counting the study's
trials and starting the next one happen under a lock (``DIR/.ask.lock``), so that two
processes never both start the last trial; processes on other machines, sharing only
the database, may start one trial each more than requested when they start trials at the
same moment (the docs say so).

Signals: a process stops after the trial in progress has saved its step (the trial is
queued again, and the next sweep resumes it). The ``--jobs`` processes run in sessions
of their own, so a terminal's Ctrl-C reaches the parent alone, which passes each signal
on once: a second Ctrl-C then stops them at once, as it does ``gancore train``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import optuna

from .._errors import GancoreError
from .._plugins import registry as default_registry
from .._session import SIGNALS, StopRequests, Stopped
from .study import WorkerLock, open_storage, open_study, recover_abandoned, storage_url, tally
from .summary import line
from .sweepfile import Sweep, read_sweep
from .trial import TrialFailed, objective

DEFINITION = "sweep.toml"
ASK_LOCK = ".ask.lock"


class _AskLock:
    """This machine's lock around counting the trials and starting one."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / ASK_LOCK
        self._fd: int | None = None

    def __enter__(self) -> _AskLock:
        import fcntl

        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __exit__(self, *exc: object) -> None:
        self.release()


def run_trials(sweep: Sweep, folder: Path, *, threads: int | None, say: Callable[[str], None], seed_offset: int = 0) -> int:
    """Run trials until the study has ``sweep.trials`` finished (or started by others);
    the number of the signal that stopped this process, 0 when none did."""
    study = open_study(sweep, open_storage(storage_url(sweep, folder), heartbeat=True), seed_offset=seed_offset)
    with WorkerLock(folder) as me, StopRequests() as between, _SignalsSeen() as seen:
        # A signal during a trial's training goes to the run's own handler (it saves the
        # step); one in its last step ends nothing there, so the sweep looks for it too.
        def signalled() -> int:
            return between.requested or seen.last()

        run_trial = objective(sweep, folder, me.name, threads, signalled)
        while not signalled():
            started: list[int] = []
            with _AskLock(folder) as asking:
                for number in recover_abandoned(study, folder):
                    say(f"trial {number}: its process ended while it ran; queued again")
                with warnings.catch_warnings():  # Optuna marks it experimental; it is what optimize itself calls
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    optuna.storages.fail_stale_trials(study)
                counted = tally(study)
                if counted.finished + counted.running >= sweep.trials:
                    break

                def first(trial: optuna.Trial) -> float:
                    asking.release()  # the trial is started: the next process may count it
                    started.append(trial.number)
                    return run_trial(trial)

                try:
                    study.optimize(first, n_trials=1, catch=(TrialFailed,))
                except Stopped as exc:
                    if started:
                        say(line(_trial(study, started[0]), sweep))
                    return exc.signum
            if started:
                say(line(_trial(study, started[0]), sweep))
        return signalled()


class _SignalsSeen:
    """Every signal this process receives, whichever Python handler takes it: the
    interpreter writes each one's number to a wakeup pipe (``signal.set_wakeup_fd``)."""

    def __init__(self) -> None:
        self._pipe: tuple[int, int] | None = None
        self._previous = -1
        self._seen = 0

    def __enter__(self) -> _SignalsSeen:
        read, write = os.pipe()
        os.set_blocking(read, False)
        os.set_blocking(write, False)
        try:
            self._previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        except ValueError:  # not the main thread: signals reach only the main thread anyway
            os.close(read)
            os.close(write)
            return self
        self._pipe = (read, write)
        return self

    def last(self) -> int:
        """The number of the last signal received so far, 0 for none."""
        if self._pipe is not None:
            try:
                data = os.read(self._pipe[0], 512)
            except BlockingIOError:
                data = b""
            for number in data:
                if number in SIGNALS:  # the stop signals; any other a handler may have taken is not one
                    self._seen = number
        return self._seen

    def __exit__(self, *exc: object) -> None:
        if self._pipe is not None:
            signal.set_wakeup_fd(self._previous)
            for fd in self._pipe:
                os.close(fd)
            self._pipe = None


def _trial(study: optuna.Study, number: int) -> optuna.trial.FrozenTrial:
    return next(t for t in study.get_trials(deepcopy=False) if t.number == number)


def run_jobs(folder: Path, jobs: int, threads: int, env: dict[str, str] | None = None) -> int:
    """``jobs`` processes running trials of the sweep in ``folder``; the exit code: 0, or
    the first non-zero one of a process (a signal's 128 + N)."""
    procs = [subprocess.Popen([sys.executable, "-m", "gancore._sweep.workers", str(folder), "--threads", str(threads),
                               "--seed-offset", str(k)], start_new_session=True, env=env) for k in range(jobs)]

    def forward(signum: int, frame: object) -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in SIGNALS}
    try:
        codes = [p.wait() for p in procs]
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
    return next((c for c in codes if c), 0)


def main(argv: list[str] | None = None) -> None:
    """One of ``--jobs``' processes: the sweep in FOLDER (its ``sweep.toml``)."""
    parser = argparse.ArgumentParser(prog="python -m gancore._sweep.workers")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--seed-offset", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        sweep = read_sweep(args.folder / DEFINITION, default_registry())
        stopped = run_trials(sweep, args.folder, threads=args.threads, seed_offset=args.seed_offset,
                             say=lambda text: print(text, flush=True))
    except GancoreError as exc:
        if os.environ.get("GANCORE_DEBUG"):
            raise
        print(f"error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    except Stopped as exc:  # a second signal, between trials: at once
        raise SystemExit(exc.exit_code) from None
    raise SystemExit(128 + stopped if stopped else 0)


if __name__ == "__main__":
    main()
