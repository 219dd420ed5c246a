"""Commands that show what is registered: list, show, plugins (recipes: ``_recipes``).

Their ``--json`` rows share key names: a part's ``kind``, ``name`` and ``summary``, and the
``plugin`` that registered it (in ``plugins --json``, the plugin's own name)."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

import gancore

from ._app import app
from ._output import console, plugin_warnings, print_json, print_table

JSON = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _cells(*values: str) -> list[str]:
    """Table cells of text that plugins wrote: shown as written, never read as rich markup
    (a description saying ``E[sign(D(x))]`` keeps its brackets)."""
    return [escape(v) for v in values]


@app.command("list")
def list_parts(
    kind: Annotated[Optional[str], typer.Argument(help=f"Only this kind: {', '.join(gancore.KINDS)}.")] = None,
    json_: JSON = False,
) -> None:
    """List every registered part: kind, name, plugin, summary."""
    plugin_warnings()
    entries = list(gancore.registry().entries(kind))
    if json_:
        print_json([{"kind": e.kind, "name": e.name, "plugin": e.plugin, "summary": e.summary} for e in entries])
        return
    table = Table("kind", "name", "plugin", "summary", box=None, pad_edge=False)
    for e in entries:
        table.add_row(*_cells(e.kind, e.name, e.plugin, e.summary))
    print_table(table)


@app.command()
def show(
    kind: Annotated[str, typer.Argument(help="The part's kind, e.g. critic.")],
    name: Annotated[Optional[str], typer.Argument(help="The part's name, e.g. dcgan; without it, the kind's parts are listed.")] = None,
    json_: JSON = False,
) -> None:
    """Show a part's parameters: types, defaults, constraints, descriptions (or, given
    only a kind, list its parts)."""
    if name is None:
        list_parts(kind, json_)
        return
    plugin_warnings()
    info = gancore.registry().get(kind, name).describe()
    if json_:
        print_json(info)
        return
    console.print(f"[bold]{escape(kind)} {escape(name)}[/]  (plugin {escape(info['plugin'])})")
    if info["summary"]:
        console.print(info["summary"], markup=False)
    if "slots" in info:
        table = Table("slot", "kind", "default", "what", box=None, pad_edge=False, title="parts it takes")
        for slot, s in info["slots"].items():
            table.add_row(*_cells(slot, s["kind"], _left_out(s), s["help"]))
        print_table(table)
    if not info["parameters"]:
        console.print("no parameters")
        return
    table = Table("parameter", "type", "default", "constraints", "description", box=None, pad_edge=False)
    for p in info["parameters"]:
        default = "(required)" if p["required"] else repr(p["default"])
        constraints = ", ".join(filter(None, [p["constraints"], "schedulable" if p["schedulable"] else ""]))
        table.add_row(*_cells(p["name"], p["type"], default, constraints, p["description"]))
    print_table(table)


@app.command()
def plugins(json_: JSON = False) -> None:
    """List the plugins with their version, status (loaded, failed, blocked, disabled) and error."""
    host = gancore.host()
    rows = []
    for info in host.plugins.values():
        row = {"plugin": info.name} | {k: v for k, v in info.as_dict().items() if k != "name"}
        loaded = info.status == "loaded"  # a failed namesake of a loaded plugin registered nothing
        row["parts"] = sum(1 for e in host.registry.parts.values() if loaded and e.plugin == info.name)
        rows.append(row)
    if json_:
        print_json(rows)
        return
    table = Table("plugin", "version", "distribution", "status", "parts", "error", box=None, pad_edge=False)
    for r in rows:
        status = {"loaded": "[green]loaded[/]", "failed": "[red]failed[/]"}.get(r["status"], r["status"])
        plugin, version, distribution = _cells(r["plugin"], r["version"], r["distribution"])
        table.add_row(plugin, version, distribution, status, str(r["parts"]), escape(r["error"].splitlines()[0] if r["error"] else ""))
    print_table(table)


def _left_out(slot: dict[str, Any]) -> str:
    """What a recipe that leaves the slot out gets, written as the parameters' table
    writes defaults: the default part, "(required)", or "(none)"."""
    if slot["many"]:
        return "(none: a list)"
    if slot["default"]:
        return str(slot["default"])
    return "(required)" if slot["required"] else "(none)"
