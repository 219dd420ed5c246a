"""The report's HTML: one file holding everything it shows.

Pictures are ``data:`` URIs, charts inline SVG, the style sheet inline; there is no
script. The page's Content-Security-Policy allows nothing else, so even a browser that
followed a stray URL would not fetch it. Every string that comes from a run (recipe
values, descriptions, metric names, plugin names and versions, folder names) goes through
``html.escape`` here; the SVG charts are escaped by matplotlib's writer.
"""

from __future__ import annotations

import datetime
import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._neighbours import Sheet
from ._pictures import data_uri, tile
from ._runfiles import RunFiles

POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1400px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ccc; margin-top: 1.6em; }
.runs { display: grid; gap: 1.2em; }
.run { min-width: 0; }
figure { margin: 0; display: inline-block; vertical-align: top; }
figcaption { font-size: 12px; color: #555; }
img.grid { width: 280px; image-rendering: pixelated; border: 1px solid #ddd; }
.strip { display: flex; gap: 0.6em; overflow-x: auto; padding-bottom: 0.5em; }
.strip img { width: 150px; image-rendering: pixelated; border: 1px solid #ddd; }
.charts { display: flex; flex-wrap: wrap; gap: 0.8em; }
.charts figure { width: 400px; }
svg.chart { width: 100%; height: auto; }
table { border-collapse: collapse; font-size: 13px; }
td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: left; vertical-align: top; }
table.sheet td { border: none; padding: 2px; text-align: center; font-size: 11px; color: #555; }
table.sheet img { width: 56px; image-rendering: pixelated; display: block; }
table.sheet td.sample { padding-right: 12px; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; font-size: 12px; max-height: 40em; }
.note { color: #855; }
"""


@dataclass
class RunView:
    """What the page shows of one run."""

    label: str
    files: RunFiles
    real: bytes | None
    real_caption: str
    sheet: Sheet
    two_d: bool  # 2-D points: the sample pictures are scatter plots


def e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def page(views: Sequence[RunView], charts: dict[str, list[tuple[str, str]]], version: str) -> str:
    """The whole document; ``charts``: group -> (key, inline svg)."""
    labels = ", ".join(v.label for v in views)
    columns = f"grid-template-columns: repeat({len(views)}, minmax(0, 1fr));"
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{e(POLICY)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>gancore report: {e(labels)}</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>gancore report</h1>",
        f"<p>{e(labels)}: written {e(when)} by gancore {e(version)}.</p>",
        _summary(views),
        "<h2>Samples</h2>",
        f'<div class="runs" style="{columns}">' + "".join(_samples(v) for v in views) + "</div>",
        "<h2>Nearest training images</h2>",
        f'<div class="runs" style="{columns}">' + "".join(_sheet(v) for v in views) + "</div>",
        "<h2>Curves</h2>",
        _charts(charts),
        "<h2>Recipes</h2>",
        f'<div class="runs" style="{columns}">' + "".join(_recipe(v) for v in views) + "</div>",
        "<h2>Environment</h2>",
        f'<div class="runs" style="{columns}">' + "".join(_environment(v) for v in views) + "</div>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, s = divmod(seconds, 60)
    hours, m = divmod(int(minutes), 60)
    return f"{hours}:{m:02d}:{s:04.1f}" if hours else f"{m}:{s:04.1f}" if m else f"{s:.1f} s"


def _summary(views: Sequence[RunView]) -> str:
    rows = ["<table><tr><th>run</th><th>recipe</th><th>steps</th><th>training time</th><th>steps/s</th>"
            "<th>device</th><th>processes</th><th>last evaluation</th></tr>"]
    for v in views:
        f = v.files
        seconds = f.seconds
        speed = f"{f.steps / seconds:.2f}" if seconds else "-"
        session = f.sessions[-1] if f.sessions else {}
        device = session.get("device", f.recipe.get("train", {}).get("device", "-"))
        rows.append(f"<tr><td>{e(v.label)}</td><td>{e(f.description)}</td><td>{f.steps}</td>"
                    f"<td>{e(duration(seconds))}</td><td>{e(speed)}</td><td>{e(device)}</td>"
                    f"<td>{e(session.get('processes', '-'))}</td><td>{_last_evaluation(f)}</td></tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _last_evaluation(files: RunFiles) -> str:
    """The metric values of the last line that has any: the logged values other than the
    training's own (losses, scores, penalties, speed, gradient norms, skips) and the
    scheduled values (dotted names)."""
    for row in reversed(files.rows):
        values = {k: v for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                  and "." not in k and k not in _TRAINING_KEYS and not k.startswith(_TRAINING_PREFIXES)}
        if values:
            shown = ", ".join(f"{k} {v:.4g}" for k, v in sorted(values.items(), key=lambda kv: (kv[0] != "fid", kv[0])))
            return e(f"step {row['step']}: {shown}")
    return "-"


_TRAINING_KEYS = {"step", "seconds", "steps_per_sec", "skipped_updates"}
_TRAINING_PREFIXES = ("loss", "score", "penalty", "grad_norm")


def _samples(v: RunView) -> str:
    f = v.files
    what = "scatter plots" if v.two_d else "sample grids"
    out = [f'<div class="run"><h3>{e(v.label)}</h3>']
    if v.real is not None:
        out.append(f'<figure><img class="grid" alt="real data" src="{data_uri(v.real)}">'
                   f"<figcaption>real data: {e(v.real_caption)}</figcaption></figure> ")
    else:
        out.append(f'<p class="note">{e(v.real_caption)}</p>')
    if f.samples:
        step, png = f.samples[-1]
        out.append(f'<figure><img class="grid" alt="samples at step {step}" src="{data_uri(png)}">'
                   f"<figcaption>generated, step {step} (the fixed seed)</figcaption></figure>")
        out.append(f"<h4>Over time: {len(f.samples)} {what}, one per sample step</h4>")
        out.append('<div class="strip">' + "".join(
            f'<figure><img alt="step {s}" src="{data_uri(p)}"><figcaption>step {s}</figcaption></figure>'
            for s, p in f.samples) + "</div>")
    else:
        out.append(f'<p class="note">no {what} yet (samples/ is empty)</p>')
    out.append("</div>")
    return "".join(out)


def _charts(charts: dict[str, list[tuple[str, str]]]) -> str:
    if not charts:
        return '<p class="note">nothing logged yet (metrics.jsonl is empty)</p>'
    out = []
    for group, items in charts.items():
        out.append(f"<h3>{e(group)}</h3><div class=\"charts\">")
        out += [f"<figure><figcaption>{e(key)}</figcaption>{svg}</figure>" for key, svg in items]
        out.append("</div>")
    return "\n".join(out)


def _sheet(v: RunView) -> str:
    s = v.sheet
    out = [f'<div class="run"><h3>{e(v.label)}</h3>']
    if s.missing or s.samples is None or s.neighbours is None or s.distances is None:
        out.append(f'<p class="note">no sheet: {e(s.missing)}</p></div>')
        return "".join(out)
    out.append(f"<p>Each sample (left, the fixed seed) beside its {s.neighbours.shape[1]} nearest of {s.searched} "
               f"training images, in {e(s.space)}; the numbers are distances.</p>")
    out += [f'<p class="note">{e(note)}</p>' for note in s.notes]
    out.append('<table class="sheet">')
    for i in range(s.samples.shape[0]):
        cells = [f'<td class="sample"><img alt="sample {i}" src="{data_uri(tile(s.samples[i]))}">sample</td>']
        for j in range(s.neighbours.shape[1]):
            cells.append(f'<td><img alt="neighbour {j + 1} of sample {i}" src="{data_uri(tile(s.neighbours[i, j]))}">'
                         f"{float(s.distances[i, j]):.3g}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table></div>")
    return "".join(out)


def _recipe(v: RunView) -> str:
    return f'<div class="run"><h3>{e(v.label)}</h3><pre>{e(v.files.recipe_text)}</pre></div>'


KEYS = ("step", "started", "device", "device_name", "processes", "threads", "gancore", "torch", "cuda", "python", "platform")


def _environment(v: RunView) -> str:
    out = [f'<div class="run"><h3>{e(v.label)}</h3>']
    if not v.files.sessions:
        out.append('<p class="note">not recorded: the run was trained before gancore kept environment.json</p></div>')
        return "".join(out)
    for n, session in enumerate(v.files.sessions, start=1):
        title = "session" if len(v.files.sessions) == 1 else f"session {n}"
        out.append(f"<h4>{title}, from step {e(session.get('step', '?'))}</h4><table>")
        out += [f"<tr><th>{e(k)}</th><td>{e(session[k])}</td></tr>" for k in KEYS if k in session]
        plugins = session.get("plugins")
        if isinstance(plugins, dict):
            listed = ", ".join(f"{name} {version}" for name, version in plugins.items())
            out.append(f"<tr><th>plugins</th><td>{e(listed)}</td></tr>")
        out.append("</table>")
    out.append("</div>")
    return "".join(out)
