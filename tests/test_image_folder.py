"""The image-folder dataset on the images people have: zip archives, StyleGAN's dataset.json,
mirrored copies, non-square images, odd Pillow modes, EXIF rotation, damaged files."""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gancore
from gancore import GancoreError
from gancore_data.image_folder import SkippedImagesWarning

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def build(root: Path | str, **params) -> gancore.Dataset:
    return gancore.build("dataset", "image-folder", {"root": str(root), **params})


def png(colour=RED, size=(8, 8), mode="RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def write(root: Path, files: dict[str, bytes | str]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    return root


def archive(path: Path, files: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def colours(x: torch.Tensor) -> list[tuple[int, ...]]:
    """The colour of each (uniform) image."""
    assert all(bool((img == img[:, :1, :1]).all()) for img in x), "the images are not uniform"
    return [tuple(img[:, 0, 0].tolist()) for img in x]


def one_line_error(match: str, root: Path | str, **params) -> str:
    with pytest.raises(GancoreError, match=match) as caught:
        build(root, **params)
    message = str(caught.value)
    assert "\n" not in message
    return message


LOOSE = {"b.png": png(BLUE), "a.png": png(RED), "c.png": png(GREEN), "notes.txt": "not an image"}
CLASSES = {"dog/1.png": png(BLUE), "cat/2.png": png(RED), "cat/deep/1.png": png(GREEN)}


# ---------------------------------------------------------------- uint8, compact


def test_x_is_compact_uint8_n_c_h_w(tmp_path):
    write(tmp_path, CLASSES)
    for params in ({}, {"channels": 1}, {"mirror": True}):
        x = build(tmp_path, size=8, **params).tensors["x"]
        n, c = 3 * (2 if params.get("mirror") else 1), params.get("channels", 3)
        assert x.dtype == torch.uint8 and x.shape == (n, c, 8, 8) and x.is_contiguous()
        assert x.untyped_storage().nbytes() == n * c * 8 * 8  # one byte a value, no spare rows


# ---------------------------------------------------------------- zip archives


@pytest.mark.parametrize("top", ["", "my-images/"])
def test_zip_of_loose_images_with_or_without_a_top_folder(tmp_path, top):
    zipped = archive(tmp_path / "images.zip", {top + name: data for name, data in LOOSE.items()})
    data = build(zipped, size=8)
    assert "label" not in data.tensors and data.num_classes is None
    assert colours(data.tensors["x"]) == [RED, BLUE, GREEN]  # a, b, c
    assert torch.equal(data.tensors["x"], build(write(tmp_path / "folder", LOOSE), size=8).tensors["x"])


@pytest.mark.parametrize("top", ["", "pets/"])
def test_zip_with_class_subfolders(tmp_path, top):
    files = {top + name: data for name, data in CLASSES.items()}
    # What macOS adds to the archives it writes, and hidden files, are not data.
    files |= {"__MACOSX/pets/._1.png": b"junk", top + ".hidden/x.png": b"junk", top + "cat/.DS_Store.png": b"junk"}
    data = build(archive(tmp_path / "pets.zip", files), size=8)
    assert data.tensors["label"].tolist() == [0, 0, 1] and data.num_classes == 2
    assert colours(data.tensors["x"]) == [RED, GREEN, BLUE]  # cat/2, cat/deep/1, dog/1
    folder = build(write(tmp_path / "folder", CLASSES), size=8)
    assert torch.equal(data.tensors["x"], folder.tensors["x"])
    assert torch.equal(data.tensors["label"], folder.tensors["label"])


def test_zip_images_and_class_folders_mixed_is_refused(tmp_path):
    zipped = archive(tmp_path / "mixed.zip", {"a.png": png(), "cat/b.png": png(), "dog/c.png": png()})
    one_line_error("both images and class subfolders", zipped)


# ---------------------------------------------------------------- dataset.json


def stylegan_files(labels) -> dict[str, bytes | str]:
    """dataset_tool.py's layout: numbered folders of numbered images, dataset.json beside them."""
    files: dict[str, bytes | str] = {
        "00000/img00000000.png": png(RED),
        "00000/img00000001.png": png(GREEN),
        "00001/img00001000.png": png(BLUE),
    }
    files["dataset.json"] = json.dumps({"labels": labels})
    return files


STYLEGAN_LABELS = [["00000/img00000000.png", 6], ["00000/img00000001.png", 2], ["00001/img00001000.png", 0]]


@pytest.mark.parametrize("where", ["folder", "zip", "zip with a top folder"])
def test_dataset_json_gives_the_labels(tmp_path, where):
    files = stylegan_files(STYLEGAN_LABELS)
    if where == "folder":
        root = write(tmp_path / "data", files)
    else:
        top = "ffhq/" if "top" in where else ""
        root = archive(tmp_path / "data.zip", {top + name: data for name, data in files.items()})
    data = build(root, size=8)
    # Not the subfolders 00000 and 00001 as classes: the file's labels, and max + 1 classes.
    assert data.tensors["label"].tolist() == [6, 2, 0] and data.num_classes == 7
    assert colours(data.tensors["x"]) == [RED, GREEN, BLUE]


def test_dataset_json_with_null_labels_is_unlabelled(tmp_path):
    data = build(write(tmp_path, stylegan_files(None)), size=8)
    assert "label" not in data.tensors and data.num_classes is None and len(data) == 3


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (STYLEGAN_LABELS[:2], r"gives no label for 1 of the 3 images: 00001/img00001000.png"),
        (STYLEGAN_LABELS + [["00002/img00002000.png", 1]], r"labels 1 files that are not images in .*: 00002/img00002000.png"),
        ([["00000/img00000000.png", 1.5]] + STYLEGAN_LABELS[1:], r"label of 00000/img00000000.png is 1.5, not a class number"),
        ([["00000/img00000000.png", "3"]] + STYLEGAN_LABELS[1:], r"label of 00000/img00000000.png is \"3\", not a class number"),
        ([["00000/img00000000.png", [0.5, 0.5]]] + STYLEGAN_LABELS[1:], r"is \[0.5, 0.5\], not a class number"),
        ([["00000/img00000000.png", -1]] + STYLEGAN_LABELS[1:], r"is -1, not a class number"),
        ([["00000/img00000000.png", True]] + STYLEGAN_LABELS[1:], r"is true, not a class number"),
        (STYLEGAN_LABELS + [STYLEGAN_LABELS[0]], r"labels 00000/img00000000.png twice"),
        ([["00000/img00000000.png"]], r"the entry \[\"00000/img00000000.png\"\] is not \[file, class\]"),
        ({"00000/img00000000.png": 1}, r"\"labels\" is a dict"),
    ],
)
def test_dataset_json_that_does_not_match_the_files(tmp_path, labels, match):
    one_line_error(r"dataset.json.*" + match, write(tmp_path, stylegan_files(labels)), size=8)


def test_dataset_json_that_is_not_the_layout(tmp_path):
    files = stylegan_files(None)
    one_line_error("not valid JSON", write(tmp_path / "a", files | {"dataset.json": "{labels: oops"}))
    one_line_error('no "labels" key', write(tmp_path / "b", files | {"dataset.json": "[1, 2]"}))
    zipped = archive(tmp_path / "c.zip", files | {"dataset.json": '{"classes": []}'})
    one_line_error(r'c.zip/dataset.json has no "labels" key', zipped)


# ---------------------------------------------------------------- mirror


def test_mirror_appends_the_flipped_images_and_repeats_the_labels(tmp_path):
    for i, (cls, colour) in enumerate([("a", RED), ("a", GREEN), ("b", BLUE)]):
        image = Image.new("RGB", (8, 8), (0, 0, 0))
        image.paste(colour, (0, 0, 2 + i, 8))  # a bar on the left, a different width each
        (tmp_path / cls).mkdir(exist_ok=True)
        image.save(tmp_path / cls / f"{i}.png")
    plain = build(tmp_path, size=8)
    data = build(tmp_path, size=8, mirror=True)
    x, label = data.tensors["x"], data.tensors["label"]
    assert len(data) == 2 * len(plain) == 6 and data.num_classes == 2
    assert torch.equal(x[:3], plain.tensors["x"])
    assert torch.equal(x[3:], plain.tensors["x"].flip(-1))
    assert label.tolist() == [0, 0, 1, 0, 0, 1]
    assert len(build(tmp_path, size=8, mirror=True, limit=2)) == 4  # limit counts files, before mirroring


# ---------------------------------------------------------------- non-square images


def test_crop_modes_on_a_wide_image(tmp_path):
    wide = Image.new("RGB", (60, 20), GREEN)  # thirds: green, red, blue
    wide.paste(RED, (20, 0, 40, 20))
    wide.paste(BLUE, (40, 0, 60, 20))
    wide.save(tmp_path / "wide.png")
    red, green, blue = (torch.tensor(c, dtype=torch.uint8).view(3, 1) for c in (RED, GREEN, BLUE))

    center = build(tmp_path, size=12).tensors["x"][0]  # the default: the middle square
    assert torch.equal(center, build(tmp_path, size=12, crop="center").tensors["x"][0])
    assert colours(center[None]) == [RED]

    stretch = build(tmp_path, size=12, crop="stretch").tensors["x"][0]  # all of it, squeezed
    for column, colour in ((1, green), (2, green), (5, red), (6, red), (9, blue), (10, blue)):
        assert torch.equal(stretch[:, :, column], colour.expand(3, 12)), column

    pad = build(tmp_path, size=12, crop="pad").tensors["x"][0]  # all of it, 12 x 4, on black bars
    assert not pad[:, :4].any() and not pad[:, 8:].any()
    for column, colour in ((1, green), (5, red), (6, red), (10, blue)):
        assert (pad[:, 4:8, column].int() - colour.int()).abs().max() <= 2, column


# ---------------------------------------------------------------- Pillow modes, EXIF


def test_odd_image_modes(tmp_path):
    rgba = Image.new("RGBA", (8, 8), (255, 255, 255, 0))  # fully transparent white ...
    rgba.paste((255, 0, 0, 128), (0, 0, 8, 4))  # ... under half-transparent red
    rgba.save(tmp_path / "1-rgba.png")
    palette = Image.new("P", (8, 8), 2)
    palette.putpalette([0, 0, 0, 1, 1, 1, 10, 200, 30] + [0] * 759)
    palette.save(tmp_path / "2-palette.png")
    keyed = Image.new("P", (8, 8), 1)
    keyed.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    keyed.save(tmp_path / "3-palette-transparent.png", transparency=1)
    levels = np.array([0, 257, 32768, 40000, 65535, 1000, 12345, 65280], dtype=np.uint16)
    Image.fromarray(np.tile(levels, (8, 1))).save(tmp_path / "4-gray16.png")
    assert Image.open(tmp_path / "4-gray16.png").mode == "I;16"
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "5-cmyk.jpg", quality=95)
    assert Image.open(tmp_path / "5-cmyk.jpg").mode == "CMYK"

    x = build(tmp_path, size=8).tensors["x"]
    assert x.dtype == torch.uint8
    # RGBA: composited on black (each colour times its alpha), the transparent white is black.
    assert x[0, :, :4].reshape(3, -1).unique(dim=1).flatten().tolist() == [128, 0, 0]
    assert not x[0, :, 4:].any()
    assert colours(x[1:2]) == [(10, 200, 30)]
    assert colours(x[2:3]) == [(0, 0, 0)]  # the palette's transparent colour is black too
    # 16 bits scaled to 8 (v * 255 / 65535, rounded), not clipped at 255.
    expected = torch.tensor((levels.astype(np.int64) * 255 + 32767) // 65535, dtype=torch.uint8)
    assert expected.tolist() == [0, 1, 128, 156, 255, 4, 48, 254]
    assert torch.equal(x[3], expected.expand(3, 8, 8))
    assert (x[4].int() - torch.tensor(RED).view(3, 1, 1)).abs().max() <= 3  # CMYK JPEG: lossy

    gray = build(tmp_path, size=8, channels=1).tensors["x"]
    assert torch.equal(gray[3, 0], expected.expand(8, 8))
    assert gray[0, 0, :4].unique().tolist() == [38]  # the luma of (128, 0, 0)


@pytest.mark.parametrize("orientation", [None, 6])
def test_exif_orientation_is_applied(tmp_path, orientation):
    stored = Image.new("RGB", (32, 16), RED)  # as stored: red on the left, blue on the right
    stored.paste(BLUE, (16, 0, 32, 16))
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation  # 6: turn 90 degrees clockwise to show it
    stored.save(tmp_path / "photo.jpg", exif=exif, quality=95)
    x = build(tmp_path, size=8, crop="stretch").tensors["x"][0].int()
    red, blue = torch.tensor(RED).view(3, 1, 1), torch.tensor(BLUE).view(3, 1, 1)
    if orientation:  # shown upright the left side is on top
        first, second = x[:, 1:3, :], x[:, 5:7, :]
    else:
        first, second = x[:, :, 1:3], x[:, :, 5:7]
    assert (first - red).abs().max() <= 8 and (second - blue).abs().max() <= 8


# ---------------------------------------------------------------- damaged files, empty roots


def truncated_png() -> bytes:
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    return buffer.getvalue()[:1500]


@pytest.mark.parametrize("where", ["folder", "zip"])
def test_a_damaged_image_is_an_error_or_skipped(tmp_path, where):
    files = {"cat/1.png": png(RED), "cat/2-cut.png": truncated_png(), "dog/3.png": png(BLUE), "dog/4.png": png(GREEN)}
    root = write(tmp_path / "data", files) if where == "folder" else archive(tmp_path / "data.zip", files)
    one_line_error(r"cannot read image .*data(\.zip)?/cat/2-cut.png: .*skip_bad", root, size=8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = build(root, size=8, skip_bad=True, mirror=True)
    [warning] = caught
    assert issubclass(warning.category, SkippedImagesWarning) and issubclass(warning.category, gancore.RecipeWarning)
    assert "skipped 1 unreadable image(s) of 4" in str(warning.message) and "2-cut.png" in str(warning.message)
    x = data.tensors["x"]
    assert colours(x) == [RED, BLUE, GREEN] * 2 and data.tensors["label"].tolist() == [0, 1, 1] * 2
    assert x.is_contiguous() and x.untyped_storage().nbytes() == 6 * 3 * 8 * 8


def test_nothing_readable(tmp_path):
    write(tmp_path / "bad", {"a.png": b"\x89PNG not really", "b.jpg": b"neither"})
    one_line_error("cannot read image .*a.png: not an image file", tmp_path / "bad")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        one_line_error("none of the 2 images in .* can be read", tmp_path / "bad", skip_bad=True)
    assert not caught  # the error says it all


def test_empty_roots(tmp_path):
    one_line_error("no image files in", write(tmp_path / "empty", {"cat/notes.txt": "x"}))
    one_line_error("no image files in .*empty.zip", archive(tmp_path / "empty.zip", {}))
    one_line_error("no image files in .*texts.zip", archive(tmp_path / "texts.zip", {"top/a.txt": "x"}))
    (tmp_path / "broken.zip").write_bytes(b"PK not a zip")
    one_line_error("broken.zip is not a readable zip archive", tmp_path / "broken.zip")
    (tmp_path / "photo.tar").write_bytes(b"")
    one_line_error("photo.tar is neither a folder nor a .zip archive", tmp_path / "photo.tar")
    one_line_error("does not exist", tmp_path / "nope.zip")


@pytest.mark.parametrize(
    "params",
    [{"crop": "fill"}, {"size": 1025}, {"size": 3}, {"channels": 4}, {"mirror": "sometimes"}, {"skip_bad": "maybe"}, {"limit": 0}],
)
def test_parameters_are_checked_before_anything_is_read(tmp_path, params):
    with pytest.raises(GancoreError) as caught:
        build(tmp_path / "does-not-exist", **params)
    assert "does not exist" not in str(caught.value) and next(iter(params)) in str(caught.value)


def test_size_1024_and_every_crop_mode_are_accepted(tmp_path):
    write(tmp_path, {"a.png": png(RED, size=(40, 30))})
    for crop in ("center", "pad", "stretch"):
        assert build(tmp_path, size=1024, crop=crop, channels=1).tensors["x"].shape == (1, 1, 1024, 1024)


def test_a_stylegan_zip_with_labels_trains_a_conditional_recipe(tmp_path):
    """Labels from dataset.json reach the conditional networks: the projection critic
    learns to score each colour higher under its own label than under the other's."""
    colours_by_label = {0: RED, 1: BLUE}
    files: dict[str, bytes | str] = {}
    labels = []
    for i in range(32):
        name = f"{i // 16:05d}/img{i:08d}.png"
        files[name] = png(colours_by_label[i % 2], size=(16, 16))
        labels.append([name, i % 2])
    files["dataset.json"] = json.dumps({"labels": labels})
    root = archive(tmp_path / "dataset.zip", files)
    recipe = {"data": {"name": "image-folder", "root": str(root), "size": 16},
              "generator": {"name": "dcgan", "latent_dim": 8, "width": 8, "conditional": True},
              "critic": {"name": "dcgan", "width": 8, "conditional": "projection"}, "loss": "hinge",
              "train": {"steps": 40, "batch_size": 8, "log_every": 20, "sample_every": 0, "checkpoint_every": 0,
                        "device": "cpu"}, "optim": {"lr": 1e-3}}
    run = gancore.create_run(recipe)
    assert run.dataset.num_classes == 2 and run.dataset.tensors["label"].tolist() == [i % 2 for i in range(32)]
    run.train()
    x = gancore.as_float(run.dataset.tensors["x"])
    with run.averaged() as scheme:
        right = scheme.critic(x, run.dataset.tensors["label"]).mean()
        wrong = scheme.critic(x, 1 - run.dataset.tensors["label"]).mean()
    assert float(right) > float(wrong)
