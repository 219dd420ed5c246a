"""Images from a folder: class subfolders become labels, loose files make unlabelled data."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from pydantic import Field

import gancore
from gancore import GancoreError


def image_suffixes() -> set[str]:
    """File suffixes Pillow can open (".png", ".jpg", ".webp", ...)."""
    Image.init()
    return {suffix.lower() for suffix in Image.registered_extensions()}


def _images_in(folder: Path, suffixes: set[str], *, recursive: bool) -> list[Path]:
    found = folder.rglob("*") if recursive else folder.iterdir()
    # Hidden files and folders (".DS_Store", ".ipynb_checkpoints", ...) are never data.
    visible = (p for p in found if not any(part.startswith(".") for part in p.relative_to(folder).parts))
    return sorted(p for p in visible if p.suffix.lower() in suffixes and p.is_file())


def list_images(root: Path) -> tuple[list[Path], list[int] | None, list[str]]:
    """The image files under ``root``, their labels (None when unlabelled) and class names.

    Subfolders holding images are classes, labelled by their sorted names; images directly
    in ``root`` make an unlabelled dataset. Mixing both is refused, as it is ambiguous.
    """
    if not root.is_dir():
        raise GancoreError(f"image-folder: directory {root} does not exist")
    suffixes = image_suffixes()
    loose = _images_in(root, suffixes, recursive=False)
    classes: list[tuple[str, list[Path]]] = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = _images_in(sub, suffixes, recursive=True)
        if files:
            classes.append((sub.name, files))
    if loose and classes:
        raise GancoreError(
            f"image-folder: {root} holds both images and class subfolders of images; "
            "put every image in a class subfolder, or none"
        )
    if loose:
        return loose, None, []
    if not classes:
        raise GancoreError(f"image-folder: no image files in {root} (nor in its subfolders)")
    paths = [p for _, files in classes for p in files]
    labels = [k for k, (_, files) in enumerate(classes) for _ in files]
    return paths, labels, [name for name, _ in classes]


def load_image(path: Path, size: int, mode: str) -> np.ndarray:
    """One image, center-cropped to a square and resized: uint8 size x size (x 3 for RGB)."""
    try:
        with Image.open(path) as opened:
            # Let JPEG decode at a reduced scale when the file is much larger than needed.
            opened.draft(mode, (size, size))
            img = opened.convert(mode)
            side = min(img.size)
            left, top = (img.width - side) // 2, (img.height - side) // 2
            # Crop first: resizing with a box would blend in pixels from outside the box.
            img = img.crop((left, top, left + side, top + side))
            img = img.resize((size, size), Image.Resampling.BICUBIC)
            return np.asarray(img, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise GancoreError(f"image-folder: cannot read image {path}: {exc}") from None


def image_folder(
    root: Annotated[str, Field(description="folder of images, or of one subfolder of images per class")],
    size: Annotated[int, Field(ge=4, le=1024, description="side of the square images")] = 64,
    channels: Annotated[Literal[1, 3], Field(description="1 for grayscale, 3 for RGB")] = 3,
    limit: Annotated[int | None, Field(ge=1, description="keep the first N files in sorted order")] = None,
) -> gancore.Dataset:
    """Images from a folder (subfolders = classes), center-cropped, resized, in [-1, 1]."""
    paths, labels, names = list_images(Path(root).expanduser())
    paths = paths[:limit]
    mode = "L" if channels == 1 else "RGB"
    # Pillow releases the GIL while decoding and resizing, so threads load in parallel.
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        pixels = np.stack(list(pool.map(lambda p: load_image(p, size, mode), paths)))
    x = torch.from_numpy(pixels.reshape(len(paths), size, size, channels)).permute(0, 3, 1, 2)
    x = x.float().div_(127.5).sub_(1.0).contiguous()
    tensors = {"x": x}
    if labels is not None:
        tensors["label"] = torch.tensor(labels[: len(paths)], dtype=torch.int64)
    return gancore.Dataset(tensors, num_classes=len(names) if labels is not None else None)


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
