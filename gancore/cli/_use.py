"""``gancore sample``: draw from a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from torch import Tensor

from .._artifacts import save_samples
from .._errors import GancoreError
from .._latents import check_truncation, read_latents
from ._app import app
from ._output import console, plugin_warnings
from ._paths import output_file
from ._runs import (DEFAULT_DEVICE, BestOption, DeviceOption, NoEmaOption, StepOption, ThreadsOption, trained_run,
                    use_threads)


@app.command()
def sample(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN", help="A run directory.")],
    num: Annotated[Optional[int], typer.Option("--num", min=1, help="How many samples (default 64; with --latents, one per code).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="FILE.npz (arrays) or FILE.png (grid), or a folder to write sample.png into; default RUN/sample.png.")] = None,
    label: Annotated[Optional[int], typer.Option("--label", help="Class to draw (class-conditional models).")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed of the latent draws (default 0).")] = None,
    step: StepOption = None,
    best: BestOption = False,
    no_ema: NoEmaOption = False,
    truncation: Annotated[Optional[float], typer.Option("--truncation", metavar="PSI", help="Draw the codes within [-PSI, PSI] (the truncation trick): less varied, more typical samples as PSI falls.")] = None,
    latents: Annotated[Optional[Path], typer.Option("--latents", metavar="FILE.npz", help="Generate from these codes (array z, N x latent_dim; labels if conditional), as gancore project writes them.")] = None,
    device: DeviceOption = DEFAULT_DEVICE,
    threads: ThreadsOption = None,
) -> None:
    """Draw samples from a run's latest weights (the EMA weights when the run keeps them)."""
    plugin_warnings()
    use_threads(threads)
    check_truncation(truncation)
    out = run_dir / "sample.png" if out is None else output_file(out, "sample.png", (".npz", ".png"))
    suffix = out.suffix.lower()
    codes = classes = None
    if latents is not None:
        codes, classes = read_latents(latents)
        if num is not None and num != len(codes):
            raise GancoreError(f"--num {num}: {latents} holds {len(codes)} codes, one sample each (leave --num out)")
        if seed is not None and truncation is None:
            raise GancoreError(f"--seed: the codes come from {latents}; nothing is drawn (but truncation's redraws)")
    num = len(codes) if codes is not None else 64 if num is None else num
    run = trained_run(run_dir, device=device, step=step, best=best)
    chosen: Tensor | int | None = label
    if classes is not None and label is None:
        if not getattr(run.scheme, "num_classes", None):
            raise GancoreError(f"--latents: {latents} gives labels, but this model is not class-conditional")
        chosen = classes
    seed = 0 if seed is None else seed
    x, labels = run.sample_with_labels(num, labels=chosen, seed=seed, ema=not no_ema, truncation=truncation, latents=codes)
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
