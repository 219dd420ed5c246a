"""The report's charts, drawn with matplotlib off screen: each logged value over steps as
inline SVG (every run's line on one chart), and the real 2-D data as a PNG scatter plot.

Text in the SVG stays text (``svg.fonttype = "none"``): the browser draws it with its own
fonts, so the page needs none from anywhere, and the charts stay a few kB each.
matplotlib's SVG writer escapes the text it writes; the names it is given have their
dollar signs escaped as well, since matplotlib would read ``$...$`` as mathematics.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._artifacts import _use_agg

# Keys with any of these prefixes are grouped under their own headings; the rest are the
# metrics and other values a run logs (evaluations, scheduled values, augmentation's p).
GROUPS = (("losses", ("loss",)), ("scores", ("score",)), ("speed", ("steps_per_sec",)))
_NOT_CURVES = {"step", "seconds"}
# The metric to look at first, when an evaluation logged it.
FIRST = ("fid",)


def curve_keys(runs: Sequence[Sequence[Mapping[str, Any]]]) -> dict[str, list[str]]:
    """The numeric keys logged by any of the runs, by group (losses, scores, speed, metrics),
    FID first among the metrics."""
    keys = sorted({k for rows in runs for r in rows for k, v in r.items()
                   if k not in _NOT_CURVES and isinstance(v, (int, float)) and not isinstance(v, bool)})
    grouped: dict[str, list[str]] = {name: [] for name, _ in GROUPS}
    grouped["metrics"] = []
    for key in keys:
        group = next((name for name, prefixes in GROUPS if key.startswith(prefixes)), "metrics")
        grouped[group].append(key)
    grouped["metrics"].sort(key=lambda k: (k not in FIRST, k))
    return {name: keys for name, keys in grouped.items() if keys}


def _plain(text: str) -> str:
    return text.replace("$", r"\$")


def curve_svg(key: str, runs: Sequence[tuple[str, Sequence[Mapping[str, Any]]]], salt: str) -> str:
    """One chart of ``key`` over steps, a line per run (label, rows) that logged it, as an
    ``<svg>`` element. ``salt`` makes the chart's internal ids (clip paths) its own, since
    every chart of the page shares one document."""
    _use_agg()
    import matplotlib
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt, "font.family": "sans-serif"}):
        fig, ax = plt.subplots(figsize=(4.2, 2.6), dpi=72)
        for label, rows in runs:
            points = [(r["step"], r[key]) for r in rows
                      if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool)]
            if not points:
                continue
            steps, values = zip(*points)
            ax.plot(steps, values, label=_plain(label), marker="." if len(points) < 30 else None, linewidth=1.2)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if len(runs) > 1:
            ax.legend(fontsize=7)
        fig.tight_layout()
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None})  # the same runs give the same chart
        plt.close(fig)
    return inline_svg(buffer.getvalue())


def inline_svg(document: str) -> str:
    """An SVG file's ``<svg>`` element alone (no XML declaration or DOCTYPE, which have no
    place inside HTML), its fixed size turned into a width that follows the page."""
    start = document.index("<svg")
    element = document[start:]
    element = re.sub(r'(<svg[^>]*?) width="[^"]*"', r"\1", element, count=1)
    element = re.sub(r'(<svg[^>]*?) height="[^"]*"', r'\1 class="chart"', element, count=1)
    return element


def scatter_png(points: np.ndarray, limit: int = 2000) -> bytes:
    """Real 2-D points as a PNG, drawn like the run's own sample scatter plots (dark dots)."""
    _use_agg()
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    p = points[:limit]
    ax.scatter(p[:, 0], p[:, 1], s=1, c="0.2", linewidths=0, label="real")
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=7, markerscale=3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
