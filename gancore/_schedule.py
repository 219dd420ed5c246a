"""Schedules: a recipe's ``[schedule]`` section moves numeric values over the run.

Each key names one value of the recipe, and its table says where it goes::

    [schedule."optim.lr"]                  # every group's learning rate
    end = 5e-5                             # from the recipe's lr (start = ... to say another)
    shape = "cosine"                       # or "linear", or "constant"
    [schedule."optim.critic.betas"]        # one group's betas (a list moves element-wise)
    end = [0.0, 0.99]
    [schedule."regularizers.r1.weight"]    # a part's parameter that the part declares schedulable
    start = 0.05
    end = 0.005
    steps = 20000                          # reached at step 20000 and kept (default: train.steps)

What may be scheduled: an optimizer's numeric parameters (``optim.<param>`` for every group
whose optimizer takes it, ``optim.<group>.<param>`` for one), the EMA's length
(``ema.decay`` or ``ema.half_life``, whichever the recipe uses), and each parameter a part
lists in its ``schedulable`` class attribute (``<slot>.<param>``; in an array of tables
``<slot>.<name>.<param>`` or ``<slot>.<index>.<param>``; ``augment.<name>.<param>``).
Anything else is refused when the recipe is read. Start and end are checked like the value
itself (a decay stays below 1, a regularizer's weight at least 0).

A schedule is a pure function of the step: the engine sets every scheduled value before
each step from the step's number alone, so a resumed run takes exactly the values the
uninterrupted run took, and nothing about a schedule needs saving.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationError

from ._errors import GancoreError, InvalidValues
from ._params import ExactScalars, invalid_values

Value = float | tuple[float, ...]
Shape = Literal["constant", "linear", "cosine"]

NOT_SCHEDULABLE = ("scheme", "data", "train", "eval", "description", "callbacks")


class ScheduleTable(ExactScalars):
    """One ``[schedule."<key>"]`` table."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    start: float | list[float] | None = Field(None, description="the value at step 0 (default: the recipe's value at the key)")
    end: float | list[float] | None = Field(None, description="the value reached at `steps` and kept after it (required unless shape is constant)")
    shape: Annotated[Shape, Field(description="how the value moves: constant (stays at start), linear, or cosine (half a cosine, slow at both ends)")] = "cosine"
    steps: Annotated[int | None, Field(ge=1, description="the step at which the value reaches end (default: train.steps)")] = None


@dataclass(frozen=True)
class Target:
    """What a schedule sets: ``("optim", group, param)``, ``("ema", field)`` or
    ``("part", path, param)`` (``path`` the part's place: ``loss``, ``regularizers.0``,
    ``augment.1``). ``name`` is the column its values are logged under."""

    where: tuple[str, ...]
    name: str


@dataclass(frozen=True)
class Scheduled:
    """One value moved over the run: its target, start and end, shape and length."""

    target: Target
    start: Value
    end: Value
    shape: Shape
    steps: int | None  # None: train.steps

    def at(self, step: int, total: int) -> Value:
        """The value in force during step ``step`` (0-based) of a run of ``total`` steps."""
        fraction = progress(self.shape, step, self.steps or total)
        if isinstance(self.start, tuple):
            assert isinstance(self.end, tuple)
            return tuple(a + (b - a) * fraction for a, b in zip(self.start, self.end))
        assert isinstance(self.end, float)
        return self.start + (self.end - self.start) * fraction


def progress(shape: Shape, step: int, steps: int) -> float:
    """How far from start to end a value is at ``step`` of ``steps``: 0 throughout for
    ``constant``; from 0 to 1 (and 1 after) in a straight line for ``linear``, along half a
    cosine for ``cosine``."""
    if shape == "constant":
        return 0.0
    p = min(step / max(steps, 1), 1.0)
    if shape == "linear":
        return p
    return 0.5 * (1.0 - math.cos(math.pi * p))


def read_tables(raw: Any) -> tuple[dict[str, ScheduleTable], list[GancoreError]]:
    """The ``[schedule]`` section's tables by key, checked on their own (what each key
    refers to is checked by :func:`resolve`)."""
    if not isinstance(raw, Mapping):
        return {}, [GancoreError('schedule: expected a table of tables, like [schedule."optim.lr"] with end = ...')]
    tables: dict[str, ScheduleTable] = {}
    errors: list[GancoreError] = []
    for key, value in raw.items():
        path = f'schedule."{key}"'
        if not isinstance(value, Mapping):
            errors.append(GancoreError(f"{path}: expected a table (start, end, shape, steps), got {type(value).__name__}"))
            continue
        try:
            table = ScheduleTable.model_validate(value)
        except ValidationError as exc:
            errors.append(invalid_values(exc, path, ScheduleTable))
            continue
        if table.end is None and table.shape != "constant":
            errors.append(GancoreError(f"{path}.end: missing; where the value goes by step {table.steps or 'train.steps'}"))
            continue
        if table.end is not None and table.shape == "constant":
            errors.append(GancoreError(f"{path}: a constant schedule has no end (it keeps start); use shape = \"linear\" or \"cosine\""))
            continue
        tables[key] = table
    return tables, errors


@dataclass
class Place:
    """What a key refers to, as :func:`resolve` finds it: the targets (one per optimizer
    group for ``optim.<param>``), each one's current value, and how to check a value."""

    targets: list[Target]
    current: list[Any]
    check: Callable[[Any, str], None]  # raises InvalidValues/GancoreError for a value out of range


def resolve(key: str, table: ScheduleTable, places: Callable[[str], Place]) -> list[Scheduled]:
    """A key's schedules, one per target: ``places`` finds what the key refers to (or raises
    a GancoreError saying why it cannot be scheduled)."""
    path = f'schedule."{key}"'
    place = places(key)
    out = []
    for target, current in zip(place.targets, place.current):
        start = table.start if table.start is not None else current
        end = table.end if table.end is not None else start
        start_value, end_value = _numeric(start, current, f"{path}.start"), _numeric(end, current, f"{path}.end")
        for name, value in (("start", start), ("end", end)):
            if (name == "start" and table.start is None) or (name == "end" and table.end is None):
                continue  # the recipe's own value, checked with the recipe
            try:
                place.check(list(value) if isinstance(value, (list, tuple)) else value, f"{path}.{name}")
            except InvalidValues as exc:
                raise GancoreError("; ".join(exc.lines)) from None
        out.append(Scheduled(target, start_value, end_value, table.shape, table.steps))
    return out


def _numeric(value: Any, current: Any, path: str) -> Value:
    """``value`` as the schedule moves it: a float, or a tuple of floats as long as the
    recipe's own list (``betas``)."""
    if isinstance(current, (list, tuple)):
        if not isinstance(value, (list, tuple)) or len(value) != len(current):
            raise GancoreError(f"{path}: the value is a list of {len(current)} numbers ({list(current)}); give one of the same length")
        return tuple(float(v) for v in value)
    if isinstance(value, (list, tuple)):
        raise GancoreError(f"{path}: the value is a number ({current}), not a list")
    return float(value)


def logged(values: Mapping[str, Value]) -> dict[str, float]:
    """Scheduled values as metrics columns: one per element of a list (``optim.critic.betas.1``)."""
    out: dict[str, float] = {}
    for name, value in values.items():
        out |= {f"{name}.{i}": v for i, v in enumerate(value)} if isinstance(value, tuple) else {name: value}
    return out


def set_scheduled(parts: Mapping[str, Any], ema_length: Any, target: Target, value: Value) -> None:
    """A run's scheduled value other than an optimizer's (the engine sets those): the EMA's
    length (``ema_length``, which every EMA update reads), or a part's parameter, an
    attribute of the same name that the part reads each time it is used."""
    if target.where[0] == "ema":
        setattr(ema_length, target.where[1], value)
    else:
        _, place, param = target.where
        setattr(parts[place], param, list(value) if isinstance(value, tuple) else value)


def is_numeric(value: Any) -> bool:
    """A value a schedule can move: a number, or a non-empty list of numbers (not a bool)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, (list, tuple)) and bool(value) and all(is_numeric(v) and not isinstance(v, list) for v in value)


def unschedulable(key: str, why: str) -> GancoreError:
    return GancoreError(f'schedule."{key}": cannot be scheduled: {why}')


def applied(scheduled: Sequence[Scheduled], step: int, total: int) -> dict[str, Value]:
    """Every scheduled value in force during ``step``, by its column name."""
    return {s.target.name: s.at(step, total) for s in scheduled}


# -- what a key refers to ------------------------------------------------------------------------


def find_place(key: str, recipe: Any, registry: Any) -> Place:
    """What ``key`` names in ``recipe`` (a ``Recipe`` being built: its optimizers, EMA
    settings, slots and augments are read), or a GancoreError saying why it cannot be
    scheduled."""
    head, *rest = key.split(".")
    if head == "optim":
        return _optimizer_place(key, rest, recipe, registry)
    if head == "ema":
        return _ema_place(key, rest, recipe)
    if head == "augment":
        return _part_place(key, rest, "augment", recipe.augments, registry, many=True)
    slots = getattr(recipe.scheme_class, "slots", {})
    if head in slots:
        if head in recipe.objects:
            raise unschedulable(key, f"{head} is a Python object, not a part the recipe built")
        value = recipe.slots.get(head)
        return _part_place(key, rest, head, value, registry, many=slots[head].many)
    if head in NOT_SCHEDULABLE:
        why = f"[{head}] is fixed for the whole run"
    else:
        why = f"no section {head!r}"
    raise unschedulable(key, f"{why}; a schedule moves optim.<param>, optim.<group>.<param>, ema.decay or "
                             "ema.half_life, or a parameter a part declares schedulable (<slot>.<param>, "
                             "<slot>.<name>.<param>, augment.<name>.<param>)")


def _optimizer_place(key: str, rest: list[str], recipe: Any, registry: Any) -> Place:
    groups = list(recipe.optimizers)
    if len(rest) == 1:
        param, chosen = rest[0], [g for g in groups if rest[0] in recipe.optimizers[g][2]]
        if not chosen:
            raise unschedulable(key, f"no optimizer group's optimizer takes {param!r}")
    elif len(rest) == 2:
        group, param = rest
        if group not in groups:
            raise unschedulable(key, f"no optimizer group {group!r} (groups: {', '.join(groups)})")
        if param not in recipe.optimizers[group][2]:
            takes = ", ".join(recipe.optimizers[group][2])
            raise unschedulable(key, f"optimizer {recipe.optimizers[group][1]!r} takes no {param!r} (it takes: {takes})")
        chosen = [group]
    else:
        raise unschedulable(key, "name an optimizer parameter: optim.<param> or optim.<group>.<param>")
    for group in chosen:
        if not is_numeric(recipe.optimizers[group][2][param]):
            raise unschedulable(key, f"{param} = {recipe.optimizers[group][2][param]!r} is not a number or a list of numbers")
        if param == "lr" and recipe.optim[group].schedule != "constant":
            raise unschedulable(key, f"optim.{group}.schedule = {recipe.optim[group].schedule!r} already moves the "
                                     "learning rate; use one or the other")

    def check(group: str) -> Callable[[Any, str], None]:
        _, name, params = recipe.optimizers[group]
        return lambda value, path: _checked(registry.validate, path, param, "optimizer", name, params | {param: value})

    # One check per group: optim.lr covers groups whose optimizers may differ.
    checks = [check(g) for g in chosen]

    def check_all(value: Any, path: str) -> None:
        for one in checks:
            one(value, path)

    return Place([Target(("optim", g, param), f"optim.{g}.{param}") for g in chosen],
                 [recipe.optimizers[g][2][param] for g in chosen], check_all)


def _ema_place(key: str, rest: list[str], recipe: Any) -> Place:
    ema = recipe.ema
    if rest == ["half_life"] and ema.half_life is None:
        raise unschedulable(key, "the recipe's EMA has no half_life (set ema.half_life to the start value)")
    if rest == ["decay"] and ema.decay == 0:
        raise unschedulable(key, "the recipe's EMA is off or set by half_life (set ema.decay to the start value)")
    if rest not in (["half_life"], ["decay"]):
        raise unschedulable(key, "the EMA's length is ema.decay or ema.half_life")
    field = rest[0]

    def check(value: Any, path: str) -> None:
        try:
            type(ema).model_validate(ema.model_dump() | {field: value})
        except ValidationError as exc:
            raise InvalidValues([f"{path}: {error['msg']}" for error in exc.errors()], {field}) from None

    return Place([Target(("ema", field), key)], [getattr(ema, field)], check)


def _part_place(key: str, rest: list[str], slot: str, value: Any, registry: Any, *, many: bool) -> Place:
    if many:
        items = value or []
        if len(rest) != 2:
            raise unschedulable(key, f"name the part and its parameter: {slot}.<name>.<param> or {slot}.<index>.<param>")
        which, param = rest
        if which.isdigit():
            index = int(which)
            if index >= len(items):
                raise unschedulable(key, f"the recipe has {len(items)} {slot} part(s)")
        else:
            found = [i for i, item in enumerate(items) if item is not None and item[1] == which]
            if len(found) != 1:
                names = ", ".join(item[1] for item in items if item is not None) or "none"
                why = "more than one" if found else "none"
                raise unschedulable(key, f"{why} of the recipe's {slot} parts is named {which!r} ({names}); "
                                         f"{'use its index, ' + slot + '.<index>.' + param if found else 'use a name it has'}")
            index = found[0]
        part, where = items[index], f"{slot}.{index}"
    else:
        if len(rest) != 1:
            raise unschedulable(key, f"name the parameter: {slot}.<param>")
        param, part, where = rest[0], value, slot
    if part is None:
        raise unschedulable(key, f"the recipe has no {slot} part there")
    kind, name, params = part
    schedulable = registry.get(kind, name).schedulable
    if param not in schedulable:
        declared = f"it declares: {', '.join(schedulable)}" if schedulable else "it declares no schedulable parameters"
        raise unschedulable(key, f"{kind} {name!r} does not declare {param!r} schedulable ({declared})")
    if not is_numeric(params.get(param)):
        raise unschedulable(key, f"{param} = {params.get(param)!r} is not a number or a list of numbers")
    return Place([Target(("part", where, param), key)], [params[param]],
                 lambda v, path: _checked(registry.validate, path, param, kind, name, params | {param: v}))


def _checked(validate: Callable[..., Any], path: str, field: str, kind: str, name: str, values: dict[str, Any]) -> None:
    """``validate(kind, name, values, path)``, its complaints about ``field`` said at ``path``."""
    try:
        validate(kind, name, values, path)
    except InvalidValues as exc:
        raise InvalidValues([f"{path}: {line.split(': ', 1)[-1]}" for line in exc.lines], exc.fields) from None
