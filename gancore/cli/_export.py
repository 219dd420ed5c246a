"""``gancore export``: a run's generator written for use without gancore, or shared."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .._errors import GancoreError
from .._export import export_generator, uses_ema
from .._export_formats import DEFAULT_FORMATS, parse_formats
from .._hub import check_repo, hub_module, upload
from ._app import app
from ._output import console, plugin_warnings
from ._runs import BestOption, NoEmaOption, StepOption, ThreadsOption, trained_run, use_threads


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN", help="A run directory.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="The folder to write (new, empty, or a previous export's); default RUN/export.")] = None,
    formats: Annotated[str, typer.Option("--format", metavar="FORMATS", help="Comma-separated: pt2 (torch.export program, needs torch only), safetensors (weights and config.json, for gancore.load_generator), onnx (the onnx extra).")] = ",".join(DEFAULT_FORMATS),
    no_ema: NoEmaOption = False,
    step: StepOption = None,
    best: BestOption = False,
    hub_repo: Annotated[Optional[str], typer.Option("--hub-repo", metavar="OWNER/NAME", help="Also push the folder, with its model card, to this Hugging Face Hub model repository (the hub extra).")] = None,
    threads: ThreadsOption = None,
) -> None:
    """Write a run's generator (its EMA weights by default) for use outside gancore."""
    plugin_warnings()
    use_threads(threads)
    try:
        chosen = parse_formats(formats)
    except GancoreError as exc:
        raise GancoreError(f"--{exc}") from None
    if hub_repo is not None:  # before any work: a missing extra or a bad name is one line
        hub_module()
        check_repo(hub_repo)
    folder = run_dir / "export" if out is None else out
    # Exported on the CPU, whatever the run trained on: every format is written from there.
    run = trained_run(run_dir, device="cpu", step=step, best=best)
    written = export_generator(run, folder, formats=chosen, ema=not no_ema, hub_repo=hub_repo)
    weights = "EMA" if uses_ema(run, not no_ema) else "live"
    console.print(f"wrote {', '.join(p.name for p in written)} to {folder} (the generator at step {run.step}, "
                  f"{weights} weights)")
    if hub_repo is not None:
        url = upload(folder, hub_repo, f"gancore export of {run.name} at step {run.step}")
        console.print(f"pushed {folder} to {url}")
