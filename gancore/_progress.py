"""Training progress as a callback: a rich bar on a terminal, plain lines elsewhere (logs,
CI, pipes). The CLI uses it; in Python, ``run.train(progress=True)`` shows the same."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress as _Bar, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ._parts import Callback

_SKIP = {"step", "total", "seconds", "steps_per_sec"}


def _values(row: Mapping[str, Any]) -> str:
    return "  ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in _SKIP and isinstance(v, (int, float)))


class Progress(Callback):
    """Shows each metrics row: a progress bar when stderr is a terminal, else a line on stdout."""

    def __init__(self, *, bar: bool | None = None) -> None:
        self.bar = sys.stderr.isatty() if bar is None else bar
        self._progress: _Bar | None = None
        self._task: Any = None
        self._out = Console(highlight=False, soft_wrap=True)

    def on_start(self, run: Any) -> None:
        self.total = run.target_steps
        if self.bar:
            self._progress = _Bar(
                TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[speed]}"),
                TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[values]}"),
                console=Console(stderr=True, highlight=False, soft_wrap=True),
            )
            self._task = self._progress.add_task("train", total=self.total, completed=run.step, speed="", values="")
            self._progress.start()

    def on_log(self, run: Any, row: Mapping[str, Any]) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=row["step"], speed=f"{row['steps_per_sec']:.1f} it/s", values=_values(row))
        else:
            self._out.print(f"step {row['step']}/{self.total}  {row['steps_per_sec']:.1f} it/s  {_values(row)}", markup=False)

    def _stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def on_end(self, run: Any) -> None:
        self._stop()

    def on_failure(self, run: Any, error: BaseException) -> None:
        self._stop()
