"""One place for what the CLI prints: rich to a terminal, plain text or JSON otherwise.

On a terminal, rich fits lines and tables to its width. Anywhere else (a pipe, a file, a
log) nothing is wrapped and table rows carry no trailing padding, so that each row stays
one line for grep, cut and the like, whatever COLUMNS says."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console, ConsoleDimensions, RenderableType
from rich.markup import escape

UNWRAPPED_WIDTH = 100_000
"""The width rich lays out for when the output is not a terminal: in effect, no wrapping."""


class _Console(Console):
    """A rich console that wraps only on a terminal."""

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        # Not even a COLUMNS read when the console was made (rich fixes its width then).
        if not self.is_terminal:
            return ConsoleDimensions(UNWRAPPED_WIDTH, size.height)
        return size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


console = _Console(highlight=False, soft_wrap=True)
err_console = _Console(stderr=True, highlight=False, soft_wrap=True)


def print_table(table: RenderableType) -> None:
    """A table on stdout: as rich draws it on a terminal, else with each row's trailing
    padding stripped."""
    if console.is_terminal:
        console.print(table)
        return
    with console.capture() as captured:
        console.print(table)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def print_json(data: Any) -> None:
    # Plain print: JSON must not be wrapped or styled.
    sys.stdout.write(json.dumps(data, indent=2, default=str, allow_nan=False) + "\n")


def error(message: str) -> None:
    """``error: MESSAGE``; a message of several lines (a recipe's errors) stays one block."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(message)}", markup=True, highlight=False)


def plugin_warnings() -> None:
    """A line per plugin that failed to load: the CLI works on without it."""
    import gancore

    for info in gancore.host().failures():
        first = info.error.splitlines()[0] if info.error else ""
        warn(f"plugin {info.name!r} ({info.distribution} {info.version}) failed and was skipped: {first}")
