"""What a run writes for people to look at: sample grids, scatter plots, curves."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor


def to_uint8_images(x: Tensor) -> np.ndarray:
    """N x C x H x W in [-1, 1] -> N x H x W x C uint8."""
    x = ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def image_grid(x: Tensor, columns: int | None = None, pad: int = 2) -> Image.Image:
    """Images in a grid with a thin border, as one PIL image."""
    images = to_uint8_images(x)
    n, h, w, c = images.shape
    cols = columns or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    grid = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, c), dtype=np.uint8)
    for i in range(n):  # a few dozen tiles: not a hot path
        r, col = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top : top + h, left : left + w] = images[i]
    if c == 1:
        return Image.fromarray(grid[..., 0], mode="L")
    if c == 3:
        return Image.fromarray(grid, mode="RGB")
    return Image.fromarray(grid[..., 0], mode="L")  # other channel counts: show the first


def save_png_atomic(image: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    image.save(tmp, format="PNG")
    os.replace(tmp, path)


def save_samples(samples: Tensor, path: Path, real: Tensor | None = None) -> None:
    """A grid for images, a scatter plot (over the real data in grey) for 2D points."""
    if samples.dim() == 4:
        save_png_atomic(image_grid(samples), path)
    elif samples.dim() == 2 and samples.shape[1] == 2:
        save_scatter(samples, path, real)
    elif samples.dim() == 5:  # sequences: one row per sequence
        n, t = samples.shape[:2]
        save_png_atomic(image_grid(samples.reshape(n * t, *samples.shape[2:]), columns=t), path)
    else:
        raise ValueError(f"cannot draw samples of shape {tuple(samples.shape)}")


def _use_agg() -> None:
    """matplotlib draws off screen (its Agg backend); called before pyplot is imported."""
    import matplotlib

    matplotlib.use("Agg", force=True)


def save_scatter(points: Tensor, path: Path, real: Tensor | None = None) -> None:
    _use_agg()
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    # Generated points underneath, half transparent; the real ones (small, dark) on top, so
    # that a generator covering the data does not hide where the data is.
    p = points.detach().float().cpu().numpy()
    ax.scatter(p[:, 0], p[:, 1], s=3, c="tab:blue", alpha=0.5, linewidths=0, label="generated", zorder=1)
    if real is not None:
        r = real[:2000].detach().float().cpu().numpy()
        ax.scatter(r[:, 0], r[:, 1], s=1, c="0.2", linewidths=0, label="real", zorder=2)
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=7, markerscale=3)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)


def read_metrics(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by a crash
    return rows


def save_curves(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Every logged value over steps, one panel each."""
    keys = sorted({k for r in rows for k, v in r.items() if isinstance(v, (int, float)) and k not in ("step", "seconds")})
    if not keys:
        return
    _use_agg()
    import matplotlib.pyplot as plt

    cols = min(3, len(keys))
    nrows = int(math.ceil(len(keys) / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 2.6 * nrows), dpi=90, squeeze=False)
    for ax, key in zip(axes.flat, keys):
        pts = [(r["step"], r[key]) for r in rows if key in r and "step" in r]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="." if len(pts) < 30 else None)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)


def json_line(row: Mapping[str, Any]) -> str:
    """JSON has no infinity or NaN: such values (an empty mode histogram's KL) become null."""
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
    return json.dumps(clean, allow_nan=False)
