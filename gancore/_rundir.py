"""The run directory: its file names, which folders a run may be started in or loaded
from, the lock that allows one writer, and what a training process writes there besides
checkpoints (the resolved recipe, metrics lines).

One rule for every entry point (``create_run``, ``load_run``, ``gancore train`` new or
``--resume``, ``sample``, ``eval``): a new run goes into a new or empty folder, never into a
file, another run, or a folder of someone else's files; a run is loaded only from a folder
that holds one. Continuing a run is suggested only where there is a run to continue.

The lock is an advisory ``flock`` on ``RUN/.lock``, which the kernel releases when the process ends in
any way (kill -9 included), so a crashed run never leaves a stale lock behind. The file
holds the holder's process id, for the error message only. Readers (``gancore sample``,
``gancore eval``) take no lock.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from ._artifacts import json_line, read_metrics
from ._checkpoint import BEST_CHECKPOINT, list_checkpoints
from ._errors import GancoreError

try:
    import fcntl
except ImportError:  # not POSIX: no lock (documented)
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"
RECIPE_FILE = "recipe.toml"
METRICS_FILE = "metrics.jsonl"
CURVES_FILE = "curves.png"
CHECKPOINTS = "checkpoints"
SAMPLES = "samples"


@dataclass(frozen=True)
class Advice:
    """How a refusal tells its reader to go on: in the words of Python's API or the CLI's."""

    resume: str  # how to continue the run in {path}
    elsewhere: str  # how to pick another folder


PYTHON = Advice(resume="load_run({path!r})", elsewhere="choose another directory")
CLI = Advice(resume="--resume", elsewhere="choose another --out")


def check_new(folder: Path, advice: Advice = PYTHON) -> None:
    """Refuse ``folder`` for a new run unless it is absent or empty (a lock file aside: a
    run that was refused or stopped before writing anything leaves one)."""
    if not folder.exists():
        return
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.is_file() else "is not a folder"
        raise GancoreError(f"{folder} {what} for a run; {advice.elsewhere}")
    if not any(p.name != LOCK_FILE for p in folder.iterdir()):
        return
    if not (folder / RECIPE_FILE).is_file():
        raise GancoreError(f"{folder} is not empty and holds no gancore run (no {RECIPE_FILE}); a new run needs a new "
                           f"or empty folder: {advice.elsewhere}")
    holder = RunLock.holder(folder)
    if holder is not None:  # a run still writing its first checkpoint is not one that stopped early
        raise _in_use(folder, holder)
    if not list_checkpoints(folder / CHECKPOINTS):
        raise GancoreError(f"{folder} holds a run that stopped before its first checkpoint, so there is nothing "
                           f"to resume; remove it (rm -r {folder}) or {advice.elsewhere}")
    resume = advice.resume.format(path=str(folder))
    raise GancoreError(f"{folder} already holds a run; continue it with {resume} or {advice.elsewhere}")


def check_run(folder: Path) -> None:
    """Refuse to load a run from ``folder`` unless it holds one."""
    if not folder.exists():
        raise GancoreError(f"{folder} does not exist")
    if not folder.is_dir():
        raise GancoreError(f"{folder} is {'a file' if folder.is_file() else 'not a folder'}, not a gancore run")
    if not (folder / RECIPE_FILE).is_file():
        raise GancoreError(f"{folder} is not a gancore run (no {RECIPE_FILE})")


def prepare(folder: Path, resolved_recipe: dict[str, object], step: int) -> None:
    """Write the resolved recipe (atomically) and drop the metric lines after ``step``,
    which a resumed run is about to write again."""
    folder.mkdir(parents=True, exist_ok=True)
    recipe_path = folder / RECIPE_FILE
    tmp = recipe_path.with_name(f".{RECIPE_FILE}.tmp")
    tmp.write_text(tomli_w.dumps(resolved_recipe))
    tmp.replace(recipe_path)
    metrics = folder / METRICS_FILE
    if metrics.exists():
        keep = [json_line(r) for r in read_metrics(metrics) if r.get("step", 0) <= step]
        metrics.write_text("".join(line + "\n" for line in keep))


def append_metrics(folder: Path, row: dict[str, object]) -> None:
    with open(folder / METRICS_FILE, "a") as fh:
        fh.write(json_line(row) + "\n")


def _in_use(folder: Path, holder: str) -> GancoreError:
    return GancoreError(f"{folder} is in use: another gancore process (pid {holder}) is training into it; "
                        "wait for it to finish, or stop it first")


class RunLock:
    """``with RunLock(folder):`` holds the folder's lock, or fails at once naming the holder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        if fcntl is None or self._fd is not None:
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise _in_use(self.folder, holder) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    @staticmethod
    def holder(folder: Path) -> str | None:
        """The process id of whoever else holds ``folder``'s lock now ("unknown" if it
        wrote none yet), or None when it is free or this process holds it; the folder is
        left as it was."""
        if fcntl is None:
            return None
        try:
            fd = os.open(folder / LOCK_FILE, os.O_RDONLY)
        except OSError:
            return None  # no lock file: nobody holds it
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            return None if holder == str(os.getpid()) else holder
        finally:
            os.close(fd)  # closing releases a lock this probe took
        return None

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
