"""What a sweep tells about its trials: a line per trial as it ends, the table of
``gancore sweep DIR --show`` (values, state, duration), Optuna's parameter importances,
and the best trial's recipe written as a file ``gancore train`` takes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import optuna
import tomli_w
from optuna.trial import FrozenTrial, TrialState

from .study import FAILURE, RESUMES, RETRIED, RUN, STEP
from .sweepfile import Sweep
from .trial import trial_recipe

BEST_RECIPE = "best.toml"

_STATES = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed",
           TrialState.RUNNING: "running", TrialState.WAITING: "waiting"}


def state_of(trial: FrozenTrial) -> str:
    """complete, pruned, failed, running, waiting; or retried: cut short and queued again."""
    if trial.state == TrialState.FAIL and (trial.user_attrs.get(RETRIED) or FAILURE not in trial.user_attrs):
        return "retried"
    return _STATES.get(trial.state, trial.state.name.lower())


def number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def seconds(trial: FrozenTrial) -> float | None:
    if trial.datetime_start is None or trial.datetime_complete is None:
        return None
    return (trial.datetime_complete - trial.datetime_start).total_seconds()


def values_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={number(v) if isinstance(v, float) else v}" for k, v in params.items())


def note(trial: FrozenTrial) -> str:
    """Why a trial failed or was retried, whose run it continued."""
    words = []
    if RESUMES in trial.user_attrs:
        words.append(f"continues trial {trial.user_attrs[RESUMES]}")
    if trial.state == TrialState.FAIL:
        words.append(str(trial.user_attrs.get(FAILURE, "its process went silent (no heartbeat); queued again")))
    return "; ".join(words)


def line(trial: FrozenTrial, sweep: Sweep) -> str:
    """One line for a trial that just ended."""
    state, label = state_of(trial), sweep.objective.label
    took = seconds(trial)
    where = f" at step {trial.user_attrs[STEP]}" if STEP in trial.user_attrs else ""
    timing = f"{took:.1f} s; " if took is not None else ""
    if state in ("complete", "pruned"):
        resumed = f", continuing trial {trial.user_attrs[RESUMES]}" if RESUMES in trial.user_attrs else ""
        text = (f"trial {trial.number} {state}{where}: {label} {number(trial.value)} "
                f"({timing}{values_text(trial.params)}{resumed})")
    else:
        text = f"trial {trial.number} {state}: {note(trial)} ({values_text(trial.params)})"
    return text


def rows(study: optuna.Study) -> list[dict[str, Any]]:
    """Every trial of the study, in order: what the table and ``--json`` show."""
    out = []
    for trial in study.get_trials(deepcopy=False):
        took = seconds(trial)
        out.append({"trial": trial.number, "state": state_of(trial), "value": trial.value,
                    "step": trial.user_attrs.get(STEP), "seconds": None if took is None else round(took, 1),
                    "params": dict(trial.params), "run": trial.user_attrs.get(RUN), "note": note(trial),
                    "values": {str(step): v for step, v in sorted(trial.intermediate_values.items())}})
    return out


def best(study: optuna.Study) -> FrozenTrial | None:
    """The best complete trial (a pruned trial's value is not its last step's)."""
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    return study.best_trial


def importances(study: optuna.Study) -> tuple[dict[str, float], str | None]:
    """Optuna's importance of each searched key (its default evaluator, over the complete
    trials), or why there are none."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return {}, "parameter importances need two complete trials at least"
    try:
        found = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError) as exc:
        return {}, f"no parameter importances: {exc}"
    return {k: float(v) for k, v in found.items()}, None


def write_best(sweep: Sweep, folder: Path, trial: FrozenTrial) -> Path:
    """The best trial's recipe, as ``gancore train`` takes it, written atomically to
    ``DIR/best.toml``; the threads the sweep ran it with are left out (a setting of the
    machine, not of the model)."""
    recipe = trial_recipe(sweep, dict(trial.params)).resolved()
    recipe.get("train", {}).pop("threads", None)
    recipe["description"] = f"{sweep.recipe_name}, trial {trial.number} of sweep {sweep.study!r}: {values_text(trial.params)}"
    head = (f"# The best trial of sweep {sweep.study!r}: trial {trial.number}, {sweep.objective.label} "
            f"{number(trial.value)}\n# with {values_text(trial.params)}.\n# Train it: gancore train {folder / BEST_RECIPE}\n")
    path = folder / BEST_RECIPE
    tmp = path.with_name(f".{BEST_RECIPE}.tmp")
    tmp.write_text(head + tomli_w.dumps(recipe), encoding="utf-8")
    os.replace(tmp, path)
    return path
