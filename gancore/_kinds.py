"""Kinds of part: the core's (``KINDS``) and those plugins add, as each registry holds them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ._parts import KINDS

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
