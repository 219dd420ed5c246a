"""CIFAR-10 and CIFAR-100 from their official binary archives ("binary version, suitable for C programs").

Layouts, as https://www.cs.toronto.edu/~kriz/cifar.html publishes them:

- ``cifar-10-binary.tar.gz`` unpacks to ``cifar-10-batches-bin/``: ``data_batch_1.bin`` to
  ``data_batch_5.bin`` (train, 10,000 images each), ``test_batch.bin`` (10,000) and
  ``batches.meta.txt`` (the class names, one a line). A record is 1 label byte and 3072 pixel
  bytes.
- ``cifar-100-binary.tar.gz`` unpacks to ``cifar-100-binary/``: ``train.bin`` (50,000),
  ``test.bin`` (10,000), ``coarse_label_names.txt`` and ``fine_label_names.txt``. A record is
  1 coarse label byte, 1 fine label byte and 3072 pixel bytes.

The pixels of a record are the red plane, then the green, then the blue, each 32 x 32 in
row-major order: exactly one C x H x W uint8 image. Records are parsed as whole arrays
(``np.frombuffer``), and an archive is read member by member without unpacking it.
"""

from __future__ import annotations

import os
import tarfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import torch
from pydantic import Field

import gancore
from gancore import GancoreError

from .download import cache_root, fetch_file

SIDE = 32
PIXELS = 3 * SIDE * SIDE

Split = Literal["train", "test"]

#: Where each archive is published. Looked up at load time, so a test can serve its own.
URLS = {
    "cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    "cifar100": "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
}

#: The MD5 of each archive as https://www.cs.toronto.edu/~kriz/cifar.html lists it (the
#: publisher gives no other hash); a download is kept only when it matches.
MD5 = {
    "cifar10": "c32a1d4ab5d03f1284b67883e8d87530",
    "cifar100": "03b5dce01913d631647c71ecec9e9cb8",
}


@dataclass(frozen=True)
class Layout:
    """Where one CIFAR variant keeps what, and what its records hold."""

    dataset: str  # the registered name, also the cache subfolder
    archive: str  # the published .tar.gz
    folder: str  # the archive's top folder
    splits: Mapping[str, tuple[str, ...]]  # split -> its batch files, in order
    labels: tuple[str, ...]  # the label bytes at the start of a record, in order
    num_classes: Mapping[str, int]  # label byte -> its number of classes
    names: Mapping[str, str]  # label byte -> the text file naming its classes

    @property
    def record(self) -> int:
        """Bytes per image: its label bytes and 3072 pixel bytes."""
        return len(self.labels) + PIXELS


CIFAR10 = Layout(
    dataset="cifar10",
    archive="cifar-10-binary.tar.gz",
    folder="cifar-10-batches-bin",
    splits={"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)), "test": ("test_batch.bin",)},
    labels=("label",),
    num_classes={"label": 10},
    names={"label": "batches.meta.txt"},
)

CIFAR100 = Layout(
    dataset="cifar100",
    archive="cifar-100-binary.tar.gz",
    folder="cifar-100-binary",
    splits={"train": ("train.bin",), "test": ("test.bin",)},
    labels=("coarse", "fine"),
    num_classes={"coarse": 20, "fine": 100},
    names={"coarse": "coarse_label_names.txt", "fine": "fine_label_names.txt"},
)


# ---------------------------------------------------------------- finding the files


@dataclass(frozen=True)
class Source:
    """The archive, or the unpacked folder, that a layout's files are read from."""

    layout: Layout
    path: Path
    is_archive: bool

    def read(self, names: Sequence[str]) -> dict[str, bytes]:
        """The content of each named file (names inside the archive's top folder)."""
        return self._from_archive(names) if self.is_archive else self._from_folder(names)

    def _from_folder(self, names: Sequence[str]) -> dict[str, bytes]:
        out = {}
        for name in names:
            path = self.path / name
            if not path.is_file():
                raise GancoreError(f"{self.layout.dataset}: no {name} in {self.path}")
            try:
                out[name] = path.read_bytes()
            except OSError as exc:
                raise GancoreError(f"{self.layout.dataset}: cannot read {path}: {exc.strerror or exc}") from None
        return out

    def _from_archive(self, names: Sequence[str]) -> dict[str, bytes]:
        # One pass over the compressed stream, keeping only the members asked for and
        # stopping once all are in: no temporary files, no unpacked copy.
        wanted = {f"{self.layout.folder}/{name}": name for name in names}
        out: dict[str, bytes] = {}
        try:
            with tarfile.open(self.path, mode="r|*") as archive:
                for member in archive:
                    name = wanted.get(member.name.removeprefix("./"))
                    if name is None or not member.isfile():
                        continue
                    handle = archive.extractfile(member)
                    assert handle is not None  # a regular file has content
                    out[name] = handle.read()
                    if len(out) == len(wanted):
                        break
        except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise GancoreError(f"{self.layout.dataset}: cannot read {self.path} as a tar archive: {detail}") from None
        missing = [member for member, name in wanted.items() if name not in out]
        if missing:
            raise GancoreError(f"{self.layout.dataset}: archive {self.path} has no {missing[0]}")
        return out


def locate(layout: Layout, root: str | None) -> Source:
    """Where to read from: ``root`` (the archive, its top folder, or the folder above
    either), else the cached archive, downloaded and verified on first use."""
    if root is None:
        return Source(layout, download(layout), is_archive=True)
    path = Path(root).expanduser()
    if not path.exists():
        raise GancoreError(f"{layout.dataset}: {path} does not exist")
    if path.is_file():
        return Source(layout, path, is_archive=True)
    first = layout.splits["train"][0]
    if (path / first).is_file() or path.name == layout.folder:
        return Source(layout, path, is_archive=False)
    if (path / layout.folder).is_dir():
        return Source(layout, path / layout.folder, is_archive=False)
    if (path / layout.archive).is_file():
        return Source(layout, path / layout.archive, is_archive=True)
    raise GancoreError(
        f"{layout.dataset}: {path} holds neither {layout.archive} nor its folder {layout.folder}/ "
        f"nor the files of that folder ({first}, ...)"
    )


def cached_archive(layout: Layout) -> Path:
    """Where the downloaded archive is kept: ``$GANCORE_CACHE/<dataset>/<archive>``."""
    return cache_root() / layout.dataset / layout.archive


def download(layout: Layout) -> Path:
    """The cached archive, fetched from ``URLS`` and checked against ``MD5`` if absent."""
    dest = cached_archive(layout)
    url = URLS[layout.dataset]
    try:
        return fetch_file(url, dest, MD5[layout.dataset], algorithm="md5", what=layout.dataset)
    except GancoreError as exc:
        raise GancoreError(
            f"{exc}; fetch {url} some other way and put it at {dest}, "
            "or give root (the archive or the folder it unpacks to)"
        ) from None


# ---------------------------------------------------------------- parsing


def parse_records(data: bytes, layout: Layout, name: str, where: Path) -> np.ndarray:
    """A batch file as an N x record uint8 array (read-only, no copy), labels checked."""
    size = layout.record
    if not data:
        raise GancoreError(f"{layout.dataset}: {name} in {where} is empty")
    if len(data) % size:
        raise GancoreError(
            f"{layout.dataset}: {name} in {where} is {len(data)} bytes, not a whole number of "
            f"{size}-byte records (truncated?)"
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, size)
    for column, kind in enumerate(layout.labels):
        classes = layout.num_classes[kind]
        bad = np.flatnonzero(records[:, column] >= classes)
        if bad.size:
            what = "label" if kind == "label" else f"{kind} label"
            raise GancoreError(
                f"{layout.dataset}: record {bad[0]} of {name} in {where} has {what} "
                f"{records[bad[0], column]}, not 0..{classes - 1}"
            )
    return records


def parse_names(data: bytes, layout: Layout, name: str, where: Path, count: int) -> tuple[str, ...]:
    """The class names of a names file: its non-blank lines, one a class."""
    names = tuple(line.strip() for line in data.decode("utf-8", errors="replace").splitlines() if line.strip())
    if len(names) != count:
        raise GancoreError(f"{layout.dataset}: {name} in {where} names {len(names)} classes, not {count}")
    return names


def load(
    layout: Layout,
    root: str | None,
    split: Split,
    label: str,
    classes: list[int] | None,
    limit: int | None,
) -> gancore.Dataset:
    """The dataset: ``x`` uint8 N x 3 x 32 x 32 and ``label`` int64 (the ``label`` byte)."""
    count = layout.num_classes[label]
    if classes is not None:
        bad = sorted({c for c in classes if not 0 <= c < count})
        if not classes or bad:
            raise ValueError(f"classes must be a non-empty list of labels 0..{count - 1} (got {classes})")
    source = locate(layout, root)
    files = layout.splits[split]
    contents = source.read([*files, layout.names[label]])
    batches = [parse_records(contents[name], layout, name, source.path) for name in files]
    names = parse_names(contents[layout.names[label]], layout, layout.names[label], source.path, count)

    column = layout.labels.index(label)
    labels = np.concatenate([batch[:, column] for batch in batches])
    if classes is not None:
        keep = np.flatnonzero(np.isin(labels, classes))[:limit]
    else:
        keep = np.arange(len(labels) if limit is None else min(limit, len(labels)))

    # Copy the kept images batch by batch straight into their final place: the records'
    # pixel bytes already are 3 x 32 x 32 images, so no per-image work is needed.
    x = np.empty((len(keep), 3, SIDE, SIDE), dtype=np.uint8)
    start = filled = 0
    for batch in batches:
        stop = start + len(batch)
        rows = keep[(keep >= start) & (keep < stop)] - start
        pixels = batch[:, len(layout.labels) :]
        if len(rows) == len(batch):
            x[filled : filled + len(rows)] = pixels.reshape(-1, 3, SIDE, SIDE)
        elif len(rows):
            x[filled : filled + len(rows)] = pixels[rows].reshape(-1, 3, SIDE, SIDE)
        filled += len(rows)
        start = stop
    tensors = {"x": torch.from_numpy(x), "label": torch.from_numpy(labels[keep].astype(np.int64))}
    return gancore.Dataset(tensors, num_classes=count, class_names=names)


# ---------------------------------------------------------------- the parts

ROOT_HELP = (
    "{archive}, the folder it unpacks to ({folder}/) or the folder holding either; "
    "default: the archive in $GANCORE_CACHE/{dataset}/ (~/.cache/gancore/{dataset}/), downloaded and verified once"
)


def cifar10(
    root: Annotated[str | None, Field(description=ROOT_HELP.format(**vars(CIFAR10)))] = None,
    split: Annotated[Split, Field(description='"train" (50,000 images) or "test" (10,000)')] = "train",
    classes: Annotated[list[int] | None, Field(description="keep only these classes (labels stay 0..9)")] = None,
    limit: Annotated[int | None, Field(ge=1, description="keep the first N images (after the class filter)")] = None,
) -> gancore.Dataset:
    """CIFAR-10: 32 x 32 colour photos in 10 classes, uint8 3 x 32 x 32, from the official binary archive."""
    return load(CIFAR10, root, split, "label", classes, limit)


def cifar100(
    root: Annotated[str | None, Field(description=ROOT_HELP.format(**vars(CIFAR100)))] = None,
    split: Annotated[Split, Field(description='"train" (50,000 images) or "test" (10,000)')] = "train",
    labels: Annotated[
        Literal["fine", "coarse"], Field(description="fine (100 classes) or coarse (their 20 superclasses)")
    ] = "fine",
    classes: Annotated[
        list[int] | None, Field(description="keep only these classes of the chosen labels (labels keep their values)")
    ] = None,
    limit: Annotated[int | None, Field(ge=1, description="keep the first N images (after the class filter)")] = None,
) -> gancore.Dataset:
    """CIFAR-100: 32 x 32 colour photos in 100 classes (20 superclasses), uint8 3 x 32 x 32, from the official binary archive."""
    return load(CIFAR100, root, split, labels, classes, limit)


# ---------------------------------------------------------------- contract examples


def example_folder(layout: Layout, per_file: int = 4) -> Path:
    """A tiny unpacked copy in the official layout (``per_file`` images in each batch
    file, generated, the same on every call), for the contract kit, which has no copy of
    the real data: ``<tmp>/gancore-<dataset>-example/<folder>/``."""
    import tempfile

    folder = Path(tempfile.gettempdir()) / f"gancore-{layout.dataset}-example" / layout.folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    files: dict[str, bytes] = {}
    for names in layout.splits.values():
        for name in names:
            records = rng.integers(0, 256, size=(per_file, layout.record), dtype=np.uint8)
            for column, kind in enumerate(layout.labels):
                records[:, column] = np.arange(per_file) % layout.num_classes[kind]
            files[name] = records.tobytes()
    for kind, name in layout.names.items():
        files[name] = "".join(f"class {i}\n" for i in range(layout.num_classes[kind])).encode()
    for name, content in files.items():
        path = folder / name
        if not path.is_file():  # written aside and renamed: parallel test processes share it
            part = path.with_name(f".{os.getpid()}-{name}")
            part.write_bytes(content)
            os.replace(part, path)
    return folder


cifar10.examples = lambda: [{"root": str(example_folder(CIFAR10))}]  # type: ignore[attr-defined]
cifar100.examples = lambda: [  # type: ignore[attr-defined]
    {"root": str(example_folder(CIFAR100))},
    {"root": str(example_folder(CIFAR100)), "labels": "coarse"},
]
