"""The registry: (kind, name) -> factory, with the plugin that registered it, and the kinds
of part it holds (the core's, ``KINDS``, and those plugins add)."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeGuard

from ._errors import DuplicateNameError, GancoreError, UnknownNameError, unknown_name_message
from ._params import ParamsBase, describe, injected_parameters, params_model, refs_of, validate_params
from ._parts import INJECTABLE, KINDS, Scheme


# -- kinds of part ---------------------------------------------------------------------------


CORE = "gancore"
"""Who registered the core's own kinds."""

# A kind is a word of the command line (`gancore list predictor`) and of messages.
_KIND_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Kind:
    """A kind of part: its name, what it is, and who registered it.

    ``interface`` is what a part of the kind must be: when it is a class (or a
    runtime-checkable protocol), ``Registry.build`` refuses a part that is not an instance
    of it. The core's kinds leave it unset: the engine checks their parts where it uses
    them.
    """

    name: str
    summary: str
    plugin: str = CORE
    interface: Any = None


def core_kinds() -> dict[str, Kind]:
    return {name: Kind(name, summary) for name, summary in KINDS.items()}


def check_kind(name: Any, summary: Any, interface: Any) -> None:
    """A plugin's new kind: a lowercase hyphenated name, a one-line summary, a class or None."""
    if not isinstance(name, str) or not _KIND_NAME.match(name):
        raise ValueError(f"kind {name!r}: a kind is lowercase words joined by hyphens (predictor, frame-loss)")
    if not isinstance(summary, str) or not summary.strip():
        raise ValueError(f"kind {name!r}: its summary must be a non-empty string")
    if interface is not None and not isinstance(interface, type):
        raise TypeError(f"kind {name!r}: interface {interface!r} is not a class")


def is_instance(part: Any, interface: Any) -> bool:
    """Whether ``part`` is an instance of ``interface``; True when that cannot be told (a
    protocol that is not runtime-checkable)."""
    try:
        return isinstance(part, interface)
    except TypeError:
        return True


# -- the registry -----------------------------------------------------------------------

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

    @cached_property
    def schedulable(self) -> tuple[str, ...]:
        """The parameters a recipe's ``[schedule]`` may move: the factory's ``schedulable``
        class attribute, each one of its parameters (the part keeps it as an attribute of
        the same name and reads it at every use)."""
        names = tuple(getattr(self.factory, "schedulable", ()) or ())
        unknown = [n for n in names if n not in self.params.model_fields]
        if unknown:
            raise TypeError(f"{self.kind} {self.name!r} declares {', '.join(map(repr, unknown))} schedulable, "
                            f"but takes no parameter of that name")
        return names

    def describe(self) -> dict[str, Any]:
        row: dict[str, Any] = {"kind": self.kind, "name": self.name, "plugin": self.plugin, "summary": self.summary}
        row["parameters"] = describe(self.params)
        for p in row["parameters"]:
            p["schedulable"] = p["name"] in self.schedulable
        if _is_scheme(self.factory):
            row["slots"] = {
                k: {"kind": s.kind, "many": s.many, "required": s.required, "default": s.default, "help": s.help}
                for k, s in self.factory.slots.items()
            }
        return row


def _is_scheme(factory: object) -> TypeGuard[type[Scheme]]:
    return inspect.isclass(factory) and issubclass(factory, Scheme)


def _summary(factory: Callable[..., Any]) -> str:
    doc = inspect.getdoc(factory) or ""
    return doc.strip().splitlines()[0].strip() if doc.strip() else ""


@dataclass
class RecipeEntry:
    """A built-in recipe a plugin registered: its name, file and plugin."""

    name: str
    path: Any  # a path-like (str, Path or importlib.resources Traversable)
    plugin: str
    summary: str = ""


class BoundBuild:
    """``gancore.Build`` for one registry: what a factory is given to build the parts it
    is made of, so that they come from the registry that builds it."""

    __slots__ = ("registry",)

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def __call__(self, kind: str, name: str, params: Mapping[str, Any] | None = None, /, **injected: Any) -> Any:
        return self.registry.build(kind, name, params, **injected)

    def __repr__(self) -> str:
        return f"<gancore.Build of registry {id(self.registry):#x}>"


@dataclass
class Registry:
    parts: dict[tuple[str, str], Entry] = field(default_factory=dict)
    recipes: dict[str, RecipeEntry] = field(default_factory=dict)
    kinds: dict[str, Kind] = field(default_factory=core_kinds)

    # -- registering -------------------------------------------------------------

    def add_kind(self, kind: str, summary: str, plugin: str, interface: Any = None) -> Kind:
        """A new kind of part, which parts may then be registered as."""
        check_kind(kind, summary, interface)
        if kind in self.kinds:
            other = self.kinds[kind].plugin
            first = "by gancore itself" if other == CORE else f"by plugin {other!r}"
            raise DuplicateNameError(f"kind {kind!r} is registered twice: {first} and by plugin {plugin!r}")
        self.kinds[kind] = Kind(kind, summary.strip(), plugin, interface)
        return self.kinds[kind]

    def add(self, kind: str, name: str, factory: Callable[..., Any], plugin: str, summary: str | None = None) -> Entry:
        self._check_kind(kind)
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

    def add_recipe(self, name: str, path: Any, plugin: str, summary: str = "") -> RecipeEntry:
        if name in self.recipes:
            raise DuplicateNameError(
                f"recipe {name!r} is registered twice: by plugin {self.recipes[name].plugin!r} and by plugin {plugin!r}"
            )
        recipe = RecipeEntry(name, path, plugin, summary)
        self.recipes[name] = recipe
        return recipe

    # -- looking up --------------------------------------------------------------

    def names(self, kind: str) -> list[str]:
        return sorted(n for k, n in self.parts if k == kind)

    def _check_kind(self, kind: str) -> None:
        if kind not in self.kinds:
            raise UnknownNameError(unknown_name_message("kind", kind, self.kinds))

    def entries(self, kind: str | None = None) -> Iterator[Entry]:
        if kind is not None:
            self._check_kind(kind)
        for key in sorted(self.parts):
            if kind is None or key[0] == kind:
                yield self.parts[key]

    def get(self, kind: str, name: str) -> Entry:
        self._check_kind(kind)
        try:
            return self.parts[(kind, name)]
        except KeyError:
            raise UnknownNameError(unknown_name_message(kind, name, self.names(kind))) from None

    def recipe(self, name: str) -> RecipeEntry:
        try:
            return self.recipes[name]
        except KeyError:
            raise UnknownNameError(unknown_name_message("recipe", name, self.recipes)) from None

    # -- validating and building --------------------------------------------------

    def validate(self, kind: str, name: str, params: Mapping[str, Any], path: str = "") -> ParamsBase:
        """Check a part's parameters, and the names they refer to, without building it."""
        where = f"{path}: " if path else ""
        try:
            entry = self.get(kind, name)
        except UnknownNameError as exc:
            raise UnknownNameError(f"{where}{exc}") from None
        values = validate_params(entry.params, params, path)
        for field_name, ref in refs_of(entry.params).items():
            value = getattr(values, field_name)
            sub = f"{path}.{field_name}" if path else field_name
            if isinstance(value, Mapping):  # a table: the part's name and its own parameters
                nested = dict(value)
                part_name = nested.pop("name", None)
                if not isinstance(part_name, str):
                    raise GancoreError(f"{sub}: a table naming a {ref.kind} needs a name (name = \"...\")")
                self.validate(ref.kind, part_name, nested, sub)
            elif value is not None and (ref.kind, value) not in self.parts:
                raise UnknownNameError(f"{sub}: {unknown_name_message(ref.kind, value, self.names(ref.kind))}")
        return values

    def build(self, kind: str, name: str, params: Mapping[str, Any] | None = None, /, **injected: Any) -> Any:
        """Validate ``params`` and call the factory; ``injected`` are the engine's arguments
        (``spec``, ``parameters``, a scheme's built slots), passed only to factories that
        declare them. A factory declaring a ``gancore.Build`` gets this registry's."""
        entry = self.get(kind, name)
        misplaced = sorted(set(injected) & set(entry.params.model_fields))
        if misplaced:
            # A parameter given as a keyword would reach the factory unvalidated, or twice.
            shown = ", ".join(f"{k!r}: ..." for k in misplaced)
            raise TypeError(f"{', '.join(map(repr, misplaced))} of {kind} {name!r} is a parameter: pass parameters "
                            f"as a dict, build({kind!r}, {name!r}, {{{shown}}}); keywords are for injected objects")
        values = self.validate(kind, name, params or {})
        accepted = inspect.signature(entry.factory).parameters
        extra = {k: v for k, v in injected.items() if k in accepted}
        supplied = {"build": BoundBuild(self), **injected}
        # Injected values reach a factory by their type, whatever it names the parameter.
        for param, typ in injected_parameters(entry.factory, INJECTABLE).items():
            if INJECTABLE[typ] in supplied:
                extra[param] = supplied[INJECTABLE[typ]]
        try:
            part = entry.factory(**dict(values), **extra)
        except GancoreError:
            raise
        except ValueError as exc:
            # Factories reject parameter combinations the types cannot express (a label
            # embedding with no classes, a batch not divisible by the pack size, ...).
            raise GancoreError(f"cannot build {kind} {name!r}: {exc}") from exc
        interface = self.kinds[kind].interface
        if interface is not None and not is_instance(part, interface):
            raise TypeError(f"{kind} {name!r} (plugin {entry.plugin!r}) built a {type(part).__qualname__}, "
                            f"not the {interface.__qualname__} a {kind} must be")
        return part
