"""An optimizer group's optimizer: its ``[optim.<group>]`` table, building it over the
group's weights, and the learning-rate schedule it is run with.

A group's table holds the engine's keys (``ENGINE_KEYS``: ``name``, the optimizer part,
and ``schedule``, ``final_lr``, ``clip_norm``, which the engine applies around any
optimizer) and the optimizer's own parameters, checked by the registry against its
factory's signature like any part's. ``[optim]`` gives every group defaults: its engine
keys apply to every group, each of its other keys to the groups whose optimizer takes it
(``betas`` reaches adam and not sgd). Each value is kept once: the optimizer's in its part,
``("optimizer", name, parameters)``, the engine's in the group's ``OptimSettings``.

The schedule keeps no rate of its own: building an optimizer records each param group's
base rate as ``initial_lr``, as torch's LR schedulers do, so that it travels in the
optimizer's state_dict, and a step's rate is that base rate times ``lr_factor``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

import torch
from pydantic import ConfigDict, Field, ValidationError
from torch import nn

from ._errors import GancoreError, InvalidValues, UnknownNameError, unknown_name_message
from ._params import ExactScalars, _unknown_parameter, invalid_values
from ._parts import Parameters
from ._registry import Entry, Registry

DEFAULT_OPTIMIZER = "adam"

OptimizerPart = tuple[str, str, dict[str, Any]]


class OptimSettings(ExactScalars):
    """What the engine does around a group's optimizer (``recipe.optim[group]``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    schedule: Annotated[Literal["constant", "linear", "cosine"], Field(description="how the learning rate moves over train.steps")] = "constant"
    final_lr: Annotated[float, Field(ge=0, le=1, description="the scheduled lr at train.steps, as a fraction of lr")] = 0.0
    clip_norm: Annotated[float, Field(gt=0)] | None = Field(None, description="clip the group's gradient norm to this (unset: no clipping)")


class EngineKeys(OptimSettings):
    """The engine's keys as a table gives them: with ``name``, which picks the optimizer."""

    name: Annotated[str, Field(description="the group's optimizer, a part of kind optimizer")] = DEFAULT_OPTIMIZER


ENGINE_KEYS = ("name", *OptimSettings.model_fields)
"""Keys of an optimizer table that the engine reads itself: never given to an optimizer."""


class Inherited(InvalidValues):
    """Values a group takes from ``[optim]`` that its optimizer refuses: reported once at
    ``optim.<key>``, naming every group they fail."""


def engine_keys(table: Mapping[str, Any], path: str) -> EngineKeys:
    """The engine's keys of ``table`` (``[optim]`` or a group's), checked; the optimizer's
    parameters beside them are left to its own check."""
    try:
        return EngineKeys.model_validate({k: v for k, v in table.items() if k in ENGINE_KEYS})
    except ValidationError as exc:
        raise invalid_values(exc, path, EngineKeys) from None


def optim_tables(
    raw: Mapping[str, Any], groups: tuple[str, ...], registry: Registry
) -> tuple[dict[str, OptimSettings], dict[str, OptimizerPart], list[GancoreError]]:
    """The ``[optim]`` section read for a scheme's ``groups``: each group's engine settings
    and optimizer part, and every error found, in order (the caller reports them with the
    rest of the recipe's)."""
    errors: list[GancoreError] = []
    defaults = {k: v for k, v in raw.items() if not isinstance(v, Mapping)}
    tables = {k: v for k, v in raw.items() if isinstance(v, Mapping)}
    for name in tables:
        if name not in groups:
            errors.append(UnknownNameError(f"optim.{name}: " + unknown_name_message("optimizer group", name, groups)))
    base = _checked_keys(errors, defaults, "optim")
    settings: dict[str, OptimSettings] = {}
    parts: dict[str, OptimizerPart] = {}
    entries: dict[str, Entry] = {}
    refused: dict[str, list[str]] = {}  # a value of [optim] a group's optimizer refused -> those groups
    for group in groups:
        table = tables.get(group, {})
        own = _checked_keys(errors, table, f"optim.{group}")
        if base is None or own is None:
            continue  # an optimizer name was refused: what the group's optimizer takes is unknown
        keys = base.model_copy(update=own.model_dump(include=own.model_fields_set))
        try:
            entries[group] = _optimizer_entry(registry, group, keys.name, from_group="name" in table)
            settings[group], parts[group] = _group_optimizer(registry, entries[group], group, defaults, table, keys)
        except Inherited as exc:
            for line in exc.lines:
                refused.setdefault(line, []).append(group)
        except GancoreError as exc:
            errors.append(exc)
    for message, failing in refused.items():
        which = f"group {failing[0]!r}" if len(failing) == 1 else f"groups {', '.join(map(repr, failing))}"
        errors.append(GancoreError(f"{message} (optimizer {which})"))
    if len(entries) == len(groups):  # which keys [optim] may hold is known only when every optimizer is
        errors += [GancoreError(line) for line in _unclaimed_keys(defaults, entries.values())]
    return settings, parts, errors


def _checked_keys(errors: list[GancoreError], table: Mapping[str, Any], path: str) -> EngineKeys | None:
    """``table``'s engine keys, or None when its optimizer's name was refused (what it takes
    is then unknown). A refused value is added to ``errors`` and taken as left out, so that
    the groups' optimizer values are still checked and reported with it."""
    try:
        return engine_keys(table, path)
    except InvalidValues as exc:
        errors.append(exc)
        if "name" in exc.fields:
            return None
        return engine_keys({k: v for k, v in table.items() if k not in exc.fields}, path)


def _optimizer_entry(registry: Registry, group: str, name: str, *, from_group: bool) -> Entry:
    try:
        return registry.get("optimizer", name)
    except UnknownNameError as exc:
        if from_group:
            raise UnknownNameError(f"optim.{group}.name: {exc}") from None
        raise Inherited([f"optim.name: {exc}"], {"name"}) from None


def _group_optimizer(
    registry: Registry,
    entry: Entry,
    group: str,
    defaults: Mapping[str, Any],
    table: Mapping[str, Any],
    keys: EngineKeys,
) -> tuple[OptimSettings, OptimizerPart]:
    """``group``'s engine settings and its optimizer part, ("optimizer", name, parameters),
    checked before anything is built. ``defaults`` are ``[optim]``'s keys, ``table`` the
    group's own, ``keys`` the engine's keys of both merged."""
    takes = entry.params.model_fields
    own = {k: v for k, v in table.items() if k not in ENGINE_KEYS}
    unknown = [k for k in own if k not in takes]
    if unknown:
        known = [*takes, *ENGINE_KEYS]
        raise InvalidValues([f"optim.{group}.{k}: {_unknown_parameter(k, known)}" for k in unknown], unknown)
    # What the engine does for a group must mean something to its optimizer.
    if keys.schedule != "constant" and "lr" not in takes:
        message = f"optimizer {keys.name!r} takes no lr to schedule"
        if "schedule" in table:
            raise InvalidValues([f"optim.{group}.schedule: {message}"], {"schedule"})
        raise Inherited([f"optim.schedule: {message}"], {"schedule"})
    inherited = {k: v for k, v in defaults.items() if k in takes and k not in own and k not in ENGINE_KEYS}
    try:
        params = registry.validate("optimizer", keys.name, inherited | own, f"optim.{group}")
    except InvalidValues as exc:
        if exc.fields and exc.fields <= inherited.keys():
            # Every refused value came from [optim]: say so there, once for all the groups.
            raise Inherited(["optim." + line.removeprefix(f"optim.{group}.") for line in exc.lines], exc.fields) from None
        raise
    settings = OptimSettings.model_validate(keys.model_dump(exclude={"name"}))
    return settings, ("optimizer", keys.name, params.model_dump(mode="json"))


def _unclaimed_keys(defaults: Mapping[str, Any], entries: Iterable[Entry]) -> list[str]:
    """``optim.<key>: unknown parameter ...`` for each key of ``[optim]`` that neither the
    engine nor any group's optimizer takes (a misspelt key, most likely)."""
    takes = set().union(*(entry.params.model_fields for entry in entries))
    known = [*sorted(takes - set(ENGINE_KEYS)), *ENGINE_KEYS]
    return [f"optim.{key}: {_unknown_parameter(key, known)}" for key in defaults if key not in known]


# Optimizer keys that every [optim.<group>] table of a resolved recipe listed before the
# tables held each optimizer's own parameters, the optimizer ignoring those it did not take.
_OLD_SHARED_KEYS = ("lr", "betas", "eps", "weight_decay", "momentum", "implementation")


def upgrade_saved_tables(doc: dict[str, Any], registry: Registry) -> None:
    """A run directory's saved recipe, in place, as this version reads it: a group table
    written when tables shared one vocabulary lists all of ``_OLD_SHARED_KEYS``, and those
    its optimizer does not take (ignored then) are dropped. A table written since lists
    only keys its optimizer takes, so nothing of it is dropped."""
    optim = doc.get("optim")
    if not isinstance(optim, dict):
        return
    for table in optim.values():
        if not isinstance(table, dict) or not set(_OLD_SHARED_KEYS) <= table.keys():
            continue
        name = table.get("name", DEFAULT_OPTIMIZER)
        if not isinstance(name, str) or ("optimizer", name) not in registry.parts:
            continue  # the recipe's own check reports it
        takes = registry.get("optimizer", name).params.model_fields
        for key in _OLD_SHARED_KEYS:
            if key not in takes:
                del table[key]


def resolved_table(part: OptimizerPart, settings: OptimSettings) -> dict[str, Any]:
    """A group's complete ``[optim.<group>]`` table: the optimizer's name and parameters,
    then the engine's keys (read back, it gives the same part and settings)."""
    _, name, params = part
    return {"name": name, **params, **settings.model_dump(mode="json")}


def build_optimizer(registry: Registry, part: OptimizerPart, parameters: list[nn.Parameter]) -> torch.optim.Optimizer:
    """The group's optimizer over its weights, built by the registry the recipe names it in,
    with each param group's base rate recorded for the schedule."""
    kind, name, values = part
    optimizer = registry.build(kind, name, values, parameters=Parameters(parameters))
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer {name!r} did not build a torch.optim.Optimizer (got {type(optimizer).__qualname__})")
    base_rates = [group.get("lr") for group in optimizer.param_groups]
    base_betas = [group.get("betas") for group in optimizer.param_groups]

    def record_base_rates(built: torch.optim.Optimizer) -> None:
        # A param group without an "lr" (a plugin's optimizer may name its rate otherwise)
        # has no base rate. Run again after loading a state_dict: one written before base
        # rates were recorded holds only its step's rate, and the base rate is then the
        # recipe's, the one the optimizer was built with. Betas likewise, for lazy
        # regularization's adjustment.
        for group, rate, betas in zip(built.param_groups, base_rates, base_betas):
            if rate is not None:
                group.setdefault("initial_lr", rate)
            if betas is not None:
                group.setdefault("initial_betas", tuple(betas))

    record_base_rates(optimizer)
    optimizer.register_load_state_dict_post_hook(record_base_rates)
    return optimizer


def lr_factor(schedule: str, step: int, total: int, final: float) -> float:
    """The fraction of the base learning rate to use for generator step ``step`` (0-based)
    of ``total``: 1 throughout for ``constant``; from 1 down to ``final`` at ``total``,
    in a straight line for ``linear`` or half a cosine for ``cosine``. A function of the
    step alone, with no state, so a resumed run sets exactly the rate the uninterrupted
    run would have had."""
    if schedule == "constant":
        return 1.0
    progress = min(step / max(total, 1), 1.0)
    if schedule == "linear":
        return 1.0 - (1.0 - final) * progress
    if schedule == "cosine":
        return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown learning-rate schedule {schedule!r}")


def set_group_values(optimizer: torch.optim.Optimizer, settings: OptimSettings, step: int, total: int,
                     scheduled: Mapping[str, Any], lazy_ratio: float | None) -> None:
    """Set ``optimizer``'s values for step ``step`` (0-based) of ``total``: the values the
    recipe's ``[schedule]`` gives (``scheduled``), else each param group's base rate times
    the group's learning-rate schedule; then, under lazy regularization, the rate times
    ``lazy_ratio`` and the betas to its power (StyleGAN2's adjustment)."""
    factor = lr_factor(settings.schedule, step, total, settings.final_lr) if settings.schedule != "constant" else None
    for group in optimizer.param_groups:
        values = dict(scheduled)
        if factor is not None:
            values["lr"] = group["initial_lr"] * factor
        if lazy_ratio is not None:
            lr = values.get("lr", group.get("initial_lr"))
            if lr is not None:
                values["lr"] = lr * lazy_ratio
            betas = values.get("betas", group.get("initial_betas"))
            if betas is not None:
                values["betas"] = tuple(b ** lazy_ratio for b in betas)
        group.update(values)
