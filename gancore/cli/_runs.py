"""Opening a trained run for the commands that use its weights (``sample``, ``eval``):
on the device asked for, from a checkpoint whose weights are finite."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import torch
import typer

from .._errors import GancoreError
from .._run import Run

DeviceOption = Annotated[str, typer.Option("--device", help="auto (CUDA when there is one, else the CPU), cpu, cuda or cuda:N.")]
DEFAULT_DEVICE = "auto"  # what a recipe's train.device is by default: train, sample and eval agree
ThreadsOption = Annotated[Optional[int], typer.Option(
    "--threads", metavar="N", min=1, max=1024,
    help="CPU threads of this process (default: the machine's cores; give 1 per process when several run at once).")]

# Which weights a command that uses a trained run reads.
StepOption = Annotated[Optional[int], typer.Option("--step", min=0, help="Use the checkpoint of this step (default: the latest).")]
BestOption = Annotated[bool, typer.Option(
    "--best", help="Use the run's best-scoring checkpoint (kept when [eval] evaluates during training).")]
NoEmaOption = Annotated[bool, typer.Option("--no-ema", help="Use the live weights even if the run keeps an EMA copy.")]


def use_threads(threads: int | None) -> None:
    """``--threads`` of a command that computes outside a recipe's training."""
    if threads is not None:
        torch.set_num_threads(threads)


def loaded_run(run_dir: Path, *, device: str, step: int | None = None, best: bool = False) -> Run:
    """The run in ``run_dir`` on ``--device``, at its newest checkpoint (or none yet)."""
    try:
        return Run.load(run_dir, device=device, step=step, best=best)
    except GancoreError as exc:
        # The engine names the recipe's key; here the device came from the option.
        message = str(exc)
        if message.startswith("train.device:"):
            raise GancoreError("--device:" + message.removeprefix("train.device:")) from None
        raise


def trained_run(run_dir: Path, *, device: str, step: int | None, best: bool) -> Run:
    run = loaded_run(run_dir, device=device, step=step, best=best)
    if run.step == 0:
        raise GancoreError(f"{run_dir} has no checkpoint yet")
    run.require_finite()
    return run
