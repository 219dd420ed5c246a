"""The registry: (kind, name) -> factory, with the plugin that registered it."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ._errors import DuplicateNameError, GancoreError, UnknownNameError, unknown_name_message
from ._params import ParamsBase, describe, injected_parameters, params_model, refs_of, validate_params
from ._parts import INJECTABLE, KINDS, Scheme


@dataclass
class Entry:
    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str
    summary: str = ""

    @cached_property
    def params(self) -> type[ParamsBase]:
        """The pydantic model of this part's recipe parameters."""
        skip = set(getattr(self.factory, "slots", {}) or {}) if _is_scheme(self.factory) else set()
        title = "".join(w.capitalize() for w in f"{self.kind}-{self.name}".replace("_", "-").split("-"))
        return params_model(self.factory, f"{title}Params", skip=skip, injectable=INJECTABLE)

    def describe(self) -> dict[str, Any]:
        row = {"kind": self.kind, "name": self.name, "plugin": self.plugin, "summary": self.summary}
        row["parameters"] = describe(self.params)
        if _is_scheme(self.factory):
            row["slots"] = {
                k: {"kind": s.kind, "many": s.many, "required": s.required, "default": s.default, "help": s.help}
                for k, s in self.factory.slots.items()
            }
        return row


def _is_scheme(factory: Any) -> bool:
    return inspect.isclass(factory) and issubclass(factory, Scheme)


def _summary(factory: Callable[..., Any]) -> str:
    doc = inspect.getdoc(factory) or ""
    return doc.strip().splitlines()[0].strip() if doc.strip() else ""


@dataclass
class Recipe:
    name: str
    path: Any  # a path-like (str, Path or importlib.resources Traversable)
    plugin: str
    summary: str = ""


@dataclass
class Registry:
    parts: dict[tuple[str, str], Entry] = field(default_factory=dict)
    recipes: dict[str, Recipe] = field(default_factory=dict)

    # -- registering -------------------------------------------------------------

    def add(self, kind: str, name: str, factory: Callable[..., Any], plugin: str, summary: str | None = None) -> Entry:
        if kind not in KINDS:
            raise UnknownNameError(unknown_name_message("kind", kind, KINDS))
        if not callable(factory):
            raise TypeError(f"{kind} {name!r}: factory {factory!r} is not callable")
        key = (kind, name)
        if key in self.parts:
            other = self.parts[key].plugin
            raise DuplicateNameError(
                f"{kind} {name!r} is registered twice: by plugin {other!r} and by plugin {plugin!r}"
            )
        entry = Entry(kind, name, factory, plugin, summary if summary is not None else _summary(factory))
        self.parts[key] = entry
        return entry

    def add_recipe(self, name: str, path: Any, plugin: str, summary: str = "") -> Recipe:
        if name in self.recipes:
            raise DuplicateNameError(
                f"recipe {name!r} is registered twice: by plugin {self.recipes[name].plugin!r} and by plugin {plugin!r}"
            )
        recipe = Recipe(name, path, plugin, summary)
        self.recipes[name] = recipe
        return recipe

    # -- looking up --------------------------------------------------------------

    def names(self, kind: str) -> list[str]:
        return sorted(n for k, n in self.parts if k == kind)

    def entries(self, kind: str | None = None) -> Iterator[Entry]:
        if kind is not None and kind not in KINDS:
            raise UnknownNameError(unknown_name_message("kind", kind, KINDS))
        for key in sorted(self.parts):
            if kind is None or key[0] == kind:
                yield self.parts[key]

    def get(self, kind: str, name: str) -> Entry:
        if kind not in KINDS:
            raise UnknownNameError(unknown_name_message("kind", kind, KINDS))
        try:
            return self.parts[(kind, name)]
        except KeyError:
            raise UnknownNameError(unknown_name_message(kind, name, self.names(kind))) from None

    def recipe(self, name: str) -> Recipe:
        try:
            return self.recipes[name]
        except KeyError:
            raise UnknownNameError(unknown_name_message("recipe", name, self.recipes)) from None

    # -- validating and building --------------------------------------------------

    def validate(self, kind: str, name: str, params: dict[str, Any], path: str = "") -> ParamsBase:
        """Check a part's parameters, and the names they refer to, without building it."""
        where = f"{path}: " if path else ""
        try:
            entry = self.get(kind, name)
        except UnknownNameError as exc:
            raise UnknownNameError(f"{where}{exc}") from None
        values = validate_params(entry.params, params, path)
        for field_name, ref in refs_of(entry.params).items():
            value = getattr(values, field_name)
            if value is not None and (ref.kind, value) not in self.parts:
                sub = f"{path}.{field_name}" if path else field_name
                raise UnknownNameError(f"{sub}: {unknown_name_message(ref.kind, value, self.names(ref.kind))}")
        return values

    def build(self, kind: str, name: str, params: dict[str, Any] | None = None, /, **injected: Any) -> Any:
        """Validate ``params`` and call the factory; ``injected`` are the engine's arguments
        (``spec``, a scheme's built slots), passed only to factories that declare them."""
        values = self.validate(kind, name, params or {})
        entry = self.get(kind, name)
        accepted = inspect.signature(entry.factory).parameters
        extra = {k: v for k, v in injected.items() if k in accepted}
        # Injected values reach a factory by their type, whatever it names the parameter.
        for param, typ in injected_parameters(entry.factory, INJECTABLE).items():
            if INJECTABLE[typ] in injected:
                extra[param] = injected[INJECTABLE[typ]]
        try:
            return entry.factory(**dict(values), **extra)
        except GancoreError:
            raise
        except ValueError as exc:
            # Factories reject parameter combinations the types cannot express (a label
            # embedding with no classes, a batch not divisible by the pack size, ...).
            raise GancoreError(f"cannot build {kind} {name!r}: {exc}") from exc
