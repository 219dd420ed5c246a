"""One place for what the CLI prints: rich to a terminal, plain text or JSON otherwise."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    # Plain print: JSON must not be wrapped or styled.
    sys.stdout.write(json.dumps(data, indent=2, default=str, allow_nan=False) + "\n")


def error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(message)}", markup=True, highlight=False)


def plugin_warnings() -> None:
    """A line per plugin that failed to load: the CLI works on without it."""
    import gancore

    for info in gancore.host().failures():
        first = info.error.splitlines()[0] if info.error else ""
        warn(f"plugin {info.name!r} ({info.distribution} {info.version}) failed and was skipped: {first}")
