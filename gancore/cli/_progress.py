"""Training progress: a rich bar on a terminal, plain lines elsewhere (logs, CI, pipes)."""

from __future__ import annotations

import sys
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ._output import console, err_console

_SKIP = {"step", "total", "seconds", "steps_per_sec"}


def _values(row: dict[str, Any]) -> str:
    return "  ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in _SKIP and isinstance(v, (int, float)))


class PlainReporter:
    def __call__(self, row: dict[str, Any]) -> None:
        console.print(f"step {row['step']}/{row['total']}  {row['steps_per_sec']:.1f} it/s  {_values(row)}", markup=False)

    def __enter__(self) -> "PlainReporter":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


class BarReporter:
    def __init__(self, start: int, total: int) -> None:
        self.progress = Progress(
            TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[speed]}"),
            TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[values]}"), console=err_console,
        )
        self.task = self.progress.add_task("train", total=total, completed=start, speed="", values="")

    def __call__(self, row: dict[str, Any]) -> None:
        self.progress.update(self.task, completed=row["step"], speed=f"{row['steps_per_sec']:.1f} it/s", values=_values(row))

    def __enter__(self) -> "BarReporter":
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()


def reporter(start: int, total: int) -> PlainReporter | BarReporter:
    return BarReporter(start, total) if sys.stderr.isatty() else PlainReporter()
