"""An optimizer group's optimizer: the part of kind ``optimizer`` its ``[optim]`` settings
name, the values it is built with, and building it over the group's weights.

``[optim]`` and ``[optim.<group>]`` share one vocabulary, the recipe's optimizer keys
(``OptimSettings``): the engine's own (``name``, ``schedule``, ``final_lr``,
``clip_norm``) and those an optimizer reads (``lr``, ``betas``, ``eps``, ``weight_decay``,
``momentum``, ``implementation``). An optimizer is given the keys of that vocabulary it
declares as parameters and the recipe sets, and ignores the rest, as Adam ignores
``momentum``, so a recipe stays valid whichever optimizer a group uses. What the recipe
leaves unset takes the optimizer's own default, which the group's settings then record
(the engine schedules that ``lr``; the resolved recipe writes it). A plugin's optimizer
may take keys beyond the vocabulary; they are checked against its parameters like any
part's.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import torch
from torch import nn

from ._errors import InvalidValues, UnknownNameError
from ._params import _unknown_parameter, validate_params
from ._parts import Parameters
from ._registry import Registry

ENGINE_KEYS = frozenset({"name", "schedule", "final_lr", "clip_norm"})
"""Keys of the vocabulary the engine reads itself: never given to an optimizer."""

OptimizerPart = tuple[str, str, dict[str, Any]]


class Inherited(InvalidValues):
    """Values a group takes from ``[optim]`` that its optimizer refuses: reported once at
    ``optim.<key>``, naming every group they fail."""


def split_own(table: Mapping[str, Any], vocabulary: Collection[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``table`` as (its keys of the recipe's vocabulary, the others: an optimizer's own)."""
    return ({k: v for k, v in table.items() if k in vocabulary},
            {k: v for k, v in table.items() if k not in vocabulary})


def optimizer_part(
    registry: Registry,
    group: str,
    settings: Any,
    group_keys: Collection[str],
    base_keys: Collection[str],
    own: Mapping[str, Any],
    base_own: Mapping[str, Any],
) -> tuple[OptimizerPart, Any]:
    """``group``'s optimizer as a part, ("optimizer", name, parameters), checked before
    anything is built, and the group's settings with the optimizer's values of the
    vocabulary filled in. ``settings`` are the group's merged ``OptimSettings``;
    ``group_keys`` and ``base_keys`` the vocabulary keys its own table and ``[optim]`` set;
    ``own`` and ``base_own`` the keys beyond the vocabulary that they give."""
    vocabulary = list(type(settings).model_fields)

    def from_group(key: str) -> bool:
        return key in group_keys or key in own

    def from_base(key: str) -> bool:
        return not from_group(key) and (key in base_keys or key in base_own)

    def refuse(key: str, message: str) -> InvalidValues:
        if from_group(key):
            return InvalidValues([f"optim.{group}.{key}: {message}"], {key})
        return Inherited([f"optim.{key}: {message}"], {key})

    name = settings.name
    try:
        entry = registry.get("optimizer", name)
    except UnknownNameError as exc:
        if from_group("name"):
            raise UnknownNameError(f"optim.{group}.name: {exc}") from None
        raise refuse("name", str(exc)) from None
    takes = entry.params.model_fields
    unknown = [key for key in own if key not in takes]
    if unknown:
        known = vocabulary + [k for k in takes if k not in vocabulary]
        raise InvalidValues([f"optim.{group}.{k}: {_unknown_parameter(k, known)}" for k in unknown], unknown)
    # What the engine does for a group must mean something to its optimizer.
    if settings.schedule != "constant" and "lr" not in takes:
        raise refuse("schedule", f"optimizer {name!r} takes no lr to schedule")
    if settings.implementation != "default" and "implementation" not in takes:
        raise refuse("implementation", f"optimizer {name!r} has no implementation to choose")

    given = set(group_keys) | set(base_keys)
    passed = [k for k in vocabulary if k not in ENGINE_KEYS and k in takes]
    values = {k: getattr(settings, k) for k in passed if k in given}
    values |= {k: v for k, v in base_own.items() if k in takes} | dict(own)
    try:
        checked = registry.validate("optimizer", name, values, f"optim.{group}")
    except InvalidValues as exc:
        if not exc.fields or not all(from_base(key) for key in exc.fields):
            raise
        # Every refused value came from [optim]: say so there, once for all the groups.
        try:
            validate_params(entry.params, values, "optim")
        except InvalidValues as there:
            raise Inherited(there.lines, there.fields) from None
        raise
    # What the group's optimizer runs with, the recipe's value or its own default.
    settings = settings.model_copy(update={k: getattr(checked, k) for k in passed})
    return ("optimizer", name, checked.model_dump(mode="json")), settings


def unclaimed_keys(registry: Registry, base_own: Mapping[str, Any], parts: Mapping[str, OptimizerPart],
                   vocabulary: Collection[str]) -> list[str]:
    """``optim.<key>: unknown parameter ...`` for each key of ``[optim]`` beyond the
    vocabulary that no group's optimizer takes (a misspelt key, most likely)."""
    takes: set[str] = set()
    for kind, name, _ in parts.values():
        takes |= set(registry.get(kind, name).params.model_fields)
    known = list(vocabulary) + sorted(takes - set(vocabulary))
    return [f"optim.{key}: {_unknown_parameter(key, known)}" for key in base_own if key not in takes]


def build_optimizer(registry: Registry, part: OptimizerPart, parameters: list[nn.Parameter]) -> torch.optim.Optimizer:
    """The group's optimizer over its weights, built by the registry the recipe names it in."""
    kind, name, values = part
    optimizer = registry.build(kind, name, values, parameters=Parameters(parameters))
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer {name!r} did not build a torch.optim.Optimizer (got {type(optimizer).__qualname__})")
    return optimizer
