"""``gancore recipes``: list the built-in recipes, or print or write one as TOML to edit.

A recipe prints resolved by default, every default filled in as a run records it in its
``recipe.toml``, so that an edited copy says all it does; ``--raw`` prints it as its
plugin wrote it, comments included."""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path
from typing import Annotated, Any, BinaryIO, Optional

import tomli_w
import typer
from rich.table import Table

import gancore

from .._checkpoint import write_atomic
from .._documents import apply_overrides
from .._errors import GancoreError, RecipeError
from .._recipe import Recipe
from ._app import app
from ._inspect import _cells
from ._paths import output_file
from ._output import console, plugin_warnings, print_json, print_table


@app.command()
def recipes(
    name: Annotated[Optional[str], typer.Argument(help="A built-in recipe to print as TOML; without it, the recipes are listed.")] = None,
    raw: Annotated[bool, typer.Option("--raw", help="Print the recipe as written, without the defaults filled in.")] = False,
    set_: Annotated[Optional[list[str]], typer.Option("--set", metavar="KEY=VALUE", help="Override a value before the recipe is resolved, as train's --set does (repeatable).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", metavar="FILE", help="Write the TOML to FILE (a new .toml file), or into a folder as NAME.toml, instead of printing it.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Let --out replace a file that exists.")] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print the list as JSON instead of a table.")] = False,
) -> None:
    """List the built-in recipes (any registered by a plugin), or print one as TOML:
    resolved, with every default filled in as a run records it, or as written
    (--raw). Edit a copy with: gancore recipes NAME --out my.toml; gancore train my.toml."""
    plugin_warnings()
    if name is None:
        given = [opt for opt, on in (("--raw", raw), ("--set", set_), ("--out", out), ("--force", force)) if on]
        if given:
            raise GancoreError(f"{given[0]} needs a recipe: gancore recipes NAME {given[0]} ...")
        _list(json_)
        return
    if json_:
        raise GancoreError("--json lists the recipes; a recipe prints as TOML (drop NAME or --json)")
    if raw and set_:
        raise GancoreError("--raw prints the recipe as written and --set changes it: give one or the other")
    if force and out is None:
        raise GancoreError("--force goes with --out FILE, the file it may replace")
    text = _source(name)[0] if raw else _resolved(name, list(set_ or []))
    if out is None:
        sys.stdout.write(text)
        return
    if out.suffix.lower() == ".json":
        raise GancoreError(f"--out {out}: a recipe is written as TOML; name the file .toml (a .json file is read as JSON)")
    out = output_file(out, f"{name}.toml", (".toml",))  # a folder takes NAME.toml
    _write(out, text, force)
    console.print(f"wrote {name}{' as written' if raw else ''} to {out}; train it with: gancore train {out}", markup=False)


def _list(json_: bool) -> None:
    reg = gancore.registry()
    rows = [{"name": r.name, "plugin": r.plugin, "summary": r.summary} for r in sorted(reg.recipes.values(), key=lambda r: r.name)]
    if json_:
        print_json(rows)
        return
    table = Table("recipe", "plugin", "summary", box=None, pad_edge=False)
    for r in rows:
        table.add_row(*_cells(r["name"], r["plugin"], r["summary"]))
    print_table(table)


def _source(name: str) -> tuple[str, dict[str, Any]]:
    """A built-in recipe as written, in TOML, and its document (an unknown name: one line
    listing the recipes there are)."""
    path: Any = gancore.registry().recipe(name).path
    text = path.read_text(encoding="utf-8") if hasattr(path, "read_text") else Path(path).read_text(encoding="utf-8")
    if str(getattr(path, "name", path)).lower().endswith(".json"):  # a plugin may ship JSON: shown as TOML
        doc = json.loads(text)
        return tomli_w.dumps(doc), doc
    return text, tomllib.loads(text)


def _resolved(name: str, overrides: list[str]) -> str:
    _, doc = _source(name)
    reg = gancore.registry()
    try:
        recipe = Recipe(apply_overrides(doc, overrides) if overrides else doc, reg)
    except GancoreError as exc:
        if overrides or isinstance(exc, RecipeError):
            raise
        # A built-in recipe for the user's own data leaves its folder to them.
        raise GancoreError(f"recipe {name!r} leaves a value to you ({exc}); give it with --set KEY=VALUE, "
                           "or print the recipe as written with --raw") from None
    header = f"# {name}, every default filled in as a run records it (as written: gancore recipes {name} --raw)\n"
    return header + tomli_w.dumps(recipe.resolved())


def _write(out: Path, text: str, force: bool) -> None:
    """The file written whole or not at all; an existing file is replaced only with --force."""
    if out.exists() and not force:
        raise GancoreError(f"{out} exists; --force replaces it, or choose another --out")

    def write(fh: BinaryIO) -> None:
        fh.write(text.encode("utf-8"))

    write_atomic(out, write)
