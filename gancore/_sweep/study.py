"""The Optuna side of a sweep: the storage (a SQLite file in the sweep folder, or any
database URL), the study every process of the sweep shares, what counts towards the
requested number of trials, and trials whose process died.

A trial counts when it ended on its own: complete, pruned, or failed for a reason of its
own (a value the recipe refuses, a run that diverged). A trial cut short (Ctrl-C, kill -9,
a machine lost) does not count: it is marked failed, with ``retried`` set, and queued
again with the same values; the trial that takes it up continues its run directory from
the newest checkpoint (see ``trial``).

A trial whose process died is found two ways. On this machine, at once: each process
running trials holds a lock on a file named after it (``DIR/.workers/HOST-PID``), which
the kernel releases however the process ends; a running trial whose process no longer
holds its lock is abandoned. On any machine, later: Optuna's heartbeat (each running trial
writes one every ``HEARTBEAT_SECONDS``; one silent for ``GRACE_SECONDS`` is failed by the
next process that looks, and queued again here).
"""

from __future__ import annotations

import json
import os
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from .._errors import GancoreError
from .parts import build_part
from .sweepfile import Sweep

DATABASE = "study.db"
WORKERS = ".workers"
HEARTBEAT_SECONDS = 60
GRACE_SECONDS = 180

# User attributes of a trial (readable by Optuna's own tools: optuna-dashboard, the optuna CLI).
RUN = "run"  # its run directory, relative to the sweep folder
WORKER = "worker"  # HOST:PID of the process that runs it
FAILURE = "failure"  # why it failed
RETRIED = "retried"  # it was cut short and queued again; it does not count
RESUMES = "resumes"  # the number of the trial whose run it continues
STEP = "step"  # the step it ended at

# The parts of a sweep that say what a trial is: a process joining the study must agree.
_DEFINING = ("recipe", "name", "overrides", "space", "objective")
_STUDY_ATTR = "gancore_sweep"


def storage_url(sweep: Sweep, folder: Path) -> str:
    return sweep.storage or f"sqlite:///{(folder / DATABASE).resolve()}"


def shown(url: str) -> str:
    """A storage URL with its password hidden."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy reads: opening it says why
        return url


def open_storage(url: str, *, heartbeat: bool = False) -> optuna.storages.RDBStorage:
    """The study's database; with ``heartbeat``, as the processes that run trials open it."""
    # Several processes write to one SQLite file: each waits for another's write to end
    # rather than failing with "database is locked" after SQLite's default 5 s.
    engine_kwargs: dict[str, Any] = {"connect_args": {"timeout": 300}} if url.startswith("sqlite") else {}
    beats: dict[str, Any] = {}
    if heartbeat:
        beats = {"heartbeat_interval": HEARTBEAT_SECONDS, "grace_period": GRACE_SECONDS,
                 "heartbeat_stale_trial_callback": _stale}
    # The sweep prints a line per trial of its own; Optuna's log would repeat each, and
    # log a failed trial's traceback when its reason is one line.
    optuna.logging.set_verbosity(optuna.logging.CRITICAL)
    try:
        with warnings.catch_warnings():  # Optuna marks its heartbeat experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **beats)
    except ImportError as exc:
        raise GancoreError(f"storage {shown(url)}: {exc}; install the database's Python driver") from None
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy's many errors for a URL or database that does not work
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GancoreError(f"storage {shown(url)}: cannot open it: {first}") from None


def open_study(sweep: Sweep, storage: optuna.storages.BaseStorage, *, seed_offset: int = 0) -> optuna.Study:
    """The sweep's study, created by the first process to ask; one started from another
    definition is refused. ``seed_offset`` sets this process's sampler apart from its
    siblings' (--jobs) when the sampler has a seed."""
    name, params = sweep.sampler
    if seed_offset and params.get("seed") is not None:
        params = {**params, "seed": params["seed"] + seed_offset}
    supplied = {"search_space": sweep.grid()} if name == "grid" else {}
    sampler = build_part("sampler", name, params, **supplied)
    pruner = build_part("pruner", *sweep.pruner)
    study = optuna.create_study(storage=storage, study_name=sweep.study, direction=sweep.objective.direction,
                                sampler=sampler, pruner=pruner, load_if_exists=True)
    mine = json.dumps({k: sweep.definition()[k] for k in _DEFINING}, sort_keys=True)
    theirs = study.user_attrs.get(_STUDY_ATTR)
    if theirs is None:
        study.set_user_attr(_STUDY_ATTR, mine)
    elif theirs != mine:
        differ = [k for k in _DEFINING if json.loads(theirs).get(k) != json.loads(mine).get(k)]
        raise GancoreError(f"study {sweep.study!r} in {shown(storage_url_of(storage))} was started from another sweep "
                           f"(its {', '.join(differ)} differ); name another study (study = \"...\")")
    if study.direction.name.lower() != sweep.objective.direction:
        raise GancoreError(f"study {sweep.study!r} already exists and {study.direction.name.lower()}s; "
                           "name another study (study = \"...\")")
    return study


def storage_url_of(storage: optuna.storages.BaseStorage) -> str:
    return str(getattr(storage, "url", "the storage"))


@dataclass(frozen=True)
class Tally:
    """A study's trials by what they mean for the sweep."""

    complete: int
    pruned: int
    failed: int  # failed for a reason of their own: they count
    retried: int  # cut short and queued again: they do not
    running: int
    waiting: int

    @property
    def finished(self) -> int:
        return self.complete + self.pruned + self.failed


def counts(trial: FrozenTrial) -> bool:
    """Whether ``trial`` counts towards the requested number."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and FAILURE in trial.user_attrs and not trial.user_attrs.get(RETRIED)


def tally(study: optuna.Study) -> Tally:
    trials = study.get_trials(deepcopy=False)
    state = [t.state for t in trials]
    failed = sum(1 for t in trials if t.state == TrialState.FAIL and counts(t))
    return Tally(complete=state.count(TrialState.COMPLETE), pruned=state.count(TrialState.PRUNED), failed=failed,
                 retried=state.count(TrialState.FAIL) - failed, running=state.count(TrialState.RUNNING),
                 waiting=state.count(TrialState.WAITING))


# -- trials whose process died -------------------------------------------------------------


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _worker_file(folder: Path, worker: str) -> Path:
    return folder / WORKERS / worker.replace(":", "-").replace("/", "_")


class WorkerLock:
    """Held by a process for as long as it runs trials: proof of life for its trials."""

    def __init__(self, folder: Path) -> None:
        self.name = worker_name()
        self.path = _worker_file(folder, self.name)
        self._fd: int | None = None

    def __enter__(self) -> WorkerLock:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None
            self.path.unlink(missing_ok=True)


def _alive(folder: Path, worker: str) -> bool | None:
    """Whether the process ``worker`` (HOST:PID) still runs; None when that cannot be told
    from here (another machine: the heartbeat tells)."""
    import fcntl

    host, _, _ = worker.rpartition(":")
    if host != socket.gethostname():
        return None
    try:
        fd = os.open(_worker_file(folder, worker), os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def recover_abandoned(study: optuna.Study, folder: Path) -> list[int]:
    """Fail the running trials of this machine's dead processes and queue them again;
    their numbers. (Trials of other machines are the heartbeat's.)"""
    found = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get(WORKER)
        if not isinstance(worker, str) or _alive(folder, worker) is not False:
            continue
        if give_up(study, trial, "its process ended while it ran (killed?); queued again"):
            found.append(trial.number)
    return found


def give_up(study: optuna.Study, trial: FrozenTrial, reason: str) -> bool:
    """Mark the running ``trial`` failed with ``reason`` and queue its values again;
    False when another process did it first."""
    storage = study._storage  # Optuna's public API sets attributes only on one's own trials
    try:
        storage.set_trial_user_attr(trial._trial_id, FAILURE, reason)
        storage.set_trial_user_attr(trial._trial_id, RETRIED, True)
        if not storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
            return False
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    queue_again(study, trial.number, trial.params, trial.user_attrs.get(RUN))
    return True


def queue_again(study: optuna.Study, number: int, params: dict[str, Any], run: str | None) -> None:
    """A new trial with the values of trial ``number``, continuing its run directory ``run``."""
    attrs: dict[str, Any] = {RESUMES: number}
    if run is not None:
        attrs[RUN] = run
    study.enqueue_trial(params, user_attrs=attrs)


def _stale(study: optuna.Study, trial: FrozenTrial) -> None:
    """Optuna's heartbeat failed ``trial`` (its process went silent): queue it again."""
    queue_again(study, trial.number, trial.params, trial.user_attrs.get(RUN))
