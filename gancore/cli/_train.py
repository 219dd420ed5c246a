"""``gancore train``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .._distributed import JobError, leave, topology
from .._errors import GancoreError
from .._documents import add_callbacks, apply_overrides, load_source
from .._recipe import DEFAULT_RECIPE, Recipe
from .._rundir import CLI, RECIPE_FILE, check_new, check_run
from .._run import Run
from .._session import Stopped
from ._app import app
from ._launch import already_launched, launch
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
    ctx: typer.Context,
    recipe: Annotated[Optional[str], typer.Argument(help=f"A recipe file (.toml/.json) or a built-in recipe's name; default {DEFAULT_RECIPE}.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", metavar="KEY=VALUE", help="Override a recipe value: dotted.key=value (TOML value), repeatable.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Run directory (default runs/<recipe>, never reused).")] = None,
    device: Annotated[Optional[str], typer.Option("--device", help="auto, cpu, cuda or cuda:N (default: the recipe's train.device).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its latest checkpoint.")] = False,
    log_to: Annotated[Optional[list[str]], typer.Option("--log-to", metavar="CALLBACK", help="Add a callback by name, e.g. tensorboard or csv (repeatable; see gancore list callback).")] = None,
    nproc: Annotated[int, typer.Option("--nproc", metavar="N", help="Train in N processes on this machine (one per GPU), started as torchrun starts them; train.batch_size is the global batch.")] = 1,
    threads: Annotated[Optional[int], typer.Option("--threads", metavar="N", min=1, max=1024, help="CPU threads of each training process (train.threads; default: the machine's cores, divided among --nproc's processes).")] = None,
    report: Annotated[bool, typer.Option("--report", help="At the end, write the run's report, RUN/report.html (as gancore report RUN does).")] = False,
) -> None:
    """Train a recipe. The run directory gets the resolved recipe, metrics.jsonl,
    sample grids and checkpoints. Exit codes: 2 bad input, 3 the run diverged
    (train.on_nonfinite), 128+N stopped by signal N after saving a checkpoint (130
    Ctrl-C, 143 SIGTERM). Several machines: see docs/distributed.md (torchrun -m gancore train ...)."""
    if nproc < 1:
        raise GancoreError(f"--nproc: {nproc} processes? give 1 or more")
    first = topology().rank == 0
    if first:
        plugin_warnings()
    overrides: list[str] = list(set_ or []) + ([f"train.threads={threads}"] if threads is not None else [])
    log_to = list(log_to or [])
    if resume:
        if out is None:
            raise GancoreError("--resume needs --out DIR, the run to continue")
        if recipe is not None:
            raise GancoreError("--resume continues the recipe saved in --out; drop RECIPE (use --set train.steps=N to train longer)")
        check_run(out)
    else:
        name = recipe or DEFAULT_RECIPE
        if first and out is not None:  # the other processes of a job find the directory the first one made
            check_new(out, CLI)
    if nproc > 1:
        if already_launched():
            raise GancoreError("--nproc: this process is already one of a job's (torchrun started it); drop --nproc")
        # One check here instead of the same error from every process.
        if resume:
            assert out is not None
            _validated_resume(out, overrides, nproc)
        else:
            run_name = _validated(name, overrides, log_to, nproc)
            out = out or _fresh_directory(run_name)
        argv = _argv(ctx, recipe, overrides, out, device, resume, log_to, report)
        raise typer.Exit(launch(nproc, argv, out=str(out)))
    try:
        _train(recipe, overrides, out, device, resume, log_to, report)
    finally:
        leave()


def _train(recipe: str | None, overrides: list[str], out: Path | None, device: str | None, resume: bool, log_to: list[str],
           report: bool) -> None:
    if resume:
        assert out is not None
        run = Run.load(out, overrides=overrides, device=device, log_to=log_to)
        if run.step >= run.recipe.train.steps:
            raise JobError(f"{out} is already at step {run.step} of {run.recipe.train.steps}; train longer with --set train.steps=N")
        say = run.processes.is_main
        if say:
            console.print(f"resuming {out} at step {run.step}" + _across(run))
    else:
        run = Run.create(recipe or DEFAULT_RECIPE, overrides=overrides, device=device, log_to=log_to)
        run.out = run.processes.share(out or _fresh_directory(run.name))
        run.advice = CLI
        say = run.processes.is_main
    assert run.out is not None  # the run's directory: given, or made above
    if say:
        console.print(f"training {run.name} on {run.device} into {run.out}" + _across(run))
    try:
        run.train(progress=say)
    except Stopped as exc:
        if not say:
            raise typer.Exit(exc.exit_code) from None
        if exc.graceful:
            warn(f"stopped by {exc.name} at step {run.step}; the checkpoint is saved. "
                 f"Continue with: gancore train --out {run.out} --resume{_nproc(run)}")
        else:
            warn(f"stopped at once by a second {exc.name}, during step {run.step + 1}; nothing of it was saved. "
                 f"Continue from the newest checkpoint with: gancore train --out {run.out} --resume{_nproc(run)}")
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        if not say:
            raise typer.Exit(130) from None
        if any((run.out / "checkpoints").glob("*.pt")):
            warn(f"interrupted at step {run.step}; the checkpoint is saved. Continue with: gancore train --out {run.out} --resume{_nproc(run)}")
        else:
            warn(f"interrupted at step {run.step}, before anything was worth saving")
        raise typer.Exit(130) from None
    if not say:
        return
    samples = sorted((run.out / "samples").glob("*.png"))
    console.print(f"done: {run.step} steps in {run.seconds:.1f} s; samples {samples[-1] if samples else '-'}; "
                  f"sample more with: gancore sample {run.out}")
    if report:
        from .._report import REPORT_FILE, write_report

        size = write_report([run], run.out / REPORT_FILE)
        console.print(f"wrote the run's report to {run.out / REPORT_FILE} ({size / 1e3:.1f} kB)")




def _nproc(run: Run) -> str:
    return f" --nproc {run.processes.world}" if run.processes.distributed else ""


def _across(run: Run) -> str:
    p = run.processes
    if not p.distributed:
        return ""
    batch = run.recipe.train.batch_size
    return f" in {p.world} processes ({batch // p.world} of each global batch of {batch} per process)"


def _validated(name: str, overrides: list[str], log_to: list[str], nproc: int) -> str:
    """The recipe's checks (names, types, values) without building anything; its run name."""
    import gancore

    reg = gancore.registry()
    run_name, doc = load_source(name, reg)
    recipe = Recipe(add_callbacks(apply_overrides(doc, overrides) if overrides else doc, log_to), reg)
    _check_share(recipe.train.batch_size, nproc)
    return run_name


def _validated_resume(out: Path, overrides: list[str], nproc: int) -> None:
    """What a resume can be refused for, checked before the processes start."""
    from .._documents import check_resumable, read_document

    check_resumable(overrides)
    batch = read_document(out / RECIPE_FILE).get("train", {}).get("batch_size", 64)
    if isinstance(batch, int):
        _check_share(batch, nproc)


def _check_share(batch_size: int, nproc: int) -> None:
    if batch_size % nproc:
        raise GancoreError(f"train.batch_size: {batch_size} is the global batch and must divide evenly among the {nproc} processes")


def _argv(ctx: typer.Context, recipe: str | None, overrides: list[str], out: Path | None, device: str | None,
          resume: bool, log_to: list[str], report: bool = False) -> list[str]:
    """The command line each process runs: this one without --nproc (and with --out)."""
    argv: list[str] = []
    top = ctx.parent.params if ctx.parent is not None else {}
    for name in top.get("block") or ():
        argv += ["--block", name]
    if top.get("no_autoload"):
        argv.append("--no-autoload")
    argv.append("train")
    if recipe is not None:
        argv.append(recipe)
    for o in overrides:
        argv += ["--set", o]
    if out is not None:
        argv += ["--out", str(out)]
    if device is not None:
        argv += ["--device", device]
    if resume:
        argv.append("--resume")
    for name in log_to:
        argv += ["--log-to", name]
    if report:
        argv.append("--report")
    return argv
