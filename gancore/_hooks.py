"""The hooks a plugin implements. Each receives a ``register`` callback, so a plugin
module stays a few lines: import its parts, hand them over.

Example plugin module::

    import gancore

    @gancore.hookimpl
    def register_parts(register):
        register("loss", "relativistic", RelativisticLoss)
"""

from __future__ import annotations

import pluggy

PROJECT = "gancore"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class HookSpecs:
    @hookspec
    def register_parts(self, register):
        """Register concrete parts of a GAN.

        Call ``register(kind, name, factory, summary=None)`` once per part. ``kind`` is one
        of ``gancore.KINDS`` (generator, critic, loss, ...). ``factory`` is a class or
        function; its keyword parameters, with type hints and defaults, become the part's
        recipe parameters (see docs/plugins.md). ``summary`` defaults to the first line of
        the factory's docstring.
        """

    @hookspec
    def register_recipes(self, register):
        """Register built-in recipes.

        Call ``register(name, path)`` with the path of a TOML recipe file. Its one-line
        description is the recipe's ``description`` key.
        """
