"""``gancore sample``: draw from a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from .._artifacts import save_samples
from ._app import app
from ._output import console, plugin_warnings
from ._paths import output_file
from ._runs import DEFAULT_DEVICE, DeviceOption, ThreadsOption, trained_run, use_threads


@app.command()
def sample(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN", help="A run directory.")],
    num: Annotated[int, typer.Option("--num", min=1, help="How many samples.")] = 64,
    out: Annotated[Optional[Path], typer.Option("--out", help="FILE.npz (arrays) or FILE.png (grid), or a folder to write sample.png into; default RUN/sample.png.")] = None,
    label: Annotated[Optional[int], typer.Option("--label", help="Class to draw (class-conditional models).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the latent draws.")] = 0,
    step: Annotated[Optional[int], typer.Option("--step", min=0, help="Use the checkpoint of this step (default: the latest).")] = None,
    best: Annotated[bool, typer.Option("--best", help="Use the run's best-scoring checkpoint (kept when [eval] evaluates during training).")] = False,
    no_ema: Annotated[bool, typer.Option("--no-ema", help="Use the live weights even if the run keeps an EMA copy.")] = False,
    device: DeviceOption = DEFAULT_DEVICE,
    threads: ThreadsOption = None,
) -> None:
    """Draw samples from a run's latest weights (the EMA weights when the run keeps them)."""
    plugin_warnings()
    use_threads(threads)
    out = run_dir / "sample.png" if out is None else output_file(out, "sample.png", (".npz", ".png"))
    suffix = out.suffix.lower()
    run = trained_run(run_dir, device=device, step=step, best=best)
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
