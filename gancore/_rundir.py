"""The run directory: its file names, the lock that allows one writer, and what a
training process writes there besides checkpoints (the resolved recipe, metrics lines).

The lock is an advisory ``flock`` on ``RUN/.lock``, which the kernel releases when the process ends in
any way (kill -9 included), so a crashed run never leaves a stale lock behind. The file
holds the holder's process id, for the error message only. Readers (``gancore sample``,
``gancore eval``) take no lock.
"""

from __future__ import annotations

import os
from pathlib import Path

import tomli_w

from ._artifacts import json_line, read_metrics
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
BEST_CHECKPOINT = "best.pt"  # in CHECKPOINTS: the best-scoring evaluation's weights, never pruned
SAMPLES = "samples"


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
            raise GancoreError(
                f"{self.folder} is in use: another gancore process (pid {holder}) is training into it; "
                "wait for it to finish, or stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
