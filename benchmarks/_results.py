"""Shared by the scripts that train a system and write its page in docs/results/."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

import gancore
from _report import ROOT, write_atomically


def add_results_options(parser: argparse.ArgumentParser, page: str, set_help: str) -> None:
    """--set, --threads, --results (docs/results/``page`` by default) and --no-write."""
    parser.add_argument("--set", dest="overrides", action="append", default=[], help=set_help)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (the CPU is shared)")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "results" / page, help="markdown file to write")
    parser.add_argument("--no-write", action="store_true", help="print only")


def train_printing_losses(run: gancore.Run, label: str) -> float:
    """Train ``run`` to its ``train.steps``, printing its losses at every logged step; returns
    the process CPU seconds it took (on a shared CPU the wall clock also counts the time other
    programs held it)."""
    started = time.perf_counter()

    def report(row: dict) -> None:
        losses = " ".join(f"{k}={v:.3f}" for k, v in row.items() if k.startswith("loss_"))
        print(f"[{label}] step {row['step']}/{row['total']} {time.perf_counter() - started:.0f}s {losses}", flush=True)

    cpu = time.process_time()
    run.train(report=report)
    return time.process_time() - cpu


def in_chunks(fn: Callable[[Tensor], Tensor], x: Tensor, size: int) -> Tensor:
    """``fn`` over ``x`` in chunks of ``size`` along the first dimension, so memory stays bounded."""
    return torch.cat([fn(chunk) for chunk in x.split(size)])


def held_out_tensors(run: gancore.Run) -> dict[str, Tensor]:
    """The run's dataset rebuilt whole on its held-out subset, which training never sees."""
    _, name, params = run.recipe.data
    return gancore.build("dataset", name, {**params, "subset": "held-out", "limit": None}).tensors


def command_line(script: str, argv: list[str] | None) -> str:
    """The command that runs ``script`` (its ``__file__``) with ``argv`` (by default this
    process's arguments) from the repository root."""
    return "python " + shlex.join([f"benchmarks/{Path(script).name}", *(sys.argv[1:] if argv is None else argv)])


def write_results(path: Path, text: str) -> None:
    write_atomically(path, text)
    print(f"wrote {path}")
