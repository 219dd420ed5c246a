"""``gancore sweep``: a hyper-parameter search with Optuna (an optional dependency), and
``--show``, what a sweep found."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from .._errors import GancoreError
from .._plugins import registry as default_registry
from .._threads import usable_cores
from ._app import app
from ._output import console, plugin_warnings, print_json, print_table, warn

if TYPE_CHECKING:
    from .._sweep.sweepfile import Sweep

INSTALL = 'gancore sweep needs Optuna: pip install "gancore[sweep]"'


@app.command()
def sweep(
    ctx: typer.Context,
    source: Annotated[Path, typer.Argument(metavar="SWEEP", help="A sweep file (.toml); with --show, a sweep's folder.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="The sweep's folder: its study (study.db), a run per trial in trials/, best.toml (default sweeps/<sweep file's name>). The same command again continues the sweep.")] = None,
    jobs: Annotated[int, typer.Option("--jobs", metavar="N", min=1, max=1024, help="Trials at once on this machine, each in a process of its own.")] = 1,
    threads: Annotated[Optional[int], typer.Option("--threads", metavar="N", min=1, max=1024, help="CPU threads of each trial (default: the machine's cores, divided among --jobs' processes).")] = None,
    show: Annotated[bool, typer.Option("--show", help="Print the best trial, a table of the trials and the parameters' importances; write the best trial's recipe to best.toml.")] = False,
    json_: Annotated[bool, typer.Option("--json", help="With --show: print JSON.")] = False,
) -> None:
    """Search a recipe's hyper-parameters with Optuna. Each trial of the sweep
    file's search space is an ordinary run directory; the sweep runs until its
    study holds the requested number of trials, and the same command continues
    it. Exit codes: 2 bad input (or Optuna missing), 128+N stopped by signal N
    once the running trials saved their step. See docs/sweeps.md."""
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise GancoreError(INSTALL) from None
    plugin_warnings()
    if show:
        given = [name for name, value in (("--out", out), ("--jobs", jobs != 1), ("--threads", threads)) if value]
        if given:
            raise GancoreError(f"--show reads the sweep in SWEEP (its folder); drop {', '.join(given)}")
        _show(source, json_)
        return
    if json_:
        raise GancoreError("--json goes with --show")
    _sweep(ctx, source, out or Path("sweeps") / source.stem, jobs, threads)


def _sweep(ctx: typer.Context, source: Path, folder: Path, jobs: int, threads: int | None) -> None:
    from .._sweep.study import open_storage, open_study, storage_url, tally
    from .._sweep.sweepfile import read_sweep
    from .._sweep.workers import DEFINITION, _AskLock, run_jobs, run_trials

    sweep = read_sweep(source, default_registry())
    _claim(folder, sweep, DEFINITION, source)
    url = storage_url(sweep, folder)
    with _AskLock(folder):  # one process creates the study's tables; the others find them
        study = open_study(sweep, open_storage(url))
    before = tally(study)
    console.print(f"sweep {sweep.study!r}: {sweep.trials} trials of {sweep.recipe_name} into {folder}, "
                  f"{sweep.objective.label} {sweep.objective.direction}d; study in {_where(sweep, folder, url)}"
                  + (f"; {before.finished} finished already" if before.finished else ""))
    if jobs == 1:
        stopped = run_trials(sweep, folder, threads=threads, say=_say)
        code = 128 + stopped if stopped else 0
    else:
        each = threads or max(1, usable_cores() // jobs)
        console.print(f"{jobs} processes, {each} thread{'s' if each > 1 else ''} each")
        code = run_jobs(folder, jobs, each, env=_plugin_environment(ctx))
    after = tally(study)
    if code:
        again = f"gancore sweep {source} --out {folder}" + (f" --jobs {jobs}" if jobs > 1 else "")
        if code > 128:
            warn(f"stopped with {after.finished} of {sweep.trials} trials finished; the running trials saved their "
                 f"step and are queued again. Continue with: {again}")
        raise typer.Exit(code)
    _finish(sweep, study, folder, after.finished)


def _where(sweep: Sweep, folder: Path, url: str) -> str:
    """The study's storage as the user named it: the file in the sweep's folder, or the URL."""
    from .._sweep.study import DATABASE, shown

    return str(folder / DATABASE) if sweep.storage is None else shown(url)


def _say(text: str) -> None:
    console.print(text, markup=False)


def _claim(folder: Path, sweep: Sweep, definition: str, source: Path) -> None:
    """The sweep's folder: new, or one this sweep started (the same recipe, overrides,
    space and objective; the number of trials, the sampler and the pruner may change).
    Its ``sweep.toml`` is written (atomically) with this definition."""
    import tomli_w

    path = folder / definition
    if folder.exists() and not folder.is_dir():
        raise GancoreError(f"--out {folder} is a file; give a folder for the sweep")
    if path.is_file():
        import tomllib

        kept = tomllib.loads(path.read_text(encoding="utf-8"))
        mine = sweep.definition()
        differ = [k for k in ("recipe", "name", "study", "storage", "overrides", "space", "objective") if kept.get(k) != mine.get(k)]
        if differ:
            raise GancoreError(f"{folder} holds another sweep (its {', '.join(differ)} differ from {source}'s); "
                               "choose another --out")
    elif folder.is_dir() and any(folder.iterdir()):
        raise GancoreError(f"{folder} is not empty and holds no sweep (no {definition}); choose another --out")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{definition}.tmp.{os.getpid()}")
    tmp.write_text(tomli_w.dumps(sweep.definition()), encoding="utf-8")
    os.replace(tmp, path)


def _plugin_environment(ctx: typer.Context) -> dict[str, str]:
    """The global options' plugin choices, for the processes --jobs starts."""
    top = ctx.parent.params if ctx.parent is not None else {}
    env = dict(os.environ)
    if top.get("block"):
        env["GANCORE_BLOCK_PLUGINS"] = ",".join(filter(None, [env.get("GANCORE_BLOCK_PLUGINS", ""), *top["block"]]))
    if top.get("no_autoload"):
        env["GANCORE_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


def _finish(sweep: Sweep, study: Any, folder: Path, finished: int) -> None:
    from .._sweep.summary import BEST_RECIPE, best, number, values_text, write_best

    top = best(study)
    if top is None:
        console.print(f"done: {finished} trials finished; none complete, so no best trial. "
                      f"See them with: gancore sweep {folder} --show")
        return
    write_best(sweep, folder, top)
    _say(f"done: {finished} trials finished; best: trial {top.number}, {sweep.objective.label} {number(top.value)} "
         f"({values_text(top.params)})")
    console.print(f"its recipe: {folder / BEST_RECIPE}; every trial: gancore sweep {folder} --show")


def _show(folder: Path, as_json: bool) -> None:
    import optuna

    from .._sweep.study import open_storage, shown, storage_url, tally
    from .._sweep.summary import BEST_RECIPE, best, importances, number, rows, values_text, write_best
    from .._sweep.sweepfile import read_sweep
    from .._sweep.workers import DEFINITION

    if not folder.is_dir():
        raise GancoreError(f"--show: {folder} is not a sweep's folder" + (" (give the folder the sweep wrote, its --out)" if folder.is_file() else ""))
    if not (folder / DEFINITION).is_file():
        raise GancoreError(f"--show: {folder} holds no sweep (no {DEFINITION})")
    sweep = read_sweep(folder / DEFINITION, default_registry())
    url = storage_url(sweep, folder)
    try:
        study = optuna.load_study(study_name=sweep.study, storage=open_storage(url))
    except KeyError:
        raise GancoreError(f"--show: no study {sweep.study!r} in {shown(url)}") from None
    table_rows = rows(study)
    top = best(study)
    weights, no_weights = importances(study)
    recipe = write_best(sweep, folder, top) if top is not None else None
    counted = tally(study)
    if as_json:
        print_json({"sweep": str(folder), "study": sweep.study, "storage": shown(url),
                    "objective": {"metric": sweep.objective.label, "direction": sweep.objective.direction},
                    "trials": table_rows,
                    "best": None if top is None else {"trial": top.number, "value": top.value, "params": top.params,
                                                      "recipe": str(recipe)},
                    "importances": weights})
        return
    label = sweep.objective.label
    console.print(f"sweep {sweep.study!r} in {folder}: {counted.finished} of {sweep.trials} trials finished "
                  f"({counted.complete} complete, {counted.pruned} pruned, {counted.failed} failed), "
                  f"{label} {sweep.objective.direction}d")
    keys = list(sweep.space)
    table = Table("trial", "state", label, "step", "seconds", *keys, "run", "note", box=None, pad_edge=False)
    for r in table_rows:
        params = [number(v) if isinstance(v, float) else ("-" if v is None else str(v)) for v in (r["params"].get(k) for k in keys)]
        cells = [str(r["trial"]), r["state"], number(r["value"]), "-" if r["step"] is None else str(r["step"]),
                 number(r["seconds"]), *params, r["run"] or "-", r["note"]]
        table.add_row(*map(escape, cells))
    print_table(table)
    if top is None:
        console.print("best: none yet (no complete trial)")
    else:
        _say(f"best: trial {top.number}, {label} {number(top.value)} ({values_text(top.params)}); "
                      f"its run: {folder / str(top.user_attrs.get('run', '-'))}")
        _say(f"its recipe: {recipe} (gancore train {folder / BEST_RECIPE})")
    if no_weights:
        console.print(no_weights)
    else:
        imp = Table("parameter", "importance", box=None, pad_edge=False)
        for key, weight in weights.items():
            imp.add_row(escape(key), f"{weight:.3f}")
        print_table(imp)

