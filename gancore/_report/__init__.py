"""``gancore report``: one self-contained HTML page of one or several runs.

One module per job: ``_runfiles`` reads a run directory's files, ``_plots`` draws the
charts, ``_pictures`` the real data and the sheet's tiles, ``_neighbours`` finds each
sample's nearest training images, ``_page`` writes the HTML (and escapes it). This module
puts them together and writes the file.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from .._errors import GancoreError
from .._run import Run
from ._neighbours import neighbour_sheet
from ._page import RunView, page
from ._pictures import real_picture
from ._plots import curve_keys, curve_svg
from ._runfiles import read_run_files

REPORT_FILE = "report.html"


def labels(paths: Sequence[Path]) -> list[str]:
    """Each run's name on the page: its folder's name, or its whole path where two runs
    share a folder name."""
    names = Counter(p.name for p in paths)
    return [p.name if names[p.name] == 1 else str(p) for p in paths]


def report_html(runs: Sequence[Run]) -> str:
    """The page of ``runs`` (each loaded from, or training into, its run directory)."""
    import gancore

    paths = []
    for run in runs:
        if run.out is None:
            raise GancoreError("a report is made of run directories; this run has none (give it out=...)")
        paths.append(run.out)
    views = []
    for run, label in zip(runs, labels(paths)):
        assert run.out is not None
        files = read_run_files(run.out)
        real, caption = real_picture(run)
        two_d = tuple(run.spec.shape) == (2,)
        views.append(RunView(label, files, real, caption, neighbour_sheet(run), two_d))
    lines = [(v.label, v.files.rows) for v in views]
    charts = {
        group: [(key, curve_svg(key, lines, salt=f"{group}-{key}")) for key in keys]
        for group, keys in curve_keys([v.files.rows for v in views]).items()
    }
    return page(views, charts, gancore.__version__)


def write_report(runs: Sequence[Run], out: Path) -> int:
    """Write the page of ``runs`` to ``out`` (atomically: a reader never sees half a page);
    its size in bytes."""
    data = report_html(runs).encode("utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, out)
    return len(data)
