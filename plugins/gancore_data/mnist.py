"""MNIST digits from the bundled test split, a local folder of IDX files, or a download."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

import gancore
from gancore import GancoreError

from .download import cache_root, fetch_gzipped
from .idx import decompress_if_gzipped, parse_idx, read_idx

DEFAULT_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
NUM_CLASSES = 10
NATIVE_SIZE = 28

# SHA-256 of each file's decompressed content (gzip recompression changes the .gz bytes).
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

Split = Literal["train", "test"]


def file_stems(split: Split) -> tuple[str, str]:
    """The IDX file names (without .gz) of a split's images and labels."""
    prefix = "train" if split == "train" else "t10k"
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def _pair(images: np.ndarray, labels: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Check that images and labels belong together and look like MNIST."""
    if images.shape[1:] != (NATIVE_SIZE, NATIVE_SIZE) or images.dtype != np.uint8:
        shape = "x".join(str(s) for s in images.shape[1:])
        raise GancoreError(f"mnist: images in {where} are {images.dtype} {shape}, not uint8 28x28")
    if labels.dtype != np.uint8:
        raise GancoreError(f"mnist: labels in {where} are {labels.dtype}, not uint8")
    if len(labels) != len(images):
        raise GancoreError(f"mnist: {len(images)} images but {len(labels)} labels in {where}")
    if len(labels) and labels.max() >= NUM_CLASSES:
        raise GancoreError(f"mnist: labels in {where} go up to {labels.max()}, not 0..9")
    return images, labels


@functools.lru_cache(maxsize=1)
def embedded_test_split() -> tuple[np.ndarray, np.ndarray]:
    """The bundled 10k test split as read-only uint8 arrays, decoded once per process."""
    folder = resources.files("gancore_data.embedded")
    arrays = []
    for stem, ndim in zip(file_stems("test"), (3, 1)):
        name = f"embedded {stem}.gz"
        data = decompress_if_gzipped((folder / f"{stem}.gz").read_bytes(), name=name)
        arrays.append(parse_idx(data, name=name, ndim=ndim))
    return _pair(arrays[0], arrays[1], "the embedded copy")


def read_directory(root: Path, split: Split) -> tuple[np.ndarray, np.ndarray]:
    """A split from a folder holding the standard IDX files, gzipped or not."""
    if not root.is_dir():
        raise GancoreError(f"mnist: directory {root} does not exist")
    paths = []
    for stem in file_stems(split):
        found = next((p for p in (root / stem, root / f"{stem}.gz") if p.is_file()), None)
        if found is None:
            raise GancoreError(f"mnist: no {stem}(.gz) in {root}")
        paths.append(found)
    return _pair(read_idx(paths[0], ndim=3), read_idx(paths[1], ndim=1), str(root))


def read_download(url: str, cache: Path, split: Split) -> tuple[np.ndarray, np.ndarray]:
    """A split fetched from ``url`` into ``cache`` once, verified, then read from there."""
    base = url if url.endswith("/") else url + "/"
    paths = [fetch_gzipped(f"{base}{stem}.gz", cache / stem, SHA256[stem], what="mnist") for stem in file_stems(split)]
    return _pair(read_idx(paths[0], ndim=3), read_idx(paths[1], ndim=1), str(cache))


def resize_weights(source: int, target: int) -> torch.Tensor:
    """The (target x source) matrix of 1D bilinear resampling, antialiased when shrinking.

    Taken from ``F.interpolate`` applied to the identity, so it is exactly torch's filter.
    """
    # Resample along the width: antialiasing along a height with a width of 1 gives wrong
    # weights in some torch versions.
    eye = torch.eye(source).view(source, 1, 1, source)
    rows = F.interpolate(eye, size=(1, target), mode="bilinear", align_corners=False, antialias=target < source)
    return rows.view(source, target).T.contiguous()


def to_images(images: np.ndarray, size: int, chunk: int = 2048) -> torch.Tensor:
    """uint8 N x 28 x 28 -> uint8 N x 1 x size x size (batches see floats in [-1, 1]).

    A resize goes chunk by chunk, so that each chunk's resampling stays in the CPU cache,
    as two small matrix products (bilinear is separable): several times faster on a CPU
    than ``F.interpolate`` on the whole batch, with the same result, rounded to 8 bits as
    a resized image file would be.
    """
    if size == images.shape[-1]:
        return torch.from_numpy(images.copy()).unsqueeze(1)  # its own: the bundled split is shared
    weights = resize_weights(images.shape[-1], size)
    out = torch.empty(images.shape[0], 1, size, size, dtype=torch.uint8)
    for start in range(0, images.shape[0], chunk):
        block = torch.from_numpy(images[start : start + chunk].astype(np.float32))
        # Bilinear weights are >= 0 and sum to 1: the range holds up to rounding.
        resized = (weights @ block @ weights.T).round_().clamp_(0, 255)
        out[start : start + chunk, 0] = resized.to(torch.uint8)
    return out


def to_tensors(images: np.ndarray, labels: np.ndarray, size: int) -> dict[str, torch.Tensor]:
    """The dataset's tensors: images as ``to_images`` makes them, labels as int64."""
    return {"x": to_images(images, size), "label": torch.from_numpy(labels.astype(np.int64))}


def mnist(
    source: Annotated[
        Literal["embedded", "directory", "download"],
        Field(description="embedded (bundled 10k test split), directory (root) or download (url)"),
    ] = "embedded",
    split: Annotated[
        Split | None, Field(description='"train" or "test"; default test when embedded, else train')
    ] = None,
    root: Annotated[str | None, Field(description="folder of the IDX files, for source = directory")] = None,
    url: Annotated[str, Field(description="base URL of the gzipped IDX files, for source = download")] = DEFAULT_URL,
    cache_dir: Annotated[
        str | None, Field(description="download folder (default $GANCORE_CACHE/mnist or ~/.cache/gancore/mnist)")
    ] = None,
    size: Annotated[int, Field(ge=8, le=256, description="image side: 28 native, 32 or 64 resized bilinearly")] = 28,
    classes: Annotated[list[int] | None, Field(description="keep only these digits (labels stay 0..9)")] = None,
    limit: Annotated[int | None, Field(ge=1, description="keep the first N images (after the class filter)")] = None,
) -> gancore.Dataset:
    """MNIST handwritten digits, 1 x 28 x 28 (uint8; batches in [-1, 1]), with labels (10 classes)."""
    if split is None:
        split = "test" if source == "embedded" else "train"
    if source == "embedded" and split == "train":
        raise ValueError(
            "the embedded copy is the 10k test split; use split = 'test', "
            "or source = 'directory' or 'download' for the train split"
        )
    if root is not None and source != "directory":
        raise ValueError(f"root is set but source is {source!r}; set source = 'directory' to read from root")
    if source == "directory" and root is None:
        raise ValueError("source = 'directory' needs root, the folder holding the IDX files")
    if classes is not None:
        bad = sorted({c for c in classes if not 0 <= c < NUM_CLASSES})
        if not classes or bad:
            raise ValueError(f"classes must be a non-empty list of digits 0..9 (got {classes})")

    if source == "embedded":
        images, labels = embedded_test_split()
    elif source == "directory":
        assert root is not None  # refused above
        images, labels = read_directory(Path(root).expanduser(), split)
    else:
        cache = Path(cache_dir).expanduser() if cache_dir else cache_root() / "mnist"
        images, labels = read_download(url, cache, split)

    if classes is not None:
        keep = np.flatnonzero(np.isin(labels, classes))[:limit]
        images, labels = images[keep], labels[keep]
    elif limit is not None:
        images, labels = images[:limit], labels[:limit]
    return gancore.Dataset(to_tensors(images, labels, size), num_classes=NUM_CLASSES, class_names=[str(d) for d in range(NUM_CLASSES)])
