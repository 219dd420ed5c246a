"""``gancore new-plugin``: write a plugin package to start from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .._parts import KINDS
from .._scaffold import DEFAULT_KINDS, check_target, chosen_kinds, plugin_names, refuse_clashes, render, write_package
from ._app import app
from ._output import console, plugin_warnings


@app.command("new-plugin")
def new_plugin(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The plugin's name: lowercase words joined by hyphens; the package is gancore-NAME.")],
    kinds: Annotated[Optional[list[str]], typer.Option("--kinds", metavar="KIND,...", help=f"Kinds of part to write, one working part each: {', '.join(KINDS)}, or all (repeatable; default {','.join(DEFAULT_KINDS)}).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", metavar="DIR", help="The package's folder: a new or empty one (default ./NAME).")] = None,
) -> None:
    """Write an installable plugin package: pyproject.toml with the gancore entry point,
    a working part of each kind asked for, a recipe using them, tests that run the
    contract kit on them, and a README."""
    import gancore

    plugin_warnings()
    names = plugin_names(name)
    host = gancore.host()
    chosen = chosen_kinds(kinds, host.registry.kinds)
    refuse_clashes(names, chosen, host)
    target = out if out is not None else Path(name)
    check_target(target)
    write_package(target, render(names, chosen, gancore.__version__))
    parts = ", ".join(f"{kind} {names.part}" for kind in chosen)
    console.print(f"wrote plugin {names.plugin} ({names.distribution}) to {target}: {parts}, recipe {names.recipe}",
                  markup=False)
    console.print(f"next: pip install -e {target}, then python -m pytest {target}", markup=False)
