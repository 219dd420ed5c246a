"""gancore project: the codes of given images, with the reconstruction metric's search."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import gancore
from gancore._latents import read_latents
from gancore.cli import app
from tests.conftest import TINY_RING

TINY_MNIST = {"train.steps": 3, "train.batch_size": 16, "data.limit": 64, "generator.width": 8, "critic.width": 8,
              "train.device": "cpu", "train.sample_every": 0, "train.checkpoint_every": 0, "train.threads": 1}
SEARCH = {"steps": 40, "restarts": 2, "lr": 0.05, "seed": 0}


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory):
    return gancore.create_run("dcgan-mnist", overrides=TINY_MNIST, out=tmp_path_factory.mktemp("runs") / "mn").train()


def invoke(*args):
    return CliRunner().invoke(app, ["project", *map(str, args), "--threads", "1"])


def held_out(tmp_path, n):
    """The reconstruction metric's held-out MNIST images (its default: the test split, a
    seeded choice), and the same images as PNG files."""
    metric = gancore.build("metric", "reconstruction", {"num_images": n, **SEARCH})
    paths = []
    for i, image in enumerate(metric.images):
        pixels = ((image[0] + 1) * 127.5).round().byte().numpy()  # as_float's exact inverse
        paths.append(tmp_path / f"digit{i}.png")
        Image.fromarray(pixels, mode="L").save(paths[-1])
    return metric, paths


def test_projection_of_held_out_images_reaches_the_reconstruction_metric_s_distance(mnist_run, tmp_path):
    metric, paths = held_out(tmp_path, 8)
    with mnist_run.averaged() as scheme:
        generator = gancore.LatentGenerator(scheme.generator, scheme.generator.latent_dim, mnist_run.device)
        scored = metric.compute({"x": metric.images}, {}, generator=generator)
    done = invoke(mnist_run.out, *paths, "--out", tmp_path / "proj", *[f"--{k}={v}" for k, v in SEARCH.items()])
    assert done.exit_code == 0, done.output
    summary = json.loads((tmp_path / "proj" / "distances.json").read_text())
    print("projection", summary["mean_distance"], "metric", scored["reconstruction_distance"])
    # The same images, starting codes, steps and rate: the same search, so the same
    # distance up to the order of floating-point sums (none here: one process, one device).
    assert summary["mean_distance"] <= scored["reconstruction_distance"] * (1 + 1e-5)
    assert summary["mean_distance"] == pytest.approx(scored["reconstruction_distance"], rel=1e-5)
    assert summary["mean_mse"] == pytest.approx(scored["reconstruction_mse"], rel=1e-5)
    assert f"mean distance {summary['mean_distance']:.3f} over 8 images" in done.output
    # each code regenerates its reconstruction, and a sample of the saved codes is the same
    codes, labels = read_latents(tmp_path / "proj" / "latents.npz")
    assert codes.shape == (8, scheme.generator.latent_dim) and labels is None
    for i, row in enumerate(summary["images"]):
        one, _ = read_latents(tmp_path / "proj" / row["latent"])
        assert torch.equal(one, codes[i : i + 1])
        target = np.asarray(Image.open(paths[i]), dtype=np.float64) / 127.5 - 1
        recon = np.asarray(Image.open(tmp_path / "proj" / row["reconstruction"]), dtype=np.float64) / 127.5 - 1
        # the PNG's rounding to 256 levels moves each pixel by at most half a level (1/255)
        assert ((recon - target) ** 2).sum() == pytest.approx(row["distance"], abs=row["distance"] * 0.02 + 0.5)
    samples = mnist_run.sample(8, latents=codes)
    pixels = ((samples[:, 0].clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
    first = np.asarray(Image.open(tmp_path / "proj" / summary["images"][0]["reconstruction"]))
    assert np.array_equal(first, pixels[0])
    with Image.open(tmp_path / "proj" / "comparison.png") as sheet:  # each image beside its reconstruction
        assert sheet.size == (3 * (56 + 2) + 2, 3 * (28 + 2) + 2)


def test_images_are_converted_to_the_run_s_channels_and_size(mnist_run, tmp_path):
    # a colour image of twice the size becomes grey 28 x 28; the search runs on it
    Image.new("RGB", (56, 56), (200, 30, 30)).save(tmp_path / "red.png")
    done = invoke(mnist_run.out, tmp_path / "red.png", "--steps", 2, "--restarts", 1, "--out", tmp_path / "p")
    assert done.exit_code == 0, done.output
    assert Image.open(tmp_path / "p" / "red.reconstruction.png").size == (28, 28)


def test_what_cannot_be_projected_is_one_error_line(mnist_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Image.new("L", (40, 20)).save("wide.png")
    (tmp_path / "junk.png").write_text("not an image")
    (tmp_path / "a").mkdir()
    Image.new("L", (28, 28)).save(tmp_path / "a" / "same.png")
    Image.new("L", (28, 28)).save("same.png")
    cases = [
        ((mnist_run.out, "wide.png"), "wide.png: the image is 40x20, the run's images are 28x28; crop it"),
        ((mnist_run.out, "junk.png"), "junk.png: not an image Pillow can read"),
        ((mnist_run.out, "none.png"), "none.png: no such file"),
        ((mnist_run.out, "same.png", "a/same.png"), "two images are named 'same'"),
    ]
    ring = gancore.create_run(copy.deepcopy(TINY_RING), out=tmp_path / "ring").train()
    cases.append(((ring.out, "same.png"), "this run's samples are (2,), not grey or colour images"))
    conditional = gancore.create_run("cdcgan-mnist", overrides=TINY_MNIST | {"train.steps": 1}, out=tmp_path / "c").train()
    cases.append(((conditional.out, "same.png"), "needs an unconditional generator of latent codes"))
    for args, message in cases:
        done = invoke(*args)
        assert done.exit_code == 2, (args, done.output)
        assert message in done.output and "Traceback" not in done.output, done.output
