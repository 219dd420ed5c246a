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

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def machine() -> str:
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
            f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")


def stamp(command: str | None = None) -> str:
    command = command or "python " + " ".join([Path(sys.argv[0]).as_posix().split("/main/")[-1]] + sys.argv[1:])
    return f"Command: `{command}`  \nMachine: {machine()}  \nDate: {_dt.date.today().isoformat()}"


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
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text)


def add_worker_options(parser: argparse.ArgumentParser, unit: str = "run") -> None:
    """--threads, --jobs and --no-write, for a script that trains its runs in worker processes."""
    parser.add_argument("--threads", type=int, default=1, help=f"torch threads of each {unit}")
    parser.add_argument("--jobs", type=int, default=1,
                        help=f"{unit}s trained at once, each in its own process (keep jobs x threads <= cores)")
    parser.add_argument("--no-write", action="store_true")


def in_workers(fn: Callable, work: Sequence[tuple], jobs: int) -> Iterator:
    """``fn(*args)`` for each tuple of ``work``, ``jobs`` at a time, results in order as they come.
    Spawned workers, so no process inherits another's torch thread pool."""
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield from pool.map(fn, *zip(*work))
