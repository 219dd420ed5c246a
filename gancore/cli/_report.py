"""``gancore report``: one self-contained HTML page of one or several runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .._errors import GancoreError
from .._report import REPORT_FILE, write_report
from .._rundir import check_run
from ._app import app
from ._output import console, plugin_warnings
from ._paths import output_file
from ._runs import DEFAULT_DEVICE, DeviceOption, ThreadsOption, loaded_run, use_threads


@app.command()
def report(
    runs: Annotated[list[Path], typer.Argument(metavar="RUN", help="One or more run directories.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="FILE.html, or a folder to write report.html into; default RUN/report.html for one run, report.html here for several.")] = None,
    device: DeviceOption = DEFAULT_DEVICE,
    threads: ThreadsOption = None,
) -> None:
    """Write one self-contained HTML page of runs: real data beside the samples of every
    sample step, curves (several runs on one chart), each sample's nearest training
    images, the recipe and the environment. It holds every picture and chart itself and
    loads nothing: open it from disk, offline, in any browser."""
    plugin_warnings()
    use_threads(threads)
    for run_dir in runs:
        check_run(run_dir)  # before any of them is loaded: the mistake is named at once
    if len(set(p.resolve() for p in runs)) < len(runs):
        raise GancoreError("a run is named twice; name each run once")
    if out is None:
        target = runs[0] / REPORT_FILE if len(runs) == 1 else Path(REPORT_FILE)
    else:
        target = output_file(out, REPORT_FILE, (".html", ".htm"))
    loaded = [loaded_run(run_dir, device=device) for run_dir in runs]
    size = write_report(loaded, target)
    console.print(f"wrote a report of {len(loaded)} run{'s' if len(loaded) > 1 else ''} to {target} ({size / 1e3:.1f} kB)")
