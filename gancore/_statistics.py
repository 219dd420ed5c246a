"""Reference statistics: the Gaussian (mean and covariance) of a real image set's features,
computed once and kept in a file that FID reads in place of the images.

The file is pytorch-fid's ``.npz`` layout, ``mu`` (D) and ``sigma`` (D x D, the unbiased
covariance) in float64, plus what made them: ``count``, ``features`` and ``preprocessing``
(strings; absent from pytorch-fid's own files, which load too). Images are streamed through
the feature space in batches; only the running sums stay in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ._checkpoint import write_atomic
from ._errors import GancoreError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


@dataclass
class Statistics:
    """A feature Gaussian: ``mu`` (D), ``sigma`` (D x D), the number of images behind it and
    a description of the features and preprocessing (empty for a file that had none)."""

    mu: Tensor
    sigma: Tensor
    count: int = 0
    about: dict[str, str] = field(default_factory=dict)


class RunningGaussian:
    """The mean and unbiased covariance of rows added batch by batch, summed in float64
    (the same values as fitting all rows at once, to float64 rounding)."""

    def __init__(self) -> None:
        self.count = 0
        self.total: Tensor | None = None
        self.products: Tensor | None = None

    def add(self, features: Tensor) -> None:
        f = features.detach().double().cpu()
        if self.total is None:
            self.total, self.products = f.sum(0), f.T @ f
        else:
            assert self.products is not None
            self.total += f.sum(0)
            self.products += f.T @ f
        self.count += f.shape[0]

    def result(self, about: Mapping[str, str] | None = None) -> Statistics:
        if self.total is None or self.products is None or self.count < 2:
            raise GancoreError(f"statistics need at least 2 images, got {self.count}")
        mu = self.total / self.count
        sigma = (self.products - self.count * torch.outer(mu, mu)) / (self.count - 1)
        return Statistics(mu, sigma, self.count, dict(about or {}))


def save_statistics(stats: Statistics, path: str | Path) -> Path:
    """Write ``stats`` to ``path`` (.npz) atomically."""
    path = Path(path)
    if path.suffix != ".npz":
        raise GancoreError(f"--out {path}: statistics are written to a .npz file")
    arrays: dict[str, Any] = {"mu": stats.mu.double().numpy(), "sigma": stats.sigma.double().numpy(),
                              "count": np.int64(stats.count)}
    arrays |= {key: np.str_(value) for key, value in stats.about.items()}
    write_atomic(path, lambda fh: np.savez(fh, **arrays))
    return path


def load_statistics(path: str | Path) -> Statistics:
    """Statistics from a .npz file (gancore's or pytorch-fid's), checked to be a Gaussian."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise GancoreError(f"reference statistics not found: {path}") from None
    except (OSError, ValueError, EOFError) as exc:
        raise GancoreError(f"cannot read reference statistics {path}: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    if "mu" not in arrays or "sigma" not in arrays:
        raise GancoreError(f"{path} holds no statistics: it needs arrays mu and sigma (it has {', '.join(arrays) or 'none'})")
    mu, sigma = arrays["mu"], arrays["sigma"]
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise GancoreError(f"{path}: mu must be D and sigma D x D, got {mu.shape} and {sigma.shape}")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise GancoreError(f"{path}: the statistics are not finite")
    about = {key: str(value) for key, value in arrays.items() if key not in ("mu", "sigma", "count") and value.ndim == 0}
    count = int(arrays["count"]) if "count" in arrays else 0
    return Statistics(torch.from_numpy(mu).double(), torch.from_numpy(sigma).double(), count, about)


def folder_images(root: str | Path, batch_size: int) -> Iterator[Tensor]:
    """A folder's images (searched recursively, in name order) as uint8 batches
    N x C x H x W, each image at its own size: a batch holds images of one shape.
    Grayscale images keep their one channel (a feature space for RGB repeats it, as
    converting them to RGB would); every other mode is read as RGB."""
    from PIL import Image, UnidentifiedImageError

    root = Path(root)
    if not root.is_dir():
        raise GancoreError(f"{root} is not a folder of images")
    # Hidden files and folders (".DS_Store", ".ipynb_checkpoints", ...) are never data.
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))
    if not files:
        raise GancoreError(f"{root} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    pending: dict[tuple[int, ...], list[np.ndarray]] = {}
    for file in files:
        try:
            with Image.open(file) as image:
                array = np.asarray(image if image.mode == "L" else image.convert("RGB"))
        except (UnidentifiedImageError, OSError) as exc:
            raise GancoreError(f"cannot read image {file}: {exc}") from None
        if array.ndim == 2:
            array = array[:, :, None]
        group = pending.setdefault(array.shape, [])
        group.append(array)
        if len(group) == batch_size:
            yield torch.from_numpy(np.stack(pending.pop(array.shape))).permute(0, 3, 1, 2)
    for group in pending.values():
        yield torch.from_numpy(np.stack(group)).permute(0, 3, 1, 2)


def feature_statistics(space: Any, batches: Iterator[Tensor], about: Mapping[str, str]) -> Statistics:
    """The Gaussian of ``space.features`` over every batch."""
    gaussian = RunningGaussian()
    for batch in batches:
        gaussian.add(space.features(batch))
    return gaussian.result(about)
