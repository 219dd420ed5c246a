"""TensorBoard logging through ``torch.utils.tensorboard``; the ``tensorboard`` package is
an optional extra (``pip install "gancore[tensorboard]"``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from torch import Tensor

import gancore

MISSING = 'the tensorboard callback needs the tensorboard package: pip install "gancore[tensorboard]"'


def _summary_writer() -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # torch raises it when the tensorboard package is absent
        raise gancore.GancoreError(MISSING) from None
    return SummaryWriter


class TensorBoard(gancore.Callback):
    """Every metrics row as scalars and every sample grid as an image, for TensorBoard.

    Args:
        log_dir: folder of the event files (default: the run directory's tensorboard/)
    """

    def __init__(self, log_dir: str | None = None) -> None:
        self.writer_class = _summary_writer()  # a missing package fails before training
        self.log_dir = log_dir
        self.writer: Any = None

    def on_start(self, run: Any) -> None:
        if self.log_dir is None and run.out is None:
            raise gancore.GancoreError("the tensorboard callback needs a run directory (out=...) or a log_dir")
        folder = Path(self.log_dir) if self.log_dir is not None else Path(run.out) / "tensorboard"
        # A resumed run discards what an earlier attempt logged past its checkpoint.
        self.writer = self.writer_class(str(folder), purge_step=run.step if run.step > 0 else None)

    def on_log(self, run: Any, row: Mapping[str, float]) -> None:
        step = int(row["step"])
        for key, value in row.items():
            if key != "step" and isinstance(value, (int, float)) and math.isfinite(value):
                self.writer.add_scalar(key, value, step)

    def on_samples(self, run: Any, samples: Tensor, path: Path) -> None:
        # The PNG the run wrote: an image grid, or the scatter plot of 2D samples.
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
        self.writer.add_image("samples", pixels, run.step, dataformats="HWC")

    def on_checkpoint(self, run: Any, path: Path) -> None:
        self.writer.flush()

    def _close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def on_end(self, run: Any) -> None:
        self._close()

    def on_failure(self, run: Any, error: BaseException) -> None:
        self._close()
