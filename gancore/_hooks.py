"""The hooks a plugin implements. Each receives a ``register`` callback, so a plugin
module stays a few lines: import its parts, hand them over. A plugin's hooks run in the
order ``register_kinds``, ``register_parts``, ``register_recipes``.

Example plugin module::

    import gancore

    @gancore.hookimpl
    def register_parts(register):
        register("loss", "relativistic", RelativisticLoss)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    import os
    from collections.abc import Callable
    from importlib.resources.abc import Traversable

PROJECT = "gancore"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class RegisterKind(Protocol):
    """The ``register`` a ``register_kinds`` hook receives."""

    def __call__(self, kind: str, summary: str, interface: type | None = None) -> None: ...


class RegisterPart(Protocol):
    """The ``register`` a ``register_parts`` hook receives."""

    def __call__(self, kind: str, name: str, factory: Callable[..., Any], summary: str | None = None) -> None: ...


class RegisterRecipe(Protocol):
    """The ``register`` a ``register_recipes`` hook receives."""

    def __call__(self, name: str, path: str | os.PathLike[str] | Traversable, summary: str = "") -> None: ...


class HookSpecs:
    @hookspec
    def register_kinds(self, register: RegisterKind) -> None:
        """Register new kinds of part, for parts that none of the core's kinds describes.

        Call ``register(kind, summary, interface=None)`` once per kind: ``kind`` is a
        lowercase hyphenated name (``predictor``), ``summary`` one line on what a part of
        it is, ``interface`` the class such a part must be an instance of (checked when one
        is built). Kinds register before the plugin's parts, so the same plugin registers
        parts of them; so can every plugin loaded after it. A kind registered twice (or
        one of the core's) fails the plugin that registers it later.
        """

    @hookspec
    def register_parts(self, register: RegisterPart) -> None:
        """Register concrete parts of a GAN.

        Call ``register(kind, name, factory, summary=None)`` once per part. ``kind`` is one
        of ``gancore.KINDS`` (generator, critic, loss, ...) or a kind a plugin registered.
        ``factory`` is a class or function; its keyword parameters, with type hints and
        defaults, become the part's recipe parameters (see docs/plugins.md). ``summary``
        defaults to the first line of the factory's docstring.
        """

    @hookspec
    def register_recipes(self, register: RegisterRecipe) -> None:
        """Register built-in recipes.

        Call ``register(name, path)`` with the path of a TOML recipe file. Its one-line
        description is the recipe's ``description`` key.
        """
