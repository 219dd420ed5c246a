"""Where a dataset's uint8 images live: in memory when the set fits a budget, otherwise
in a memory-mapped cache file that is written once and read by every later run.

A dataset plugin hands over the shape of its set, a key (what the images are made from:
its files with their sizes and modification times, and its load parameters) and a
``fill`` function that decodes the images into an array. Within the budget the array is
plain memory. Beyond it, the array is a file in the cache folder (``$GANCORE_CACHE/images``),
filled with a progress bar, written aside and renamed, and mapped back: the operating
system pages rows in as batches need them, so a set larger than memory trains. A cache
whose key, format or size does not match is rebuilt; processes of one job wait for
the first one's cache instead of writing their own.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ._errors import GancoreError

FORMAT = 1  # bumped whenever the cache layout changes: older caches are rebuilt
_DATA, _META = "images.u8", "meta.json"

# fill(out, advance) decodes the set into ``out`` (N x C x H x W uint8), calling advance(k)
# as k more images are done. It returns how many leading rows it kept (an unreadable file
# can leave one out) and notes to keep with the images (JSON: they come back on reuse).
Fill = Callable[[np.ndarray, Callable[[int], None]], tuple[int, dict[str, Any]]]


def cache_dir() -> Path:
    """gancore's cache folder: ``$GANCORE_CACHE``, else ``~/.cache/gancore``."""
    configured = os.environ.get("GANCORE_CACHE", "").strip()
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "gancore"


def default_memory_limit() -> int:
    """Half the machine's memory, shared among the processes a launcher started on it."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # no sysconf (Windows): assume 16 GiB
        total = 16 << 30
    return total // 2 // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))


def stored_images(
    shape: tuple[int, int, int, int],
    fill: Fill,
    *,
    key: Mapping[str, Any],
    memory_limit: int | None = None,
    what: str = "images",
) -> tuple[Tensor, dict[str, Any]]:
    """The set's images as one uint8 tensor (rows x C x H x W) and ``fill``'s notes.

    In memory when ``N*C*H*W`` bytes fit ``memory_limit`` (default
    :func:`default_memory_limit`); otherwise mapped from the cache, which ``fill`` writes
    only when no valid cache for ``key`` exists. ``key`` must change whenever the images
    would: list the source files with sizes and mtimes, and every load parameter.
    """
    limit = default_memory_limit() if memory_limit is None else memory_limit
    if int(np.prod(shape)) <= limit:
        out = np.empty(shape, dtype=np.uint8)
        rows, notes = fill(out, lambda k: None)
        if rows < shape[0]:
            out.resize((rows, *shape[1:]), refcheck=False)  # nothing else holds a view of it
        return torch.from_numpy(out), notes
    return _cached(shape, fill, dict(key), what)


def is_mapped(t: Tensor) -> bool:
    """Whether ``t`` is read from a file (a cache made by :func:`stored_images`)."""
    return t.untyped_storage().filename is not None


def _cached(shape: tuple[int, int, int, int], fill: Fill, key: dict[str, Any], what: str) -> tuple[Tensor, dict[str, Any]]:
    identity = json.dumps({"format": FORMAT, "shape": list(shape), "key": key}, sort_keys=True, default=str)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
    folder = cache_dir() / "images" / digest
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GancoreError(f"{what}: cannot make the image cache folder {folder.parent}: {exc}") from None
    with _locked(folder.with_suffix(".lock")):
        found = _open(folder, identity, shape)
        if found is not None:
            return found
        shutil.rmtree(folder, ignore_errors=True)  # another version's, or damaged: rebuilt
        _write(folder, identity, shape, fill, what)
        found = _open(folder, identity, shape)
        assert found is not None, "a cache just written must open"
        return found


def _open(folder: Path, identity: str, shape: tuple[int, ...]) -> tuple[Tensor, dict[str, Any]] | None:
    """The cached images, or None if there is no cache or it is not this set's."""
    try:
        meta = json.loads((folder / _META).read_text())
        rows, row_bytes = int(meta["rows"]), int(np.prod(shape[1:]))
        if meta.get("identity") != identity or not 0 < rows <= shape[0]:
            return None
        if (folder / _DATA).stat().st_size != rows * row_bytes:
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    flat = torch.from_file(str(folder / _DATA), shared=True, size=rows * row_bytes, dtype=torch.uint8)
    return flat.view(rows, *shape[1:]), dict(meta.get("notes") or {})


def _write(folder: Path, identity: str, shape: tuple[int, ...], fill: Fill, what: str) -> None:
    """Decode the set into a file beside ``folder`` and rename it into place."""
    size = int(np.prod(shape))
    free = shutil.disk_usage(folder.parent).free
    if size > free:
        raise GancoreError(
            f"{what}: the image cache needs {_mb(size)} and {folder.parent} has {_mb(free)} free; "
            "point GANCORE_CACHE at a larger disk, or raise data.memory_limit to hold the set in memory"
        )
    part = folder.with_name(f"{folder.name}.part-{os.getpid()}")
    shutil.rmtree(part, ignore_errors=True)
    part.mkdir()
    try:
        data = part / _DATA
        with open(data, "wb") as f:
            # Reserve the space now: running out of disk inside a memory map would kill the
            # process instead of raising.
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(f.fileno(), 0, size)
            else:
                f.truncate(size)
        out = np.memmap(data, dtype=np.uint8, mode="r+", shape=shape)
        with _progress(f"{what}: caching {shape[0]} images ({_mb(size)}) in {folder}", shape[0]) as advance:
            rows, notes = fill(out, advance)
        out.flush()
        del out
        os.truncate(data, rows * int(np.prod(shape[1:])))
        meta = {"identity": identity, "rows": rows, "shape": list(shape), "notes": notes}
        (part / _META).write_text(json.dumps(meta))
        os.replace(part, folder)
    except OSError as exc:
        shutil.rmtree(part, ignore_errors=True)
        raise GancoreError(f"{what}: cannot write the image cache in {folder.parent}: {exc}") from None
    except BaseException:
        shutil.rmtree(part, ignore_errors=True)
        raise


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path``: the processes of one job (and runs started at
    once) wait for the first one's cache instead of each writing the same file."""
    try:
        import fcntl
    except ImportError:  # no fcntl (Windows): the rename alone keeps the cache whole
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    if not console.is_terminal:  # a log: one line before, none per image
        console.print(f"gancore: {description}", highlight=False, soft_wrap=True)
        yield lambda k: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda k: bar.advance(task, k)


def _mb(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):,.1f} {unit}"
    return f"{n} bytes"
