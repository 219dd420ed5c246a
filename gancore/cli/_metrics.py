"""``--metrics``, repeatable like ``--set`` and ``--log-to``: each a metric's name, or a TOML
inline table of its name and parameters, as an item of a recipe's ``eval.metrics`` is.
The comma list it used to be still works, with a warning, until the next release."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from typing import Any

from .._errors import GancoreError
from ._output import warn


def metric_items(values: Sequence[str]) -> list[str | dict[str, Any]]:
    """What the options name: ``"fid"`` or ``{"name": "kid", "subsets": 10}`` each."""
    items: list[str | dict[str, Any]] = []
    for value in values:
        text = value.strip()
        if text.startswith("{"):
            items.append(_table(text))
        elif "," in text:
            names = [n.strip() for n in text.split(",") if n.strip()]
            warn(f"--metrics {text}: comma lists are deprecated and go in the next release; repeat the option: "
                 + " ".join(f"--metrics {n}" for n in names))
            items += names
        elif text:
            items.append(text)
    if not items:
        raise GancoreError("--metrics: name a metric (see gancore list metric)")
    return items


def _table(text: str) -> dict[str, Any]:
    try:
        table = tomllib.loads(f"metric = {text}")["metric"]
    except tomllib.TOMLDecodeError as exc:
        raise GancoreError(f"--metrics {text}: not a TOML inline table ({exc}); write it as "
                           "'{ name = \"kid\", subsets = 10 }'") from None
    if not isinstance(table.get("name"), str):
        raise GancoreError(f"--metrics {text}: the table needs the metric's name (name = \"kid\")")
    return dict(table)
