"""Loading plugins from the ``gancore`` entry-point group, each on its own.

A plugin that fails to import or to register is recorded (name, version, error) and
skipped, so one broken package never takes the CLI down; ``GANCORE_STRICT_PLUGINS=1``
makes that an error instead. A plugin's registrations are staged and committed only
when its hook returns, so a plugin that fails half-way leaves nothing behind.

Environment:
  GANCORE_BLOCK_PLUGINS=a,b          plugins (entry-point names) not to load
  GANCORE_DISABLE_PLUGIN_AUTOLOAD=1  load only the first-party plugins
  GANCORE_STRICT_PLUGINS=1           a failing plugin is an error
"""

from __future__ import annotations

import os
import traceback
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy

from ._errors import PluginError, PluginWarning, unknown_name_message
from ._hooks import PROJECT, HookSpecs
from ._registry import Registry

FIRST_PARTY_DIST = "gancore"
ENTRY_POINT_GROUP = "gancore"


@dataclass
class PluginInfo:
    name: str
    version: str
    distribution: str
    status: str  # loaded | failed | blocked | disabled
    error: str = ""
    first_party: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "distribution": self.distribution,
            "status": self.status,
            "error": self.error,
            "first_party": self.first_party,
        }


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def blocked_from_env() -> set[str]:
    raw = os.environ.get("GANCORE_BLOCK_PLUGINS", "")
    return {part.strip() for part in raw.split(",") if part.strip()}


class _Staging:
    """The ``register`` callbacks one plugin receives; committed when its hook returns."""

    def __init__(self, registry: Registry, plugin: str) -> None:
        self.registry, self.plugin = registry, plugin
        self.kinds: list[tuple[Any, ...]] = []
        self.parts: list[tuple[Any, ...]] = []
        self.recipes: list[tuple[Any, ...]] = []

    def kind(self, kind: str, summary: str, interface: Any = None) -> None:
        self.kinds.append((kind, summary, interface))

    def part(self, kind: str, name: str, factory: Any, summary: str | None = None) -> None:
        self.parts.append((kind, name, factory, summary))

    def recipe(self, name: str, path: Any, summary: str = "") -> None:
        self.recipes.append((name, path, summary))

    def commit(self) -> None:
        # Check everything first, so a failing plugin registers nothing at all.
        trial = Registry(dict(self.registry.parts), dict(self.registry.recipes), dict(self.registry.kinds))
        # Kinds first, so that the plugin's parts of a kind it adds register with it.
        for kind, summary, interface in self.kinds:
            trial.add_kind(kind, summary, self.plugin, interface)
        for kind, name, factory, summary in self.parts:
            entry = trial.add(kind, name, factory, self.plugin, summary)
            entry.params  # unreadable type hints fail the plugin now, not `gancore show` later
        for name, path, summary in self.recipes:
            if not _is_file(path):
                raise FileNotFoundError(f"recipe {name!r}: no file at {path}")
            trial.add_recipe(name, path, self.plugin, summary or _recipe_summary(path))
        self.registry.parts, self.registry.recipes, self.registry.kinds = trial.parts, trial.recipes, trial.kinds


def _is_file(path: Any) -> bool:
    """A str, PathLike or importlib.resources Traversable that names an existing file."""
    try:
        return bool(path.is_file()) if hasattr(path, "is_file") else os.path.isfile(path)
    except (TypeError, OSError):
        return False


def _recipe_summary(path: Any) -> str:
    import tomllib

    try:
        with open(path, "rb") if isinstance(path, (str, os.PathLike)) else path.open("rb") as fh:
            return str(tomllib.load(fh).get("description", ""))
    except (OSError, tomllib.TOMLDecodeError):
        return ""


class PluginHost:
    """The plugin manager, the registry it fills, and what happened to each plugin."""

    def __init__(
        self,
        *,
        block: set[str] | None = None,
        autoload: bool | None = None,
        strict: bool | None = None,
        entry_points: list[metadata.EntryPoint] | None = None,
    ) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(HookSpecs)
        self.registry = Registry()
        self.plugins: dict[str, PluginInfo] = {}
        self.block = blocked_from_env() | set(block or ())
        self.autoload = (not _env_flag("GANCORE_DISABLE_PLUGIN_AUTOLOAD")) if autoload is None else autoload
        self.strict = _env_flag("GANCORE_STRICT_PLUGINS") if strict is None else strict
        eps = entry_points if entry_points is not None else list(metadata.entry_points(group=ENTRY_POINT_GROUP))
        # First-party plugins first, then the rest by name: a clash is blamed on the newcomer.
        eps.sort(key=lambda ep: (_dist_name(ep) != FIRST_PARTY_DIST, ep.name))
        for ep in eps:
            self._load(ep)

    def _load(self, ep: metadata.EntryPoint) -> None:
        dist = _dist_name(ep)
        version = ep.dist.version if ep.dist is not None else ""
        info = PluginInfo(ep.name, version, dist, "loaded", first_party=dist == FIRST_PARTY_DIST)
        if ep.name in self.plugins:
            # A second entry point of the same name (a third party's "nets", say) must not
            # displace the plugin loaded first: it is recorded as failed under its own key.
            taken = self.plugins[ep.name]
            info.status = "failed"
            info.error = f"the plugin name {ep.name!r} is taken by {taken.distribution or 'another plugin'}; rename the entry point"
            self.plugins[f"{ep.name} ({dist or 'unknown'})"] = info
            if self.strict:
                raise PluginError(f"plugin {ep.name!r} ({dist} {version}) failed to load: {info.error}")
            return
        self.plugins[ep.name] = info
        if ep.name in self.block:
            info.status = "blocked"
            self.pm.set_blocked(ep.name)
            return
        if not self.autoload and not info.first_party:
            info.status = "disabled"
            return
        try:
            module = ep.load()
            self.pm.register(module, name=ep.name)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit too: a plugin's import must not end the CLI
            self._failed(info, exc, "failed to load")
            return
        self.add_plugin_object(module, info)

    def add_plugin_object(self, plugin: Any, info: PluginInfo) -> None:
        """Run a registered plugin's hooks into the registry, all or nothing."""
        staging = _Staging(self.registry, info.name)
        try:
            self._check_hook_names(plugin)
            others = [p for p in self.pm.get_plugins() if p is not plugin]
            hooks = (("register_kinds", staging.kind), ("register_parts", staging.part), ("register_recipes", staging.recipe))
            for hook, callback in hooks:
                # Through pluggy, for this plugin alone (the others have registered already).
                self.pm.subset_hook_caller(hook, remove_plugins=others)(register=callback)
            staging.commit()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a plugin's bug, whatever it is, must not stop the others
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            self._failed(info, exc, "failed to register")

    def _check_hook_names(self, plugin: Any) -> None:
        """A hook implementation with no hook of its name (``register_part``) is an error
        naming it, not a plugin that silently registers nothing."""
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError:
            known = sorted(name for name in dir(HookSpecs) if not name.startswith("_"))
            unknown = sorted(c.name for c in self.pm.get_hookcallers(plugin) or () if not c.has_spec())
            if not unknown:
                raise
            raise PluginError("; ".join(unknown_name_message("hook", name, known) for name in unknown)) from None

    def register(self, plugin: Any, name: str) -> PluginInfo:
        """Register an in-process plugin object (a module or class with hook functions)."""
        info = PluginInfo(name, "", "", "loaded")
        self.plugins[name] = info
        self.pm.register(plugin, name=name)
        self.add_plugin_object(plugin, info)
        return info

    def _failed(self, info: PluginInfo, exc: BaseException, what: str) -> None:
        info.status = "failed"
        info.error = str(exc) if isinstance(exc, PluginError) else f"{type(exc).__name__}: {exc}"
        if os.environ.get("GANCORE_DEBUG"):
            info.error += "\n" + traceback.format_exc()
        if self.strict:
            raise PluginError(f"plugin {info.name!r} ({info.distribution} {info.version}) {what}: {info.error}") from exc
        # Python users see it too (the CLI prints its own line instead).
        first = info.error.splitlines()[0] if info.error else ""
        warnings.warn(f"plugin {info.name!r} ({info.distribution} {info.version}) {what} and was skipped: {first}",
                      PluginWarning, stacklevel=2)

    def failures(self) -> list[PluginInfo]:
        return [p for p in self.plugins.values() if p.status == "failed"]


def _dist_name(ep: metadata.EntryPoint) -> str:
    return ep.dist.name if ep.dist is not None else ""


_host: PluginHost | None = None


def host() -> PluginHost:
    """The process-wide plugin host, loaded on first use."""
    global _host
    if _host is None:
        _host = PluginHost()
    return _host


def plugin_versions() -> dict[str, str]:
    """Each plugin's version as the process's host found it, without loading the plugins
    (nothing when no host has loaded them: a run on a registry built by hand)."""
    return {name: info.version for name, info in _host.plugins.items()} if _host is not None else {}


def reload(**kwargs: Any) -> PluginHost:
    """Load the plugins again (with ``block``/``autoload``/``strict`` overrides)."""
    global _host
    _host = PluginHost(**kwargs)
    return _host


def registry() -> Registry:
    return host().registry


def build(kind: str, name: str, params: Mapping[str, Any] | None = None, /, **injected: Any) -> Any:
    """Build a registered part: ``gancore.build("normalization", "spectral")``."""
    return host().registry.build(kind, name, params, **injected)
