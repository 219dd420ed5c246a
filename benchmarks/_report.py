"""Shared by the benchmark scripts: machine facts and writing a table into docs/benchmarks.md."""

from __future__ import annotations

import argparse
import datetime as _dt
import math
import multiprocessing
import os
import platform
import re
import statistics
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"


def machine(threads: int | None = None) -> str:
    """The processor, GPU and software; ``threads``: the torch threads each measuring process
    used (by default this process's)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} cores, {device}; Python {platform.python_version()}, "
            f"PyTorch {torch.__version__}, {threads or torch.get_num_threads()} threads")


def script_path() -> str:
    """The running script as the command that runs it from the repository root names it."""
    script = Path(sys.argv[0]).resolve()
    return script.relative_to(ROOT).as_posix() if script.is_relative_to(ROOT) else script.as_posix()


def stamp(threads: int | None = None) -> str:
    command = "python " + " ".join([script_path(), *sys.argv[1:]])
    return f"Command: `{command}`  \nMachine: {machine(threads)}  \nDate: {_dt.date.today().isoformat()}"


def mean_se(values: list[float], digits: int = 2) -> str:
    """``mean ± standard error`` of a few runs' values."""
    if any(math.isinf(v) for v in values):
        return "inf"
    m = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return f"{m:.{digits}f} ± {se:.{digits}f}"


def write_section(name: str, body: str) -> None:
    """Replace the text between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` (or append)."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    block = f"{begin}\n{body.strip()}\n{end}"
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + f"\n\n{block}\n"
    write_atomically(DOC, text)


def publish(section: str, body: str, write: bool = True, threads: int | None = None) -> None:
    """Print a result stamped with its command, machine (``threads`` as in :func:`machine`) and
    date and, when ``write``, put it into its section of docs/benchmarks.md."""
    text = f"{body}  \n{stamp(threads)}"
    print(text)
    if write:
        write_section(section, text)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it, so that a reader (or a
    crash) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def add_worker_options(parser: argparse.ArgumentParser, unit: str = "run") -> None:
    """--threads, --jobs and --no-write, for a script that trains its runs in worker processes."""
    parser.add_argument("--threads", type=int, default=1, help=f"torch threads of each {unit}")
    parser.add_argument("--jobs", type=int, default=1,
                        help=f"{unit}s trained at once, each in its own process (keep jobs x threads <= cores)")
    parser.add_argument("--no-write", action="store_true")


def workers_note(args: argparse.Namespace, unit: str = "run") -> str:
    """How the work was shared out, by the options of :func:`add_worker_options`."""
    return f"{args.jobs} {unit}(s) at a time, each with {args.threads} thread(s)."


def in_workers(fn: Callable, work: Sequence[tuple], jobs: int) -> Iterator:
    """``fn(*args)`` for each tuple of ``work``, ``jobs`` at a time, results in order as they come.
    Spawned workers, so no process inherits another's torch thread pool."""
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield from pool.map(fn, *zip(*work))
