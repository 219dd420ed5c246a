"""Opening a trained run for the commands that use its weights (``sample``, ``eval``):
on the device asked for, from a checkpoint whose weights are finite."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .._errors import GancoreError
from .._run import Run

DeviceOption = Annotated[str, typer.Option("--device", help="auto (CUDA when there is one, else the CPU), cpu, cuda or cuda:N.")]
DEFAULT_DEVICE = "auto"  # what a recipe's train.device is by default: train, sample and eval agree


def trained_run(run_dir: Path, *, device: str, step: int | None, best: bool) -> Run:
    try:
        run = Run.load(run_dir, device=device, step=step, best=best)
    except GancoreError as exc:
        # The engine names the recipe's key; here the device came from the option.
        message = str(exc)
        if message.startswith("train.device:"):
            raise GancoreError("--device:" + message.removeprefix("train.device:")) from None
        raise
    if run.step == 0:
        raise GancoreError(f"{run_dir} has no checkpoint yet")
    run.require_finite()
    return run
