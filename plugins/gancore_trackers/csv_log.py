"""Metrics rows as a CSV file, for spreadsheets and tools that do not read JSON lines."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gancore


class CsvLog(gancore.Callback):
    """Every metrics row as a line of a CSV file; a column appears when its value first does.

    Args:
        path: the CSV file (default: the run directory's metrics.csv)
    """

    def __init__(self, path: str | None = None) -> None:
        self.path_setting = path
        self.path: Path | None = None
        self.columns: list[str] = []
        self.rows: list[dict[str, Any]] = []

    def on_start(self, run: Any) -> None:
        if self.path_setting is None and run.out is None:
            raise gancore.GancoreError("the csv callback needs a run directory (out=...) or a path")
        self.path = Path(self.path_setting) if self.path_setting is not None else Path(run.out) / "metrics.csv"
        self.rows, self.columns = [], []
        if self.path.exists():  # a resumed run keeps the rows up to its checkpoint
            with open(self.path, newline="") as fh:
                self.rows = [r for r in csv.DictReader(fh) if r.get("step") and int(r["step"]) <= run.step]
            self.columns = list(dict.fromkeys(k for r in self.rows for k in r))
        self._rewrite()

    def on_log(self, run: Any, row: Mapping[str, Any]) -> None:
        self.rows.append(dict(row))
        new = [k for k in row if k not in self.columns]
        if new:  # a new column: the file is written again with the wider header
            self.columns += new
            self._rewrite()
            return
        assert self.path is not None
        with open(self.path, "a", newline="") as fh:
            csv.DictWriter(fh, self.columns).writerow(dict(row))

    def _rewrite(self) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, self.columns)
            writer.writeheader()
            writer.writerows(self.rows)
        os.replace(tmp, self.path)
