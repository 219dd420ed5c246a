"""Errors a user can cause and fix. The CLI prints them as one ``error:`` message (one line,
or a recipe's list of problems); anything else is a bug."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class GancoreError(Exception):
    """A problem with the user's input: a recipe, a name, a file, a value."""


class UnknownNameError(GancoreError, KeyError):
    """A registry name (or kind) that nothing registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class InvalidValues(GancoreError):
    """Values a parameter model refused, one line each (``critic.hidden: ...``); the message
    joins them with "; ". ``fields`` are the top-level parameter names that were refused."""

    def __init__(self, lines: list[str], fields: Iterable[str] = ()) -> None:
        self.lines = list(lines)
        self.fields = set(fields)
        super().__init__("; ".join(self.lines))


class RecipeError(GancoreError):
    """Every problem found in a recipe, each a line naming its path in the document.

    ``errors`` holds the lines; the message is the one line when there is one, else
    ``recipe has N errors:`` followed by the lines, indented."""

    def __init__(self, errors: Iterable[str]) -> None:
        self.errors = list(dict.fromkeys(errors))
        super().__init__(format_problems(self.errors))


def format_problems(errors: list[str]) -> str:
    if len(errors) == 1:
        return errors[0]
    return f"recipe has {len(errors)} errors:\n" + "\n".join(f"  {e}" for e in errors)


class DuplicateNameError(GancoreError):
    """Two plugins registered the same kind and name."""


class RecipeWarning(UserWarning):
    """A recipe value was set in a way that changed more than the key (the CLI prints it as one line)."""


class PluginWarning(UserWarning):
    """A plugin failed to load or register and was skipped (the rest works on)."""


class PluginError(GancoreError):
    """A plugin failed to load or register (raised only in strict mode)."""


def unknown_name_message(what: str, name: str, available: Iterable[str]) -> str:
    """`unknown normalization 'spectal'; did you mean 'spectral'? (available: ...)`."""
    names = sorted(available)
    message = f"unknown {what} {name!r}"
    close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.6)
    if close:
        message += "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    if names:
        message += f" (available: {', '.join(names)})"
    else:
        message += f" (no {what} is registered)"
    return message


class DivergenceError(GancoreError):
    """Training produced a non-finite loss, gradient or weight."""

    def __init__(self, message: str, step: int) -> None:
        super().__init__(message)
        self.step = step
