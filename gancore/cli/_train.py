"""``gancore train``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


from .._errors import GancoreError
from .._recipe import DEFAULT_RECIPE
from .._run import Run
from .._signals import Stopped
from ._app import app
from ._output import console, plugin_warnings, warn


def _fresh_directory(name: str) -> Path:
    """runs/NAME, or runs/NAME-2, -3, ... when taken: a new run never overwrites an old one."""
    base = Path("runs") / name
    path, i = base, 1
    while path.exists():
        i += 1
        path = base.with_name(f"{base.name}-{i}")
    return path


@app.command()
def train(
    recipe: Annotated[Optional[str], typer.Argument(help=f"A recipe file (.toml/.json) or a built-in recipe's name; default {DEFAULT_RECIPE}.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", metavar="KEY=VALUE", help="Override a recipe value: dotted.key=value (TOML value), repeatable.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Run directory (default runs/<recipe>, never reused).")] = None,
    device: Annotated[Optional[str], typer.Option("--device", help="auto, cpu, cuda or cuda:N (default: the recipe's train.device).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its latest checkpoint.")] = False,
    log_to: Annotated[Optional[list[str]], typer.Option("--log-to", metavar="CALLBACK", help="Add a callback by name, e.g. tensorboard or csv (repeatable; see gancore list callback).")] = None,
) -> None:
    """Train a recipe. The run directory gets the resolved recipe, metrics.jsonl,
    sample grids and checkpoints. Exit codes: 2 bad input, 3 the run diverged
    (train.on_nonfinite), 128+N stopped by signal N after saving a checkpoint (130
    Ctrl-C, 143 SIGTERM)."""
    plugin_warnings()
    overrides: list[str] = list(set_ or [])
    log_to = list(log_to or [])
    if resume:
        if out is None:
            raise GancoreError("--resume needs --out DIR, the run to continue")
        if recipe is not None:
            raise GancoreError("--resume continues the recipe saved in --out; drop RECIPE (use --set train.steps=N to train longer)")
        run = Run.load(out, overrides=overrides, device=device, log_to=log_to)
        if run.step >= run.recipe.train.steps:
            raise GancoreError(f"{out} is already at step {run.step} of {run.recipe.train.steps}; train longer with --set train.steps=N")
        console.print(f"resuming {out} at step {run.step}")
    else:
        name = recipe or DEFAULT_RECIPE
        if out is not None and out.exists() and (not out.is_dir() or any(out.iterdir())):
            if out.is_dir() and (out / "recipe.toml").is_file() and not any((out / "checkpoints").glob("step-*.pt")):
                raise GancoreError(f"{out} holds a run that stopped before its first checkpoint, so there is nothing "
                                   f"to resume; remove it (rm -r {out}) or choose another --out")
            raise GancoreError(f"{out} already exists and is not empty; continue it with --resume or choose another --out")
        run = Run.create(name, overrides=overrides, device=device, log_to=log_to)
        run.out = out or _fresh_directory(run.name)
    console.print(f"training {run.name} on {run.device} into {run.out}")
    try:
        run.train(progress=True)
    except Stopped as exc:
        if exc.graceful:
            warn(f"stopped by {exc.name} at step {run.step}; the checkpoint is saved. "
                 f"Continue with: gancore train --out {run.out} --resume")
        else:
            warn(f"stopped at once by a second {exc.name}, during step {run.step + 1}; nothing of it was saved. "
                 f"Continue from the newest checkpoint with: gancore train --out {run.out} --resume")
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        if any((run.out / "checkpoints").glob("*.pt")):
            warn(f"interrupted at step {run.step}; the checkpoint is saved. Continue with: gancore train --out {run.out} --resume")
        else:
            warn(f"interrupted at step {run.step}, before anything was worth saving")
        raise typer.Exit(130) from None
    samples = sorted((run.out / "samples").glob("*.png"))
    console.print(f"done: {run.step} steps in {run.seconds:.1f} s; samples {samples[-1] if samples else '-'}; "
                  f"sample more with: gancore sample {run.out}")


