"""Pictures as the page holds them: PNG bytes in ``data:`` URIs, the real-data picture a
run's sample grids are compared with, and the tiles of the nearest-neighbour sheet."""

from __future__ import annotations

import base64
import io

import torch
from PIL import Image
from torch import Tensor

from .._artifacts import image_grid
from .._parts import as_float
from .._run import Run
from ._plots import scatter_png


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def tile(x: Tensor) -> bytes:
    """One image (C x H x W in [-1, 1]) as a PNG, without a border."""
    return png_bytes(image_grid(x.unsqueeze(0), columns=1, pad=0))


def real_picture(run: Run) -> tuple[bytes | None, str]:
    """The real data as the run's sample grids show generated data: a grid of as many
    training images (a fixed subset, drawn with the run's seed), or a scatter plot of the
    2-D points; with a caption. None, with the reason, for data drawn neither way."""
    data = run.dataset.tensors["x"]
    n = min(run.recipe.train.num_samples, len(data))
    pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(run.recipe.train.seed))[:n]
    if data.dim() == 4:
        return png_bytes(image_grid(as_float(data[pick.sort().values]))), f"{n} training images"
    if data.dim() == 5:  # sequences, drawn as the run draws its samples: a row per sequence
        rows = min(8, len(data))
        frames = as_float(data[pick[:rows].sort().values])
        grid = image_grid(frames.reshape(-1, *frames.shape[2:]), columns=frames.shape[1])
        return png_bytes(grid), f"{rows} training sequences of {frames.shape[1]} frames"
    if data.dim() == 2 and data.shape[1] == 2:
        shown = min(len(data), 2000)
        return scatter_png(data[:shown].float().cpu().numpy()), f"{shown} training points"
    return None, f"training data of shape {tuple(data.shape[1:])} are not drawn"
