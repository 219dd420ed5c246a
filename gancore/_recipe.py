"""Recipes: one TOML document naming the parts and the training settings.

Validation happens in two passes, both before anything is built: the fixed sections
(``train``, ``optim``, ``ema``, ``eval``) with pydantic, then every part against the
registry (its name, its parameters, the names its parameters refer to). Each error
names its path in the document, for example ``critic.norm``, and every error is reported
at once (a :class:`RecipeError` lists them), except those that a first one makes
meaningless: the slots of an unknown scheme, the parameters of an unknown part.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Callable, Collection, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ._errors import GancoreError, InvalidValues, RecipeError, UnknownNameError, unknown_name_message
from ._evaluate import best_value, metric_spec, metric_specs
from ._optim import OptimizerPart, OptimSettings, engine_keys, optim_tables, resolved_table
from ._params import ExactScalars, invalid_values, refs_of
from ._registry import Registry
from ._schedule import ScheduleTable, Scheduled, find_place, read_tables, resolve

DEFAULT_RECIPE = "dcgan-mnist"
"""What ``gancore train`` runs when no recipe is named."""

FIXED_SECTIONS = ("description", "scheme", "data", "train", "optim", "ema", "eval", "augment", "callbacks", "schedule")


class _Strict(ExactScalars):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class TrainSettings(_Strict):
    steps: Annotated[int, Field(ge=1, description="generator steps to train for")] = 2000
    batch_size: Annotated[int, Field(ge=1, description="samples per batch (the global batch, shared among the processes)")] = 64
    seed: Annotated[int, Field(ge=0, le=2**32 - 1, description="seed of every random draw; a CPU run repeats exactly")] = 0
    device: Annotated[str, Field(description="auto, cpu, cuda or cuda:N")] = "auto"
    threads: Annotated[int | None, Field(ge=1, le=1024, description="CPU threads of each training process (default: the machine's cores, divided among the processes of a job)")] = None
    amp: Annotated[Literal["off", "bf16", "fp16"], Field(description="mixed precision of the forward passes: off, bf16, or fp16 with loss scaling")] = "off"
    on_nonfinite: Annotated[Literal["stop", "skip", "ignore"], Field(description="a non-finite loss or gradient: stop the run, skip the update, or ignore it")] = "stop"
    skip_limit: Annotated[int, Field(ge=1, description="skipped (non-finite) updates in a row that end the run")] = 20
    backend: Annotated[Literal["auto", "gloo", "nccl"], Field(description="process-group backend when several processes train (torchrun): auto is nccl on CUDA, gloo on the CPU")] = "auto"
    sync_batchnorm: Annotated[bool, Field(description="with several CUDA processes, batch norm takes its statistics over the global batch (refused on the CPU)")] = False
    regularize_every: Annotated[int, Field(ge=1, le=1000, description="lazy regularization: the critic's penalties (R1, R2, gradient penalties) only every k-th step, as an update of their own scaled by k, with the regularized group's lr and betas adjusted by k/(k+1) as StyleGAN2 does (1: in every critic update)")] = 1
    compile: Annotated[bool, Field(description="torch.compile the networks (slower on small CPU models; see docs/benchmarks.md)")] = False
    channels_last: Annotated[bool, Field(description="networks' 4-D weights and 4-D image batches in channels-last memory format: the same computation up to float rounding; no effect on other data (on the CPU measured: no faster for dcgan-mnist, 1.06-1.09x for r3gan's networks; see docs/benchmarks.md)")] = False
    log_every: Annotated[int, Field(ge=1, description="steps between metric lines")] = 50
    sample_every: Annotated[int, Field(ge=0, description="steps between sample grids (0: only at the end)")] = 500
    checkpoint_every: Annotated[int, Field(ge=0, description="steps between checkpoints (0: only at the end)")] = 1000
    keep_checkpoints: Annotated[int, Field(ge=1, description="checkpoints kept on disk")] = 2
    num_samples: Annotated[int, Field(ge=1, le=10_000, description="samples in each grid or scatter plot")] = 64


class EmaSettings(_Strict):
    decay: Annotated[float, Field(ge=0, lt=1, description="0 turns EMA off (unless half_life is set)")] = 0.0
    half_life: Annotated[float | None, Field(gt=0, description="thousands of images (kimg) after which an averaged weight counts half: StyleGAN's ema_kimg, instead of decay")] = None
    rampup: Annotated[float | None, Field(gt=0, le=1, description="with half_life: the half-life is at most rampup x the images trained on so far (StyleGAN's ema_rampup, e.g. 0.05)")] = None
    start: Annotated[int, Field(ge=0, description="steps trained before the average starts")] = 0

    @model_validator(mode="after")
    def _one_way(self) -> EmaSettings:
        if self.half_life is not None and self.decay > 0:
            raise ValueError("give ema.decay or ema.half_life, not both")
        if self.rampup is not None and self.half_life is None:
            raise ValueError("ema.rampup goes with ema.half_life (a ramp of the half-life)")
        return self

    @property
    def on(self) -> bool:
        return self.decay > 0 or self.half_life is not None


class EvalSettings(_Strict):
    every: Annotated[int, Field(ge=0, description="steps between evaluations (0: never during training)")] = 0
    metrics: Annotated[list[str | dict[str, Any]], Field(description="metric names, or tables with a name and parameters")] = []
    num_samples: Annotated[int, Field(ge=1, le=1_000_000, description="generated (and real) samples per evaluation")] = 2000
    features: Annotated[str | dict[str, Any] | None, Field(description="feature space of every metric that takes one and names none: a name, or a table of a name and parameters (default: each metric's own)")] = None
    best: Annotated[str | None, Field(description="logged value whose best evaluation keeps its checkpoint (checkpoints/best.pt); default fid when a metric gives it; \"\" keeps none")] = None


class Settings(_Strict):
    """The sections every recipe shares, whatever its scheme."""

    description: str = ""
    train: TrainSettings = TrainSettings()
    optim: dict[str, Any] = {}
    ema: EmaSettings = EmaSettings()
    eval: EvalSettings = EvalSettings()


class _Problems:
    """The errors found so far in a recipe: each check runs, and adds its errors here
    instead of stopping the others."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.first: GancoreError | None = None

    def add(self, exc: GancoreError) -> None:
        if isinstance(exc, RecipeError):
            lines = exc.errors
        elif isinstance(exc, InvalidValues):
            lines = exc.lines
        else:
            lines = [str(exc)]
        self.first = self.first or exc
        self.errors += [line for line in lines if line not in self.errors]

    def attempt(self, check: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``check(*args, **kwargs)``, or None when it raised a GancoreError (recorded)."""
        try:
            return check(*args, **kwargs)
        except GancoreError as exc:
            self.add(exc)
            return None

    def raise_any(self) -> None:
        """One error as it was raised; several as one RecipeError listing them all."""
        if len(self.errors) == 1 and self.first is not None:
            raise self.first
        if self.errors:
            raise RecipeError(self.errors)


def _validate(model: type[BaseModel], values: Any, path: str) -> Any:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise invalid_values(exc, path, model) from None


def _component(raw: Any, path: str, default: str | None = None) -> tuple[str, dict[str, Any]]:
    """A part's table -> (name, params). A bare string is a name with no parameters."""
    if raw is None:
        if default is None:
            raise GancoreError(f"{path}: missing; the recipe needs a [{path}] table with a name")
        return default, {}
    if isinstance(raw, str):
        return raw, {}
    if not isinstance(raw, Mapping):
        raise GancoreError(f"{path}: expected a table with a 'name' key, got {type(raw).__name__}")
    params = dict(raw)
    name = params.pop("name", None)
    if name is None:
        if default is None:
            raise GancoreError(f"{path}.name: missing; which part to use")
        name = default
    if not isinstance(name, str):
        raise GancoreError(f"{path}.name: expected a string")
    return name, params


class Recipe:
    """A validated recipe. ``parts`` holds (kind, name, params) per slot path; a slot of
    ``many`` parts holds a list. ``data`` and ``scheme`` are parts like the others."""

    def __init__(self, raw: Mapping[str, Any], registry: Registry, *, objects: Mapping[str, Any] = {}) -> None:
        raw = copy.deepcopy(dict(raw))
        self.raw = raw
        self.objects = dict(objects)
        problems = _Problems()
        scheme_name, scheme_params = problems.attempt(_component, raw.get("scheme"), "scheme", default="adversarial") or (None, {})
        self.scheme_class: Any = None
        if scheme_name is not None:
            try:
                self.scheme_class = registry.get("scheme", scheme_name).factory
            except UnknownNameError as exc:
                problems.add(UnknownNameError(f"scheme: {exc}"))
        # An unknown scheme has no known slots or optimizer groups: what depends on them
        # goes unchecked rather than reported as noise.
        slots = self.scheme_class.slots if self.scheme_class is not None else {}
        misspelt: set[str] = set()  # slots that an unknown section's name is close to
        if self.scheme_class is not None:
            allowed = set(FIXED_SECTIONS) | set(slots)
            for key in raw:
                if key not in allowed:
                    problems.add(GancoreError(f"{unknown_name_message('recipe section', key, allowed)} for scheme {scheme_name!r}"))
                    misspelt.update(difflib.get_close_matches(str(key), list(slots), n=3, cutoff=0.6))

        # The fixed sections, each on its own so that one bad section leaves the others checked.
        sections: dict[str, Any] = {}
        for key in ("description", "train", "optim", "ema", "eval"):
            if key in raw:
                settings = problems.attempt(_validate, Settings, {key: raw[key]}, "")
                sections[key] = getattr(settings, key) if settings is not None else None
        defaults = Settings()
        self.description = sections.get("description") or defaults.description
        self.train: TrainSettings = sections.get("train") or defaults.train
        self.ema: EmaSettings = sections.get("ema") or defaults.ema
        self.eval: EvalSettings = sections.get("eval") or defaults.eval
        metrics = self.eval.metrics if "eval" not in raw or sections["eval"] is not None else _metrics_alone(raw["eval"])
        optim = sections.get("optim", {}) if "optim" not in raw or sections["optim"] is not None else None
        self.optim: dict[str, OptimSettings] = {}
        self.optimizers: dict[str, OptimizerPart] = {}  # ("optimizer", name, params) per group
        if optim is not None and self.scheme_class is not None:
            self.optim, self.optimizers, optim_errors = optim_tables(optim, self.scheme_class.groups(), registry)
            for error in optim_errors:
                problems.add(error)
        elif optim is not None:
            # The unknown scheme's groups, and so their optimizers and what they take, are
            # unknown: only the engine's keys of [optim] can be checked.
            problems.attempt(engine_keys, {k: v for k, v in optim.items() if not isinstance(v, Mapping)}, "optim")

        # No scheme name only where [scheme] is invalid: a recorded problem, raised below.
        self.scheme: tuple[str, str, dict[str, Any]] = ("scheme", scheme_name or "", {})
        if self.scheme_class is not None:
            assert scheme_name is not None  # the scheme class was found by its name
            self.scheme = ("scheme", scheme_name, problems.attempt(self._params, registry, "scheme", scheme_name, scheme_params, "scheme"))
        if "data" in self.objects:  # a dataset given as a Python object (built by the caller)
            if "data" in raw:
                problems.add(GancoreError("data: given both as an object and in the recipe"))
            self.data: Any = ("dataset", "<object>", {})
        else:
            self.data = problems.attempt(self._part, registry, "dataset", raw.get("data"), "data")
        self.slots: dict[str, Any] = {}
        if self.scheme_class is not None:
            for unknown in sorted(set(self.objects) - set(slots) - {"data"}):  # an object nothing would use is refused
                problems.add(GancoreError(f"{unknown}=...: scheme {scheme_name!r} has no slot of that name "
                                          f"(its slots: {', '.join(sorted(slots))})"))
        for slot_name, slot in slots.items():
            if slot_name in self.objects:
                if slot_name in raw:
                    problems.add(GancoreError(f"{slot_name}: given both as an object and in the recipe"))
                self.slots[slot_name] = None  # built by the caller
                continue
            value = raw.get(slot_name)
            if slot.many:
                items = [] if value is None else value
                if not isinstance(items, list):
                    items = [items]
                self.slots[slot_name] = [
                    problems.attempt(self._part, registry, slot.kind, item, f"{slot_name}.{i}") for i, item in enumerate(items)
                ]
            elif value is None and not slot.required and slot.default is None:
                self.slots[slot_name] = None
            elif value is None and slot.default is None and slot_name in misspelt:
                self.slots[slot_name] = None  # "did you mean" above already points here
            else:
                self.slots[slot_name] = problems.attempt(self._part, registry, slot.kind, value, slot_name, slot.default)
        features = self.eval.features
        if features is not None and problems.attempt(self._part, registry, "features", features, "eval.features") is None:
            features = None
        metrics_valid = True  # the best value is checked among valid metrics only
        for i, item in enumerate(metrics):
            spec = problems.attempt(metric_spec, item)
            if spec is not None and ("metric", spec[0]) in registry.parts:
                spec = metric_specs(registry, [item], features)[0]
            if spec is None or problems.attempt(self._params, registry, "metric", spec[0], spec[1], f"eval.metrics.{i}") is None:
                metrics_valid = False
        if metrics_valid and metrics:  # with none named, the data decides: checked when training starts
            problems.attempt(best_value, registry, metrics, self.eval.best)
        # Engine-level parts, whatever the scheme: augmentations before every critic call,
        # and callbacks.
        self.augments = self._part_list(problems, registry, raw, "augment", "augment")
        self.callbacks = self._part_list(problems, registry, raw, "callbacks", "callback")
        # Last: what a schedule names is only known once everything else is read.
        self.schedule_tables: dict[str, ScheduleTable] = {}
        self.schedules: list[Scheduled] = []
        if "schedule" in raw:
            self._read_schedules(problems, registry, raw["schedule"])
        problems.raise_any()

    def _read_schedules(self, problems: _Problems, registry: Registry, raw: Any) -> None:
        tables, errors = read_tables(raw)
        for error in errors:
            problems.add(error)
        if problems.errors:
            return  # a key's place and its values' ranges mean nothing in a recipe with errors
        seen: dict[str, str] = {}
        for key, table in tables.items():
            scheduled = problems.attempt(resolve, key, table, lambda k: find_place(k, self, registry))
            if scheduled is None:
                continue
            for one in scheduled:
                if one.target.name in seen:
                    problems.add(GancoreError(f'schedule."{key}": moves {one.target.name}, which '
                                              f'schedule."{seen[one.target.name]}" moves already'))
                    break
                seen[one.target.name] = key
            else:
                self.schedule_tables[key] = table
                self.schedules += scheduled

    def _part_list(self, problems: _Problems, registry: Registry, raw: Mapping[str, Any], section: str,
                   kind: str) -> list[tuple[str, str, dict[str, Any]]]:
        """An array of tables (``[[augment]]``), one part each, in order."""
        items = raw.get(section, [])
        if not isinstance(items, list):
            items = [items]
        return [problems.attempt(self._part, registry, kind, item, f"{section}.{i}") for i, item in enumerate(items)]

    def _part(self, registry: Registry, kind: str, raw: Any, path: str, default: str | None = None) -> tuple[str, str, dict[str, Any]]:
        name, params = _component(raw, path, default)
        return (kind, name, self._params(registry, kind, name, params, path))

    @staticmethod
    def _params(registry: Registry, kind: str, name: str, params: dict[str, Any], path: str) -> dict[str, Any]:
        try:
            entry = registry.get(kind, name)
        except UnknownNameError as exc:
            raise UnknownNameError(f"{path}.name: {exc}") from None
        try:
            return registry.validate(kind, name, params, path).model_dump(mode="json")
        except InvalidValues as exc:
            # The names its other parameters refer to are checked too, to be reported together.
            lines = exc.lines + _unknown_refs(registry, entry.params, params, path, skip=exc.fields)
            first: GancoreError = exc
        except UnknownNameError as exc:  # a parameter naming a part nothing registered: all of them
            lines = [str(exc), *_unknown_refs(registry, entry.params, params, path)]
            first = exc
        lines = list(dict.fromkeys(lines))
        if len(lines) == 1:
            raise first
        raise RecipeError(lines) from None

    # -- serialising -----------------------------------------------------------------

    def _object_entry(self, key: str) -> dict[str, str]:
        """What the run directory records of a part given as a Python object: its class."""
        obj = self.objects[key]
        # A run loaded without its Python dataset keeps the record of the one it had.
        name = getattr(obj, "class_name", None) if type(obj).__name__ == "AbsentData" else None
        return {"name": "<object>", "class": name or f"{type(obj).__module__}.{type(obj).__qualname__}"}

    def resolved(self) -> dict[str, Any]:
        """The whole recipe with every default filled in: what the run directory keeps."""
        out: dict[str, Any] = {}
        if self.description:
            out["description"] = self.description
        out["scheme"] = {"name": self.scheme[1], **self.scheme[2]}
        out["data"] = self._object_entry("data") if "data" in self.objects else {"name": self.data[1], **self.data[2]}
        for slot_name, value in self.slots.items():
            if value is None:
                if slot_name in self.objects:
                    out[slot_name] = self._object_entry(slot_name)
                continue
            if isinstance(value, list):
                out[slot_name] = [{"name": n, **p} for _, n, p in value]
            else:
                out[slot_name] = {"name": value[1], **value[2]}
        out["train"] = self.train.model_dump(mode="json")
        out["optim"] = {group: resolved_table(self.optimizers[group], settings) for group, settings in self.optim.items()}
        out["ema"] = self.ema.model_dump(mode="json")
        out["eval"] = self.eval.model_dump(mode="json")
        if self.augments:
            out["augment"] = [{"name": n, **p} for _, n, p in self.augments]
        if self.callbacks:
            out["callbacks"] = [{"name": n, **p} for _, n, p in self.callbacks]
        if self.schedule_tables:
            out["schedule"] = {key: table.model_dump(mode="json", exclude_none=True) for key, table in self.schedule_tables.items()}
        safe: dict[str, Any] = _toml_safe(out)
        return safe


def _metrics_alone(raw_eval: Any) -> list[Any]:
    """The metrics of an ``[eval]`` section whose other keys were refused, if they are valid
    on their own: their names are still worth checking."""
    if not isinstance(raw_eval, Mapping):
        return []
    try:
        return EvalSettings.model_validate({"metrics": raw_eval.get("metrics", [])}).metrics
    except ValidationError:
        return []


def _unknown_refs(registry: Registry, model: type[BaseModel], params: Mapping[str, Any], path: str,
                  skip: Collection[str] = ()) -> list[str]:
    """``critic.norm: unknown normalization ...`` for each parameter that names an unregistered
    part (those in ``skip`` were refused already)."""
    out = []
    for field, ref in refs_of(model).items():
        value = params.get(field)
        if field in skip or not isinstance(value, str) or (ref.kind, value) in registry.parts:
            continue
        where = f"{path}.{field}" if path else field
        out.append(f"{where}: {unknown_name_message(ref.kind, value, registry.names(ref.kind))}")
    return out


def _toml_safe(value: Any) -> Any:
    """TOML has no null: drop None values (they are the defaults anyway)."""
    if isinstance(value, dict):
        return {k: _toml_safe(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_toml_safe(v) for v in value]
    if isinstance(value, tuple):
        return [_toml_safe(v) for v in value]
    return value
