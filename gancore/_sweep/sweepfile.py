"""The sweep file: the recipe to start from, the values fixed for every trial, the search
space, the objective, the number of trials, the sampler, the pruner and the storage.

It is checked the way a recipe is, before anything trains, and every problem is reported
at once: the file's own tables with pydantic, the recipe with the fixed overrides and the
objective's ``[eval]`` settings as a recipe is checked, then each key of the space with the
values it may take (each choice, each end of a range) on top, so that a key or a value the
recipe refuses is named now rather than found by a failing trial. What a combination of
values does (a batch the critic's pack does not divide) is known only when a trial
builds it: that trial fails with its reason.

``Sweep.definition()`` is the sweep as the sweep folder keeps it (``DIR/sweep.toml``): a
sweep file itself, with the recipe inline and every default written out, so that a rerun
is compared with what the study was started with, and any process can join it.
"""

from __future__ import annotations

import json
import math
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import tomli_w
from pydantic import ConfigDict, Field, ValidationError, model_validator

from .._documents import apply_overrides, load_source
from .._errors import GancoreError, InvalidValues, RecipeError, RecipeWarning, UnknownNameError
from .._params import ExactScalars, invalid_values
from .._recipe import Recipe, TrainSettings
from .._registry import Registry
from .parts import build_part, split_part

Choice = str | int | float | bool

# Keys a trial's recipe gets from elsewhere: the objective sets what [eval] measures and
# when, --threads and --jobs set the threads.
_SET_BY = {"eval.metrics": "[objective] metric", "eval.every": "[objective] every", "eval.best": "[objective] metric",
           "train.threads": "--threads (or --jobs)"}


class SweepFileError(GancoreError):
    """Every problem of a sweep file, a line each."""

    def __init__(self, where: str, lines: list[str]) -> None:
        self.lines = list(dict.fromkeys(lines))
        if len(self.lines) == 1:
            message = f"{where}: {self.lines[0]}"
        else:
            message = f"{where} has {len(self.lines)} errors:\n" + "\n".join(f"  {line}" for line in self.lines)
        super().__init__(message)


class _Strict(ExactScalars):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Range(_Strict):
    """A range of numbers: integers when low and high (and step) are integers."""

    low: int | float
    high: int | float
    log: bool = False
    step: Annotated[int | float | None, Field(gt=0)] = None

    @model_validator(mode="after")
    def _sound(self) -> Range:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError("a log range must start above 0")
        if self.log and self.step is not None and not (self.integer and self.step == 1):
            raise ValueError("a log range takes no step")
        return self

    @property
    def integer(self) -> bool:
        return all(isinstance(v, int) for v in (self.low, self.high)) and (self.step is None or isinstance(self.step, int))

    def ends(self) -> list[Choice]:
        return [self.low, self.high]

    def grid(self) -> list[Choice] | None:
        """Every value of a stepped range (the grid sampler's), None without a step."""
        if self.integer:
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step is None:
            return None
        count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        return [round(self.low + i * self.step, 12) for i in range(count)]


class _Choices(_Strict):
    choices: Annotated[list[Choice], Field(min_length=1)]


class ObjectiveTable(_Strict):
    metric: Annotated[str, Field(min_length=1, description="a metric's name, or name.value for one of its values")]
    params: dict[str, Any] = {}
    direction: Literal["maximize", "minimize"] | None = None
    every: Annotated[int | None, Field(ge=1)] = None


class SweepTable(_Strict):
    recipe: str | dict[str, Any]
    name: Annotated[str | None, Field(min_length=1)] = None
    trials: Annotated[int, Field(ge=1, le=1_000_000)]
    study: Annotated[str | None, Field(min_length=1)] = None
    storage: Annotated[str | None, Field(min_length=1)] = None
    overrides: dict[str, Any] = {}
    space: dict[str, Any]
    objective: ObjectiveTable
    sampler: str | dict[str, Any] = "tpe"
    pruner: str | dict[str, Any] = "median"


@dataclass(frozen=True)
class Objective:
    """What a trial is scored by: ``value``, one of the values metric ``metric`` reports,
    measured every ``every`` steps and at the last; ``maximize`` or ``minimize``."""

    metric: str
    params: dict[str, Any]
    value: str
    direction: Literal["maximize", "minimize"]
    every: int

    @property
    def label(self) -> str:
        """How the sweep file names it: ``modes``, or ``modes.high_quality``."""
        return self.metric if self.value == self.metric else f"{self.metric}.{self.value}"

    def eval_overrides(self) -> dict[str, Any]:
        item: str | dict[str, Any] = {"name": self.metric, **self.params} if self.params else self.metric
        return {"eval.metrics": [item], "eval.every": self.every, "eval.best": self.value}


@dataclass
class Sweep:
    """A checked sweep file."""

    recipe_name: str
    recipe: dict[str, Any]
    trials: int
    study: str
    storage: str | None
    overrides: dict[str, Any]
    space: dict[str, Range | list[Choice]]
    objective: Objective
    sampler: tuple[str, dict[str, Any]]
    pruner: tuple[str, dict[str, Any]]

    def trial_overrides(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """A trial's overrides of the recipe: the fixed ones, the objective's and the
        sampled ``params``; a part's name first, since naming another part starts its
        table afresh (as ``--set`` does) and the values set beside it must stay."""
        pairs = {**self.overrides, **self.objective.eval_overrides(), **params}
        names = {k: v for k, v in pairs.items() if k.endswith(".name")}
        return {**names, **{k: v for k, v in pairs.items() if k not in names}}

    def grid(self) -> dict[str, list[Choice]]:
        """The grid sampler's search space: every choice of each key."""
        out: dict[str, list[Choice]] = {}
        for key, dimension in self.space.items():
            values = dimension if isinstance(dimension, list) else dimension.grid()
            if values is None:
                raise GancoreError(f'sampler grid: space."{key}" is a range of floats without a step; give it a step or a list')
            out[key] = values
        return out

    def definition(self) -> dict[str, Any]:
        """The sweep as the sweep folder keeps it: a sweep file, the recipe inline, every
        default written out."""
        out: dict[str, Any] = {"recipe": self.recipe, "name": self.recipe_name, "trials": self.trials, "study": self.study}
        if self.storage is not None:
            out["storage"] = self.storage
        out["overrides"] = dict(self.overrides)
        out["space"] = {k: v if isinstance(v, list) else v.model_dump(exclude_none=True) for k, v in self.space.items()}
        o = self.objective
        objective: dict[str, Any] = {"metric": o.label, "direction": o.direction, "every": o.every}
        if o.params:
            objective["params"] = o.params
        out["objective"] = objective
        out["sampler"] = {"name": self.sampler[0], **self.sampler[1]}
        out["pruner"] = {"name": self.pruner[0], **self.pruner[1]}
        normal: dict[str, Any] = tomllib.loads(tomli_w.dumps(out))  # as it reads back from the file
        return normal


def read_sweep(path: Path, registry: Registry) -> Sweep:
    """The sweep file at ``path``, checked; a ``SweepFileError`` lists every problem."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise GancoreError(f"sweep file not found: {path}") from None
    except IsADirectoryError:
        raise GancoreError(f"{path} is a folder; give a sweep file (.toml), or --show to look at a sweep's folder") from None
    except OSError as exc:
        raise GancoreError(f"cannot read sweep file {path}: {exc.strerror}") from None
    try:
        doc = tomllib.loads(text.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise GancoreError(f"{path}: not a valid TOML document: {exc}") from None
    return check_sweep(doc, registry, where=str(path), folder=path.parent, default_study=path.stem)


def check_sweep(doc: Mapping[str, Any], registry: Registry, *, where: str, folder: Path, default_study: str) -> Sweep:
    """A sweep document checked; recipe files it names are read relative to ``folder``."""
    lines: list[str] = []
    table, bad = _tables(doc, lines)
    name, recipe = _base_recipe(table["recipe"], folder, registry, lines) if "recipe" not in bad else (None, None)
    overrides = _flat(table["overrides"], "overrides", lines) if "overrides" not in bad else {}
    space = _space(table["space"], lines) if "space" not in bad else {}
    for key in [*overrides, *space]:
        if key in _SET_BY or key.startswith("eval.metrics."):
            section = "overrides" if key in overrides else "space"
            lines.append(f'{section}."{key}": set by {_SET_BY.get(key, "[objective] metric")}; leave it out')
    for key in sorted(set(overrides) & set(space)):
        lines.append(f'"{key}": both fixed in [overrides] and searched in [space]; keep one')
    objective = _objective(table["objective"], registry, recipe, overrides, space, lines) if "objective" not in bad else None
    sampler = _checked_part(table["sampler"], "sampler", lines) if "sampler" not in bad else None
    pruner = _checked_part(table["pruner"], "pruner", lines) if "pruner" not in bad else None
    sweep = Sweep(table.get("name") or name or "recipe", recipe or {}, table.get("trials") or 1,
                  table.get("study") or default_study, table.get("storage"), overrides, space,
                  objective or Objective("", {}, "", "maximize", 1), sampler or ("tpe", {}), pruner or ("median", {}))
    if recipe is not None and not {"overrides", "space"} & bad:
        # With the objective refused, its [eval] settings are left out of the recipe checked.
        _check_against_recipe(sweep, registry, lines, with_objective=objective is not None)
    if sampler is not None and sampler[0] == "grid":
        _attempt(lambda: build_part("sampler", "grid", sampler[1], search_space=sweep.grid()), lines)
    elif sampler is not None:
        _attempt(lambda: build_part("sampler", *sampler), lines)
    if lines:
        raise SweepFileError(where, lines)
    return sweep


def _tables(doc: Mapping[str, Any], lines: list[str]) -> tuple[dict[str, Any], set[str]]:
    """The file's top-level values, each checked on its own so that one refused value
    leaves the others to be checked further; the names of the refused ones."""
    try:
        return dict(SweepTable.model_validate(dict(doc))), set()
    except ValidationError as exc:
        lines.extend(invalid_values(exc, "", SweepTable).lines)
        bad = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
    fields = SweepTable.model_fields
    table: dict[str, Any] = {key: field.default for key, field in fields.items() if not field.is_required()}
    for key, value in doc.items():
        if key in fields and key not in bad:
            table[key] = value
    if "objective" in table and "objective" not in bad:
        table["objective"] = ObjectiveTable.model_validate(table["objective"])
    return table, bad | {key for key in fields if key not in table}


def _attempt(check: Any, lines: list[str]) -> Any:
    try:
        return check()
    except GancoreError as exc:
        lines.extend(_lines(exc))
        return None


def _lines(exc: GancoreError) -> list[str]:
    if isinstance(exc, RecipeError):
        return exc.errors
    if isinstance(exc, InvalidValues):
        return exc.lines
    return [str(exc)]


def _base_recipe(raw: str | dict[str, Any], folder: Path, registry: Registry,
                 lines: list[str]) -> tuple[str | None, dict[str, Any] | None]:
    """The recipe's name and document: inline, a file (relative to the sweep file), or a
    built-in recipe's name."""
    if isinstance(raw, str):
        path = Path(raw)
        looks_like_file = path.suffix.lower() in (".toml", ".json") or "/" in raw
        source: str | Path | dict[str, Any] = (path if path.is_absolute() else folder / path) if looks_like_file else raw
    else:
        source = raw
    try:
        name, doc = load_source(source, registry)
    except UnknownNameError as exc:
        lines.append(f"recipe: {exc}")
        return None, None
    except GancoreError as exc:
        lines.append(f"recipe: {exc}")
        return None, None
    return name, doc


def _flat(table: Mapping[str, Any], section: str, lines: list[str], prefix: str = "") -> dict[str, Any]:
    """Dotted keys, whether the file quotes them (``"train.steps" = 400``) or nests them
    (``train.steps = 400``, a table in TOML)."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and not (section == "space" and ("low" in value or "high" in value)):
            if not value:
                lines.append(f'{section}."{dotted}": an empty table sets nothing')
            out |= _flat(value, section, lines, prefix=f"{dotted}.")
        else:
            out[dotted] = value
    return out


def _space(raw: Mapping[str, Any], lines: list[str]) -> dict[str, Range | list[Choice]]:
    if not raw:
        lines.append("space: empty; name at least one recipe key to search")
    space: dict[str, Range | list[Choice]] = {}
    for key, value in _flat(raw, "space", lines).items():
        where = f'space."{key}"'
        try:
            if isinstance(value, list):
                choices = _Choices.model_validate({"choices": value}).choices
                if len(set(map(json.dumps, choices))) < len(choices):
                    raise GancoreError(f"{where}: a choice is listed twice")
                space[key] = choices
            elif isinstance(value, dict):
                space[key] = Range.model_validate(value)
            else:
                raise GancoreError(f"{where}: a range {{ low = ..., high = ... }} or a list of choices, not {value!r}")
        except ValidationError as exc:
            model = _Choices if isinstance(value, list) else Range
            lines.extend(line.replace(f"{where}.choices", where, 1) for line in invalid_values(exc, where, model).lines)
        except GancoreError as exc:
            lines.append(str(exc))
    return space


def _objective(table: ObjectiveTable, registry: Registry, recipe: dict[str, Any] | None, overrides: Mapping[str, Any],
               space: Mapping[str, Any], lines: list[str]) -> Objective | None:
    """The metric and the value of it, the direction (the metric's own unless given) and
    how often it is measured (``every``; else the recipe's ``eval.every``; else five times
    a run)."""
    metric, _, value = table.metric.partition(".")
    try:
        entry = registry.get("metric", metric)
    except UnknownNameError as exc:
        lines.append(f"objective.metric: {exc}")
        return None
    directions: dict[str, bool] = dict(getattr(entry.factory, "higher_is_better", {}))
    if not value:
        if metric in directions or metric.replace("-", "_") in directions:
            value = metric if metric in directions else metric.replace("-", "_")
        elif len(directions) == 1:
            value = next(iter(directions))
        else:
            lines.append(f"objective.metric: metric {metric!r} reports several values; name one: "
                         + ", ".join(f"{metric}.{v}" for v in sorted(directions)))
            return None
    if value not in directions:
        lines.append(f"objective.metric: metric {metric!r} reports no value {value!r} "
                     f"(it reports {', '.join(sorted(directions)) or 'none it declares'})")
        return None
    own: Literal["maximize", "minimize"] = "maximize" if directions[value] else "minimize"
    if table.direction is not None and table.direction != own:
        lines.append(f"objective.direction: {value} is better {'higher' if own == 'maximize' else 'lower'}; "
                     f"direction = {table.direction!r} would search for the worst trial (leave it out, or {own!r})")
        return None
    every = table.every
    if every is None:
        if "train.steps" in space:
            lines.append("objective.every: train.steps is searched, so the steps between measurements must be "
                         "given (the pruner compares trials at the same steps)")
            return None
        evaluated = overrides.get("eval.every", _setting(recipe, "eval", "every"))
        steps = overrides.get("train.steps", _setting(recipe, "train", "steps"))
        steps = steps if isinstance(steps, int) else TrainSettings().steps
        if isinstance(evaluated, int) and evaluated > 0:
            every = evaluated
        else:
            every = max(1, steps // 5)
    return Objective(metric, dict(table.params), value, own, every)


def _setting(recipe: Mapping[str, Any] | None, section: str, key: str) -> Any:
    table = (recipe or {}).get(section)
    return table.get(key) if isinstance(table, Mapping) else None


def _checked_part(raw: Any, section: str, lines: list[str]) -> tuple[str, dict[str, Any]] | None:
    """A sampler's or pruner's name and parameters (a pruner is built here to check it;
    a sampler once the space is known, which the grid sampler takes)."""
    try:
        name, params = split_part(raw, section)
        if section == "pruner":
            build_part(section, name, params)
        return name, params
    except GancoreError as exc:
        lines.append(str(exc))
        return None


def _check_against_recipe(sweep: Sweep, registry: Registry, lines: list[str], *, with_objective: bool = True) -> None:
    """The recipe with the fixed overrides; then each searched key at each choice, or at
    each end of its range, alone on top of it."""

    def overrides(values: dict[str, Any]) -> dict[str, Any]:
        pairs = sweep.trial_overrides(values)
        return pairs if with_objective else {k: v for k, v in pairs.items() if k not in sweep.objective.eval_overrides()}

    def problems(values: dict[str, Any]) -> list[str]:
        try:
            Recipe(apply_overrides(sweep.recipe, overrides(values)), registry)
        except GancoreError as exc:
            return _lines(exc)
        return []

    with warnings.catch_warnings():
        # A part's name in the space starts its table afresh, as --set does: said in the docs, not per probe.
        warnings.simplefilter("ignore", RecipeWarning)
        base = problems({})
        for line in base:  # the objective's metric parameters are the recipe's eval.metrics.0
            lines.append(line.replace("eval.metrics.0.", "objective.params.", 1) if line.startswith("eval.metrics.0.")
                         else f"recipe with [overrides] and [objective]: {line}")
        for key, dimension in sweep.space.items():
            said = set(base)  # what the recipe refuses without this key, or at this key's other values
            for value in dimension if isinstance(dimension, list) else dimension.ends():
                new = [line for line in problems({key: value}) if line not in said]
                said.update(new)
                lines.extend(f'space."{key}" = {json.dumps(value)}: {line}' for line in new)
