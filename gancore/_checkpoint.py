"""Checkpoints: written atomically, loaded without unpickling arbitrary objects.

A checkpoint is a dict of tensors, numbers and strings saved with ``torch.save`` and read
back with ``torch.load(weights_only=True)``, which refuses anything else. It is written to
a temporary file in the same folder and renamed over the target, so a crash mid-write
leaves the previous checkpoint intact.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import torch

from ._errors import GancoreError
from ._parts import DataSpec

BEST_CHECKPOINT = "best.pt"  # beside the numbered checkpoints: the best-scoring evaluation's weights, never pruned

FORMAT = 2
_NAME = re.compile(r"^step-(\d+)\.pt$")
_TMP = re.compile(r"^\.step-\d+\.pt\..*\.tmp$")
REQUIRED = ("step", "scheme", "optimizers", "rng")


def _upgrade_1(data: dict[str, Any]) -> dict[str, Any]:
    """Format 1 (gancore 0.1 before the update handle): no loss scalers, guard counts or
    finiteness flag; a run of it had none of those to save."""
    data.setdefault("updates", {})
    return data


# format N -> the function that turns a checkpoint of format N into format N + 1.
MIGRATIONS = {1: _upgrade_1}


class CheckpointWarning(UserWarning):
    """A damaged checkpoint was skipped for an older one (the CLI prints it as one line)."""


def remove_stale_temporaries(folder: Path) -> None:
    """Temporary files of saves that were killed before their rename."""
    if folder.is_dir():
        for p in folder.iterdir():
            if _TMP.match(p.name) and p.is_file():
                p.unlink(missing_ok=True)


def write_atomic(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """``write(file)`` into a temporary file beside ``path``, flushed to disk, then renamed
    over ``path``: a reader, or a crash, never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_atomic(obj: Any, path: Path) -> None:
    remove_stale_temporaries(path.parent)
    write_atomic(path, lambda fh: torch.save(obj, fh))


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def load(path: Path, map_location: Any = "cpu", *, mmap: bool = False) -> dict[str, Any]:
    """A checkpoint, upgraded to the current format; a ``GancoreError`` for anything that
    is not a whole gancore checkpoint (empty, truncated, junk, a directory, keys missing,
    or objects ``weights_only`` refuses to unpickle). ``mmap=True`` reads tensors only
    when they are used (to read a checkpoint's small records cheaply)."""
    if path.exists() and not path.is_file():
        raise GancoreError(f"cannot load checkpoint {path}: not a file")
    try:
        loaded = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except FileNotFoundError:
        raise GancoreError(f"checkpoint not found: {path}") from None
    except Exception as exc:  # truncated, not a checkpoint, or holding objects we refuse to unpickle
        raise GancoreError(f"cannot load checkpoint {path}: {_first_line(exc)}") from None
    data: dict[str, Any] = loaded if isinstance(loaded, dict) else {}  # not a dict: not a checkpoint, below
    version = data.get("format")
    if not isinstance(version, int) or version < 1:
        raise GancoreError(f"{path} is not a gancore checkpoint")
    if version > FORMAT:
        raise GancoreError(f"{path} was written by a newer gancore (checkpoint format {version}; this one reads up to {FORMAT})")
    while version < FORMAT:
        data = MIGRATIONS[version](data)
        version += 1
    data["format"] = FORMAT
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise GancoreError(f"{path} is not a whole gancore checkpoint: it has no {', '.join(missing)}")
    return data


def checkpoint_path(folder: Path, step: int) -> Path:
    return folder / f"step-{step:07d}.pt"


def list_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """(step, path) pairs, oldest first."""
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = _NAME.match(p.name)
        if m:  # a directory of that name is listed too: loading it fails with a warning
            found.append((int(m.group(1)), p))
    return sorted(found)


def state_is_finite(state: Any) -> bool:
    """Whether every floating-point tensor in a (nested) state is finite: one device sync."""
    flags = [torch.isfinite(t).all() for t in _tensors(state) if t.is_floating_point() and t.numel()]
    return bool(torch.stack([f.cpu() for f in flags]).all()) if flags else True


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    return []


def is_finite(path: Path) -> bool:
    """Whether a checkpoint's weights are finite (False for one that does not load)."""
    try:
        data = load(path)
    except GancoreError:
        return False
    finite = data.get("finite")
    return bool(finite) if finite is not None else state_is_finite([data.get("scheme"), data.get("ema")])


def newest_finite(folder: Path) -> tuple[int, Path] | None:
    for step, path in reversed(list_checkpoints(folder)):
        if is_finite(path):
            return step, path
    return None


def prune(folder: Path, keep: int, *, newest_is_finite: bool = True) -> None:
    """Keep the ``keep`` newest checkpoints, and the newest finite one when those are not
    (a run trained on with ``on_nonfinite = "ignore"`` must not lose its last good weights)."""
    found = list_checkpoints(folder)
    older, kept = found[:-keep], found[-keep:]
    if not newest_is_finite and not any(is_finite(p) for _, p in kept[:-1]):
        for i in range(len(older) - 1, -1, -1):
            if is_finite(older[i][1]):
                older.pop(i)
                break
    for _, path in older:
        if path.is_file():  # never remove what gancore did not write
            path.unlink(missing_ok=True)


def beats(value: Any, best: Mapping[str, Any] | None, key: str, higher: bool) -> bool:
    """Whether an evaluation's ``value`` of ``key`` beats the best record (a record of
    another metric counts as none)."""
    if not (isinstance(value, float) and math.isfinite(value)):
        return False
    if best is None or best.get("metric") != key:
        return True
    return bool(value > best["value"] if higher else value < best["value"])


def choose(folder: Path, *, step: int | None, best: bool,
           map_location: Any = "cpu") -> tuple[dict[str, Any] | None, str | None]:
    """The checkpoint a run is loaded at: the newest that loads (None when there is none),
    the one of ``step``, or the best one; and, for an older one, why the run may then be
    sampled but not trained (training on would fork its history)."""
    where = folder.parent
    if best:
        if not (folder / BEST_CHECKPOINT).is_file():
            raise GancoreError(f"{where} has no best checkpoint (one is kept when [eval] evaluates during training)")
        state = load(folder / BEST_CHECKPOINT, map_location)
        return state, f"it was loaded at its best checkpoint (step {state['step']}), not at its newest"
    if step is None:
        return load_latest(folder, map_location), None
    kept = dict(list_checkpoints(folder))
    if step not in kept:
        raise GancoreError(f"{where} has no checkpoint of step {step} (it has: {', '.join(map(str, kept)) or 'none'})")
    older = f"it was loaded at step {step}, not at its newest checkpoint ({max(kept)})" if step != max(kept) else None
    return load(kept[step], map_location), older


def best_record(folder: Path) -> dict[str, Any] | None:
    """The best checkpoint's record (metric, value, step), or None when there is none; a
    damaged one is skipped with a warning, and the next better evaluation replaces it."""
    path = folder / BEST_CHECKPOINT
    if not path.is_file():
        return None
    try:
        record = load(path, mmap=True).get("best")
    except GancoreError as exc:
        warnings.warn(f"skipped a damaged best checkpoint: {exc}", CheckpointWarning, stacklevel=2)
        return None
    return dict(record) if isinstance(record, dict) else None


def load_latest(folder: Path, map_location: Any = "cpu") -> dict[str, Any] | None:
    """The newest checkpoint that loads; a damaged newest one falls back to the one before."""
    errors = []
    for _, path in reversed(list_checkpoints(folder)):
        try:
            data = load(path, map_location)
        except GancoreError as exc:
            errors.append(str(exc))
            continue
        for error in errors:
            warnings.warn(f"skipped a damaged checkpoint: {error}", CheckpointWarning, stacklevel=2)
        return data
    if errors:
        raise GancoreError("no loadable checkpoint: " + "; ".join(errors))
    return None


def spec_entry(spec: DataSpec) -> dict[str, Any]:
    """A checkpoint's record of the data the networks were built for (plain values)."""
    entry: dict[str, Any] = {"shape": list(spec.shape), "num_classes": spec.num_classes,
                             "fields": {k: list(v) for k, v in spec.fields.items()}}
    if spec.class_names is not None:
        entry["class_names"] = list(spec.class_names)
    return entry


def stored_spec(state: Mapping[str, Any]) -> DataSpec | None:
    """The data spec a checkpoint records (None for one written before they did)."""
    entry = state.get("data")
    if not isinstance(entry, Mapping):
        return None
    names = entry.get("class_names")
    return DataSpec(shape=tuple(entry["shape"]), num_classes=entry.get("num_classes"),
                    fields={k: tuple(v) for k, v in entry.get("fields", {}).items()},
                    class_names=tuple(names) if names is not None else None)


def check_same_data(found: DataSpec, stored: DataSpec) -> None:
    """Training on from a checkpoint: the data must still be what the networks were built
    for. Renamed classes are still the same classes."""
    if (found.shape, found.num_classes, dict(found.fields)) != (stored.shape, stored.num_classes, dict(stored.fields)):
        raise GancoreError(f"the data has changed since the checkpoint: it holds {describe_spec(found)}, "
                           f"the networks were built for {describe_spec(stored)}")


def describe_spec(spec: DataSpec) -> str:
    classes = f", {spec.num_classes} classes" if spec.num_classes else ""
    return " x ".join(map(str, spec.shape)) + " samples" + classes
