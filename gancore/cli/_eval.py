"""``gancore eval``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from .._errors import GancoreError
from .._run import Run
from ._app import app
from ._output import plugin_warnings, print_json, print_table


def default_metrics(run: Run) -> list[str]:
    """Every registered metric that says it applies to this run's data."""
    return [e.name for e in run.registry.entries("metric") if getattr(e.factory, "applies_to", lambda s: False)(run.spec)]


@app.command("eval")
def eval_(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN", help="A run directory.")],
    metrics: Annotated[Optional[str], typer.Option("--metrics", help="Comma-separated metric names (default: the recipe's eval.metrics, else every metric that fits the data).")] = None,
    num: Annotated[Optional[int], typer.Option("--num", min=1, help="Generated and real samples (default: the recipe's eval.num_samples).")] = None,
    step: Annotated[Optional[int], typer.Option("--step", min=0, help="Use the checkpoint of this step (default: the latest).")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Evaluate a run's latest weights with registered metrics."""
    plugin_warnings()
    run = Run.load(run_dir, device="cpu", step=step)
    if run.step == 0:
        raise GancoreError(f"{run_dir} has no checkpoint yet")
    run.require_finite()
    # Names, or the recipe's tables of a name and parameters.
    names: list[str | dict[str, Any]] = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else (run.recipe.eval.metrics or list(default_metrics(run)))
    if not names:
        raise GancoreError("no metric fits this run's data; name some with --metrics (see gancore list metric)")
    for name in names:
        if isinstance(name, str):
            run.registry.get("metric", name)
    values = run.evaluate(names, num)
    result = {"run": str(run_dir), "step": run.step, "num_samples": num or run.recipe.eval.num_samples, "metrics": values}
    if json_:
        # JSON has no infinity: an empty mode histogram's KL prints as null.
        result["metrics"] = {k: (v if math.isfinite(v) else None) for k, v in values.items()}
        print_json(result)
        return
    table = Table("metric", "value", box=None, pad_edge=False, title=f"{run_dir} at step {run.step}")
    for k, v in values.items():
        table.add_row(k, f"{v:.4f}")
    print_table(table)
