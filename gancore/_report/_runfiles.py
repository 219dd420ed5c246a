"""What a report reads from a run directory's files: the recipe as written, the metric
lines, the sample grids of every sample step and the environment of each session.

Read strictly: a report made from a half-readable run would show curves that are silently
wrong, so a metrics file that is not JSON lines is refused (only a last line cut short by
a crash is dropped, as the run itself drops it).
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import _rundir as rundir
from .._environment import read_sessions
from .._errors import GancoreError

_SAMPLE_NAME = re.compile(r"step-(\d+)\.png")


@dataclass
class RunFiles:
    """One run directory's files, read."""

    path: Path
    recipe_text: str  # recipe.toml as the run wrote it
    recipe: dict[str, Any]
    rows: list[dict[str, Any]]
    samples: list[tuple[int, bytes]]  # (step, PNG) for every sample grid, by step
    sessions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def description(self) -> str:
        value = self.recipe.get("description", "")
        return value if isinstance(value, str) else ""

    @property
    def steps(self) -> int:
        """The last logged step (0 before the first log line)."""
        return max((r["step"] for r in self.rows if isinstance(r.get("step"), int)), default=0)

    @property
    def seconds(self) -> float | None:
        """Training time of the last log line (carried across resumes), when logged."""
        times = [r["seconds"] for r in self.rows if isinstance(r.get("seconds"), (int, float))]
        return float(times[-1]) if times else None


def read_run_files(path: Path) -> RunFiles:
    rundir.check_run(path)
    recipe_path = path / rundir.RECIPE_FILE
    try:
        text = recipe_path.read_text(encoding="utf-8")
        recipe = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise GancoreError(f"cannot read {recipe_path}: {exc}") from None
    return RunFiles(path, text, recipe, read_metric_rows(path / rundir.METRICS_FILE), read_samples(path / rundir.SAMPLES),
                    read_sessions(path))


def read_metric_rows(path: Path) -> list[dict[str, Any]]:
    """Every line of ``metrics.jsonl`` as a dict with an integer ``step``; none when the run
    has logged nothing yet."""
    if not path.exists():
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise GancoreError(f"cannot read {path}: {exc}") from None
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                break  # the last line of a run killed while writing it
            raise GancoreError(f"{path} line {number} is not JSON; is this a gancore run's metrics file?") from None
        if not isinstance(row, dict) or not isinstance(row.get("step"), int):
            raise GancoreError(f"{path} line {number} is not a metrics line (a JSON object with an integer step)")
        rows.append(row)
    return rows


def read_samples(folder: Path) -> list[tuple[int, bytes]]:
    """The sample grids ``step-NNNNNNN.png`` by step (the PNG bytes, put in the page as
    they are); other files in the folder are not the run's and are left out."""
    if not folder.is_dir():
        return []
    found = []
    for file in folder.iterdir():
        match = _SAMPLE_NAME.fullmatch(file.name)
        if match and file.is_file():
            try:
                found.append((int(match.group(1)), file.read_bytes()))
            except OSError as exc:
                raise GancoreError(f"cannot read {file}: {exc.strerror or exc}") from None
    return sorted(found)
