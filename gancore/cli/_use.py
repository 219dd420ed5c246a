"""The commands that use a trained run: ``gancore sample`` and ``gancore eval``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Optional

import numpy as np
import typer
from rich.table import Table

from .._artifacts import save_samples
from .._errors import GancoreError
from .._run import Run
from ._app import app
from ._output import console, plugin_warnings, print_json, print_table


@app.command()
def sample(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN", help="A run directory.")],
    num: Annotated[int, typer.Option("--num", min=1, help="How many samples.")] = 64,
    out: Annotated[Optional[Path], typer.Option("--out", help="FILE.npz (arrays) or FILE.png (grid); default RUN/sample.png.")] = None,
    label: Annotated[Optional[int], typer.Option("--label", help="Class to draw (class-conditional models).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the latent draws.")] = 0,
    step: Annotated[Optional[int], typer.Option("--step", min=0, help="Use the checkpoint of this step (default: the latest).")] = None,
    no_ema: Annotated[bool, typer.Option("--no-ema", help="Use the live weights even if the run keeps an EMA copy.")] = False,
) -> None:
    """Draw samples from a run's latest weights (the EMA weights when the run keeps them)."""
    plugin_warnings()
    out = out or run_dir / "sample.png"
    suffix = out.suffix.lower()
    if suffix not in (".npz", ".png"):
        raise GancoreError(f"--out {out}: use a .npz or .png file")
    run = Run.load(run_dir, device="cpu", step=step)
    if run.step == 0:
        raise GancoreError(f"{run_dir} has no checkpoint yet")
    run.require_finite()
    x, labels = run.sample_with_labels(num, labels=label, seed=seed, ema=not no_ema)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".npz":
        arrays = {"samples": x.float().cpu().numpy().astype(np.float32)}
        if labels is not None:  # the classes the samples were drawn for
            arrays["labels"] = labels.cpu().numpy().astype(np.int64)
        tmp = out.with_name(f".{out.stem}.tmp.npz")
        np.savez(tmp, **arrays)  # type: ignore[arg-type]  # numpy's stub: **arrays could fill its bool allow_pickle
        tmp.replace(out)
    else:
        real = run.dataset.tensors["x"] if x.dim() == 2 else None
        save_samples(x, out, real)
    console.print(f"wrote {num} samples from step {run.step} to {out}")



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
