"""How many CPU threads a training process uses when its recipe does not say.

PyTorch starts one thread per core: the fastest choice for a process alone on a machine.
Beside another busy process the threads of both compete for the cores, and OpenMP's
threads spin while they wait for each other: on 2 cores the default DCGAN fell from 20 to
4 steps/s, against 13 with one thread (docs/benchmarks.md, "Threads"). So, once per
process, a run that leaves ``train.threads`` unset looks at how many cores other
processes keep busy and takes only the rest (at least one), saying so in one line.
An explicit ``train.threads``, ``--threads`` or ``OMP_NUM_THREADS`` is always obeyed.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Mapping
from typing import Any

import torch

from ._errors import RecipeWarning

_SAMPLE_S = 0.1  # how long the machine's CPU counters are watched
_checked = False  # once per process: the answer would not change between runs


class ThreadsWarning(RecipeWarning):
    """A run took fewer threads than cores because other processes keep cores busy."""


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def busy_cores(interval: float = _SAMPLE_S) -> float | None:
    """Cores kept busy by the machine's other processes over ``interval`` seconds (this
    one waits meanwhile), from /proc/stat; None where there is no such file."""

    def counters() -> tuple[int, int] | None:
        try:
            with open("/proc/stat") as f:
                fields = [int(v) for v in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle and iowait
        return sum(fields[:8]) - idle, sum(fields[:8])

    first = counters()
    if first is None:
        return None
    time.sleep(interval)
    second = counters()
    if second is None or second[1] <= first[1]:
        return None
    share = (second[0] - first[0]) / (second[1] - first[1])
    return share * (os.cpu_count() or 1)


def choose_threads(requested: int | None, *, device: torch.device, distributed: bool) -> None:
    """Set torch's thread count for a training process (see the module's docstring)."""
    global _checked
    if requested is not None:
        torch.set_num_threads(requested)
        return
    if _checked or device.type != "cpu" or distributed or "OMP_NUM_THREADS" in os.environ:
        return  # a launcher divides the cores among a job's processes itself
    _checked = True
    busy = busy_cores()
    cores = usable_cores()
    if busy is None or busy < 0.75:
        return
    threads = max(1, cores - round(busy))
    if threads < torch.get_num_threads():
        torch.set_num_threads(threads)
        warnings.warn(f"other processes keep {busy:.1f} of this machine's {cores} cores busy: training with {threads} "
                      f"thread{'s' if threads > 1 else ''} instead of {cores}, so that neither slows the other "
                      "down; set train.threads (--threads) to choose", ThreadsWarning, stacklevel=2)


def with_threads(overrides: Mapping[str, Any] | list[str] | None, threads: int | None) -> Mapping[str, Any] | list[str] | None:
    """``threads=`` of ``create_run`` / ``load_run`` as the override it stands for (checked
    with the recipe's other values)."""
    if threads is None:
        return overrides
    if isinstance(overrides, list):
        return [*overrides, f"train.threads={json.dumps(threads)}"]  # a TOML value, typed as given
    return {**(overrides or {}), "train.threads": threads}
