"""Images from a folder or a .zip archive, as uint8: class subfolders or a StyleGAN
``dataset.json`` give the labels, loose files make unlabelled data."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import warnings
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from collections.abc import Callable
from typing import IO, Annotated, Any, Literal

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from pydantic import ByteSize, Field

import gancore
from gancore import GancoreError

Crop = Literal["center", "pad", "stretch"]

LABELS_FILE = "dataset.json"

# What a damaged file makes Pillow (or zipfile, reading a member) raise.
_UNREADABLE = (
    OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error,
    zipfile.BadZipFile, Image.DecompressionBombError,
)


class SkippedImagesWarning(gancore.RecipeWarning):
    """``skip_bad`` left out images that could not be read (the CLI prints one line)."""


def image_suffixes() -> set[str]:
    """File suffixes Pillow can open (".png", ".jpg", ".webp", ...)."""
    Image.init()
    return {suffix.lower() for suffix in Image.registered_extensions()}


def _order(name: str) -> list[str]:
    """Sort key of a relative name: folder by folder, so "a/b.png" comes before "a-c.png"."""
    return name.split("/")


def _hidden(parts: list[str] | tuple[str, ...]) -> bool:
    # Hidden files and folders (".DS_Store", ".ipynb_checkpoints", macOS's "__MACOSX" in
    # archives it writes) are never data.
    return any(part.startswith(".") for part in parts) or parts[0] == "__MACOSX"


class ImageFiles:
    """The image files of a folder or a .zip archive, each named by its path under the root
    with "/" separators ("cat/0001.png"), and the root's ``dataset.json`` if it has one.

    An archive whose files all sit in one top folder has that folder as its root, so that
    zipping a folder and zipping its contents give the same data.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.archive: zipfile.ZipFile | None = None
        self._members: dict[str, str] = {}
        suffixes = image_suffixes()
        if root.is_dir():
            self.names = self._folder(root, suffixes)
            labels_file = root / LABELS_FILE
            self.has_labels_file = labels_file.is_file()
        elif root.is_file() and root.suffix.lower() == ".zip":
            self.names = self._zip(root, suffixes)
            self.has_labels_file = LABELS_FILE in self._members
        elif root.exists():
            raise GancoreError(f"image-folder: {root} is neither a folder nor a .zip archive")
        else:
            raise GancoreError(f"image-folder: {root} does not exist (give a folder of images or a .zip archive)")

    @staticmethod
    def _folder(root: Path, suffixes: set[str]) -> list[str]:
        names = []
        for entry in root.iterdir():
            if entry.name.startswith("."):
                continue
            if entry.is_dir():  # a class folder may be a link; links deeper down are not followed
                for path in entry.rglob("*"):
                    parts = path.relative_to(root).parts
                    if path.suffix.lower() in suffixes and not _hidden(parts) and path.is_file():
                        names.append("/".join(parts))
            elif entry.suffix.lower() in suffixes and entry.is_file():
                names.append(entry.name)
        return sorted(names, key=_order)

    def _zip(self, root: Path, suffixes: set[str]) -> list[str]:
        try:
            self.archive = zipfile.ZipFile(root)
        except (zipfile.BadZipFile, OSError) as exc:
            raise GancoreError(f"image-folder: {root} is not a readable zip archive ({exc})") from None
        members: dict[tuple[str, ...], str] = {}
        for info in self.archive.infolist():
            parts = tuple(p for p in info.filename.replace("\\", "/").split("/") if p)
            if info.is_dir() or not parts or _hidden(parts):
                continue
            if Path(parts[-1]).suffix.lower() in suffixes or parts[-1] == LABELS_FILE:
                members[parts] = info.filename
        tops = {parts[0] for parts in members}
        if len(tops) == 1 and all(len(parts) > 1 for parts in members):
            members = {parts[1:]: member for parts, member in members.items()}
        self._members = {"/".join(parts): member for parts, member in members.items()}
        return sorted((n for n in self._members if n != LABELS_FILE), key=_order)

    def show(self, name: str) -> str:
        """Where a file is, for messages: its path, or the archive's path and the member's."""
        if self.archive is not None:
            return f"{self.root}/{self._members[name]}"
        return str(self.root / name)

    def open(self, name: str) -> Path | IO[bytes]:
        """A file to hand to ``Image.open``. Threads may call it at once."""
        if self.archive is None:
            return self.root / name
        return io.BytesIO(self.archive.read(self._members[name]))  # zipfile locks its reads

    def read_labels_file(self) -> bytes:
        if self.archive is not None:
            return self.archive.read(self._members[LABELS_FILE])
        return (self.root / LABELS_FILE).read_bytes()

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()


def _few(names: list[str]) -> str:
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def labels_from_file(files: ImageFiles) -> tuple[list[str], list[int] | None, int | None, list[str] | None]:
    """Every image under the root with its label from ``dataset.json``, StyleGAN's layout:
    ``{"labels": [["00000/img00000000.png", 6], ...]}`` (``"labels": null``: unlabelled).
    Each image needs one label and each label one image."""
    where = files.show(LABELS_FILE)
    layout = 'hold {"labels": [[file, class], ...]} or {"labels": null}'
    try:
        document = json.loads(files.read_labels_file())
    except (ValueError, UnicodeDecodeError) as exc:
        raise GancoreError(f"image-folder: {where} is not valid JSON ({exc}); it must {layout}") from None
    except (OSError, zipfile.BadZipFile) as exc:
        raise GancoreError(f"image-folder: cannot read {where}: {exc}") from None
    if not isinstance(document, dict) or "labels" not in document:
        raise GancoreError(f"image-folder: {where} has no \"labels\" key; it must {layout}")
    entries = document["labels"]
    if entries is None:
        return files.names, None, None, None
    if not isinstance(entries, list):
        raise GancoreError(f"image-folder: {where}: \"labels\" is a {type(entries).__name__}; it must {layout}")
    labels: dict[str, int] = {}
    for entry in entries:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
            raise GancoreError(f"image-folder: {where}: the entry {json.dumps(entry)[:80]} is not [file, class]")
        name, label = entry[0].replace("\\", "/"), entry[1]
        if isinstance(label, bool) or not isinstance(label, int) or label < 0:
            raise GancoreError(f"image-folder: {where}: the label of {name} is {json.dumps(label)[:80]}, "
                               "not a class number (an integer >= 0)")
        if name in labels:
            raise GancoreError(f"image-folder: {where} labels {name} twice")
        labels[name] = label
    unlabelled = [n for n in files.names if n not in labels]
    if unlabelled:
        raise GancoreError(f"image-folder: {where} gives no label for {len(unlabelled)} of the "
                           f"{len(files.names)} images: {_few(unlabelled)}")
    present = set(files.names)
    missing = [n for n in labels if n not in present]
    if missing:
        raise GancoreError(f"image-folder: {where} labels {len(missing)} files that are not images "
                           f"in {files.root}: {_few(missing)}")
    return files.names, [labels[n] for n in files.names], max(labels.values()) + 1, None


def labels_from_folders(files: ImageFiles) -> tuple[list[str], list[int] | None, int | None, list[str] | None]:
    """Images directly under the root are unlabelled data; subfolders holding images are
    classes, numbered in the order of their names. Mixing both is refused, as ambiguous."""
    classes = sorted({n.split("/")[0] for n in files.names if "/" in n})
    loose = [n for n in files.names if "/" not in n]
    if loose and classes:
        raise GancoreError(
            f"image-folder: {files.root} holds both images and class subfolders of images; "
            "put every image in a class subfolder, or none"
        )
    if not classes:
        return files.names, None, None, None
    number = {name: k for k, name in enumerate(classes)}
    return files.names, [number[n.split("/")[0]] for n in files.names], len(classes), classes


def _to_mode(img: Image.Image, mode: str) -> Image.Image:
    """An image of any Pillow mode as ``mode`` ("L" or "RGB") with 8 bits a channel.

    16-bit grayscale ("I;16", and 32-bit "I", as Pillow opens some 16-bit files) is scaled
    from 0..65535 to 0..255, where Pillow's own conversion would clip it. Transparent
    pixels are composited on black. CMYK, palettes and the rest convert as Pillow does.
    """
    if img.mode == "I" or img.mode.startswith("I;16"):
        wide = np.clip(np.asarray(img).astype(np.int64), 0, 65535)
        img = Image.fromarray(((wide * 255 + 32767) // 65535).astype(np.uint8))
    elif img.has_transparency_data:
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
    return img if img.mode == mode else img.convert(mode)


def _fit(img: Image.Image, size: int, crop: Crop) -> Image.Image:
    """``img`` as a size x size square: its centre square, the whole image on black bars,
    or the whole image stretched."""
    bicubic = Image.Resampling.BICUBIC
    if crop == "center":
        side = min(img.size)
        left, top = (img.width - side) // 2, (img.height - side) // 2
        # Crop first: resizing with a box would blend in pixels from outside the box.
        img = img.crop((left, top, left + side, top + side))
    elif crop == "pad":
        scale = size / max(img.size)
        width, height = max(1, round(img.width * scale)), max(1, round(img.height * scale))
        square = Image.new(img.mode, (size, size), 0)
        square.paste(img.resize((width, height), bicubic), ((size - width) // 2, (size - height) // 2))
        return square
    return img.resize((size, size), bicubic)


def decode_image(file: Path | IO[bytes], size: int, mode: str, crop: Crop = "center") -> np.ndarray:
    """One image, upright (EXIF orientation applied), as uint8 size x size (x 3 for RGB).

    Raises what Pillow raises for a damaged file (``OSError`` and others).
    """
    with Image.open(file) as opened:
        # Let JPEG decode at a reduced scale when the file is much larger than needed.
        opened.draft(mode, (size, size))
        ImageOps.exif_transpose(opened, in_place=True)
        return np.asarray(_fit(_to_mode(opened, mode), size, crop), dtype=np.uint8)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, UnidentifiedImageError):
        return "not an image file Pillow recognises"
    return " ".join(str(exc).split()) or type(exc).__name__


def _decode_into(out: np.ndarray, files: ImageFiles, names: list[str], size: int, mode: str, crop: Crop,
                 skip_bad: bool, advance: Callable[[int], None]) -> list[tuple[int, str]]:
    """Each image into its row of ``out`` (N x C x H x W uint8). Returns the unreadable
    files' rows with the reason; stops at the first one unless ``skip_bad``."""

    def load(i: int) -> str | None:
        try:
            pixels = decode_image(files.open(names[i]), size, mode, crop)
        except _UNREADABLE as exc:
            return _reason(exc)
        out[i] = pixels.reshape(size, size, -1).transpose(2, 0, 1)
        return None

    bad: list[tuple[int, str]] = []
    # Pillow releases the GIL while decoding and resizing, so threads load in parallel.
    pool = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1))
    try:
        for i, problem in enumerate(pool.map(load, range(len(names)))):
            advance(1)
            if problem is None:
                continue
            if not skip_bad:
                raise GancoreError(f"image-folder: cannot read image {files.show(names[i])}: {problem} "
                                   "(skip_bad=true leaves unreadable images out)")
            bad.append((i, problem))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return bad


def _listing_digest(files: ImageFiles) -> str:
    """What the images are made from, for the cache key: every file's name, size and
    modification time (an archive's own size and time stand for its members)."""
    h = hashlib.sha256()
    if files.archive is not None:
        stat = files.root.stat()
        h.update(f"{files.root.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    else:
        for name in files.names + ([LABELS_FILE] if files.has_labels_file else []):
            stat = (files.root / name).stat()
            h.update(f"{name}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _mirror_into(out: np.ndarray, kept: int, chunk: int = 256) -> None:
    """Rows kept..2*kept of ``out`` become the left-right mirrors of rows 0..kept, a chunk
    at a time (one assignment of the whole set could make a temporary copy of it)."""
    for start in range(0, kept, chunk):
        stop = min(kept, start + chunk)
        out[kept + start : kept + stop] = out[start:stop, :, :, ::-1]


def image_folder(
    root: Annotated[str, Field(description="a folder of images (loose, or one subfolder per class) or a .zip archive of one")],
    size: Annotated[int, Field(ge=4, le=1024, description="side of the square images")] = 64,
    channels: Annotated[Literal[1, 3], Field(description="1 for grayscale, 3 for RGB")] = 3,
    limit: Annotated[int | None, Field(ge=1, description="keep the first N files in sorted order")] = None,
    crop: Annotated[Crop, Field(description="non-square images: center (crop the middle square), pad (the whole "
                                            "image on black bars), stretch (resize the whole image as it is)")] = "center",
    mirror: Annotated[bool, Field(description="append a left-right mirrored copy of every image (labels repeated)")] = False,
    skip_bad: Annotated[bool, Field(description="leave out unreadable images with one warning, instead of stopping")] = False,
    memory_limit: Annotated[ByteSize | None, Field(
        description='the most memory the images may take ("4GB", "512MiB" or bytes; default half the machine\'s); '
                    "a larger set is read from a memory-mapped cache in $GANCORE_CACHE/images")] = None,
) -> gancore.Dataset:
    """Images from a folder or .zip (classes: subfolders or dataset.json) as uint8 squares."""
    root_path = Path(root).expanduser()
    files = ImageFiles(root_path)
    try:
        if not files.names:
            raise GancoreError(f"image-folder: no image files in {root_path} (nor in its subfolders)")
        names, labels, num_classes, class_names = (labels_from_file(files) if files.has_labels_file
                                                   else labels_from_folders(files))
        names = names[:limit]
        if labels is not None:
            labels = labels[:limit]
        n, copies = len(names), 2 if mirror else 1
        mode = "L" if channels == 1 else "RGB"

        def fill(out: np.ndarray, advance: Callable[[int], None]) -> tuple[int, dict[str, Any]]:
            bad = _decode_into(out, files, names, size, mode, crop, skip_bad, advance)
            kept = n - len(bad)
            if bad:
                if kept == 0:
                    first, reason = bad[0]
                    raise GancoreError(f"image-folder: none of the {n} images in {root_path} can be read "
                                       f"({files.show(names[first])}: {reason})")
                skipped = {i for i, _ in bad}
                for j, i in enumerate(i for i in range(n) if i not in skipped):  # close the gaps in place
                    if i != j:
                        out[j] = out[i]
            if mirror:
                _mirror_into(out, kept)
            return kept * copies, {"skipped": [[i, files.show(names[i]), reason] for i, reason in bad]}

        # The images: in memory, or mapped from a cache keyed by the files and every
        # parameter that changes a pixel or a row.
        key = {"source": "image-folder", "root": str(root_path.resolve()), "files": _listing_digest(files),
               "names": n, "size": size, "channels": channels, "crop": crop, "mirror": mirror, "skip_bad": skip_bad}
        x, notes = gancore.stored_images((n * copies, channels, size, size), fill, key=key,
                                         memory_limit=memory_limit, what="image-folder")
    finally:
        files.close()
    bad = notes.get("skipped") or []
    if bad:
        _, where, reason = bad[0]
        warnings.warn(f"image-folder: skipped {len(bad)} unreadable image(s) of {n} in {root_path} "
                      f"(the first: {where}: {reason})", SkippedImagesWarning, stacklevel=2)
        if labels is not None:
            skipped = {i for i, *_ in bad}
            labels = [label for i, label in enumerate(labels) if i not in skipped]
    tensors = {"x": x}
    if labels is not None:
        tensors["label"] = torch.tensor(labels * copies, dtype=torch.int64)
    if labels is None:
        return gancore.Dataset(tensors)
    return gancore.Dataset(tensors, num_classes=num_classes, class_names=class_names)


def _example_folder() -> list[dict[str, object]]:
    """A few generated images in two class folders: what the contract kit builds this
    part from, as it has no folder of its own."""
    import tempfile

    root = Path(tempfile.gettempdir()) / "gancore-image-folder-example"
    for label, colour in (("dark", 40), ("light", 200)):
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(3):
            path = folder / f"{i}.png"
            if not path.exists():  # written aside and renamed: parallel test processes share it
                part = path.with_name(f".{os.getpid()}-{path.name}")
                Image.new("RGB", (20 + 4 * i, 16), (colour, colour - 20 * i, 255 - colour)).save(part, format="PNG")
                os.replace(part, path)
    return [{"root": str(root), "size": 8}]


image_folder.examples = _example_folder  # type: ignore[attr-defined]
