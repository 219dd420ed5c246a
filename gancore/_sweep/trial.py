"""One trial of a sweep: an ordinary run directory (``DIR/trials/NNNN``) trained from the
recipe, the fixed overrides and the sampled values, with the objective's metric evaluated
every ``every`` steps (the recipe's ``[eval]``, so ``metrics.jsonl`` and
``checkpoints/best.pt`` are as any run's).

Each evaluation is reported to Optuna as the trial's value at that step; when the pruner
says stop, the run saves a checkpoint of that step and the trial is pruned, its value the
last one reported. The value of a trial that trains to the end is the objective at its
last step: what ``gancore train`` of the best trial's recipe reproduces.

A value the recipe refuses, a run that diverges, a metric that cannot score it: the trial
fails with that reason (one line, kept as its ``failure`` attribute) and the sweep goes on.
A signal finishes the step in progress and saves it, as it does for ``gancore train``; the
trial is queued again, and the one that takes it up resumes the run from that checkpoint,
reporting the values the run had logged before going on.
"""

from __future__ import annotations

import math
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import torch

from .. import _checkpoint as ckpt
from .. import _rundir as rundir
from .._artifacts import read_metrics
from .._documents import apply_overrides
from .._errors import GancoreError, RecipeWarning
from .._plugins import registry as default_registry
from .._recipe import Recipe
from .._run import Run
from .._session import Stopped
from .sweepfile import Range, Sweep
from .study import FAILURE, RESUMES, RETRIED, RUN, STEP, WORKER, queue_again

TRIALS = "trials"


class TrialFailed(Exception):
    """The trial failed for a reason of its own (its ``failure`` attribute says which)."""


class _PruneNow(Exception):
    """Raised from the training loop's report when the pruner stops the trial."""

    def __init__(self, step: int) -> None:
        super().__init__(f"pruned at step {step}")
        self.step = step


def sampled(trial: optuna.Trial, sweep: Sweep) -> dict[str, Any]:
    """The trial's values of the space (a queued trial's are fixed: Optuna gives them back)."""
    values: dict[str, Any] = {}
    for key, dimension in sweep.space.items():
        if isinstance(dimension, list):
            values[key] = trial.suggest_categorical(key, dimension)
        elif isinstance(dimension, Range) and dimension.integer:
            values[key] = trial.suggest_int(key, int(dimension.low), int(dimension.high), step=int(dimension.step or 1),
                                            log=dimension.log)
        else:
            values[key] = trial.suggest_float(key, float(dimension.low), float(dimension.high), step=dimension.step,
                                              log=dimension.log)
    return values


def trial_recipe(sweep: Sweep, values: dict[str, Any], threads: int | None = None) -> Recipe:
    """The recipe a trial with ``values`` trains: refused values raise a ``GancoreError``."""
    overrides = sweep.trial_overrides(values)
    if threads is not None:
        overrides["train.threads"] = threads
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecipeWarning)  # a part's name starting its table afresh: documented
        return Recipe(apply_overrides(sweep.recipe, overrides), default_registry())


def objective(sweep: Sweep, folder: Path, worker: str, threads: int | None,
              stopping: Callable[[], int | None]) -> Callable[[optuna.Trial], float]:
    """The function Optuna calls with each trial. ``stopping()`` is the signal that came
    before training started, if one did: it cuts the trial short as one during it would."""

    def run_trial(trial: optuna.Trial) -> float:
        trial.set_user_attr(WORKER, worker)
        values = sampled(trial, sweep)
        place = trial.user_attrs.get(RUN) or f"{TRIALS}/{trial.number:04d}"
        trial.set_user_attr(RUN, place)
        out = folder / place
        run: Run | None = None
        last: list[tuple[int, float]] = []  # (step, value) of the objective reported so far

        def report(row: dict[str, Any]) -> None:
            value = row.get(sweep.objective.value)
            if value is None:
                return
            if not isinstance(value, (int, float)) or math.isnan(value):
                raise GancoreError(f"step {row['step']}: the objective {sweep.objective.label} is {value}")
            trial.report(float(value), int(row["step"]))
            last.append((int(row["step"]), float(value)))
            if trial.should_prune():
                raise _PruneNow(int(row["step"]))

        try:
            run = _resumed(out, threads, trial, sweep, last) if trial.user_attrs.get(RESUMES) is not None else None
            if run is None:
                _clear_unstarted(out)
                recipe = trial_recipe(sweep, values, threads)
                run = Run(recipe, name=sweep.recipe_name, out=out, registry=default_registry())
                run.new = True
            signum = stopping()
            if signum:
                raise Stopped(signum, graceful=True)
            if run.step < run.recipe.train.steps:
                run.train(report=report)
        except _PruneNow as pruned:
            assert run is not None
            run.save_checkpoint()  # the pruned run keeps the step it reached: it can be resumed by hand
            trial.set_user_attr(STEP, pruned.step)
            raise optuna.TrialPruned(str(pruned)) from None
        except Stopped as exc:
            step = run.step if run is not None else 0
            trial.set_user_attr(STEP, step)
            trial.set_user_attr(FAILURE, f"stopped by {exc.name} at step {step}; queued again")
            trial.set_user_attr(RETRIED, True)
            queue_again(trial.study, trial.number, values, place)
            raise
        except (GancoreError, torch.OutOfMemoryError) as exc:
            trial.set_user_attr(FAILURE, " ".join(str(exc).split()))
            if run is not None:
                trial.set_user_attr(STEP, run.step)
            raise TrialFailed(str(exc)) from None
        except Exception as exc:  # a bug, not the trial's values: recorded, then the sweep stops with its traceback
            trial.set_user_attr(FAILURE, f"{type(exc).__name__}: {exc}")
            raise
        trial.set_user_attr(STEP, run.step)
        if not last:
            raise _failed(trial, f"the run logged no {sweep.objective.label} (no evaluation at step {run.step})")
        return last[-1][1]

    return run_trial


def _failed(trial: optuna.Trial, reason: str) -> TrialFailed:
    trial.set_user_attr(FAILURE, reason)
    return TrialFailed(reason)


def _resumed(out: Path, threads: int | None, trial: optuna.Trial, sweep: Sweep,
             last: list[tuple[int, float]]) -> Run | None:
    """The run a queued trial continues, from its newest checkpoint, with the objective's
    values it logged up to there reported again; None when it has none (start afresh)."""
    if not (out / rundir.RECIPE_FILE).is_file() or not ckpt.list_checkpoints(out / rundir.CHECKPOINTS):
        return None
    run = Run.load(out, threads=threads, registry=default_registry())
    for row in read_metrics(out / rundir.METRICS_FILE):
        value, step = row.get(sweep.objective.value), row.get("step")
        if isinstance(value, (int, float)) and isinstance(step, int) and step <= run.step:
            trial.report(float(value), step)
            last.append((step, float(value)))
    return run


def _clear_unstarted(out: Path) -> None:
    """A trial's folder that holds no checkpoint (its process died before the first): what
    it holds is of no use, and a new run needs the folder empty."""
    if out.exists() and not ckpt.list_checkpoints(out / rundir.CHECKPOINTS):
        shutil.rmtree(out)
