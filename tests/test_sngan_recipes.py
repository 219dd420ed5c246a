"""The sngan recipes: MNIST at 32 x 32, and a user's own folder of images (issue 13)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import gancore

SMALL = {"train.device": "cpu", "train.batch_size": 8, "train.log_every": 1, "train.sample_every": 0,
         "train.checkpoint_every": 0, "generator.width": 8, "critic.width": 8}


@pytest.fixture
def red_folder(tmp_path):
    """A user's folder: 12 reddish images of different sizes, as PNG and JPEG."""
    rng = np.random.default_rng(0)
    for i in range(12):
        pixels = np.zeros((24 + i, 30, 3), dtype=np.uint8)
        pixels[..., 0] = 200 + rng.integers(0, 40, size=pixels.shape[:2])
        pixels[..., 1:] = rng.integers(0, 30, size=(*pixels.shape[:2], 2))
        Image.fromarray(pixels).save(tmp_path / f"{i}.{'png' if i % 2 else 'jpg'}")
    return tmp_path


def test_sngan_images_needs_the_folder_and_says_so():
    with pytest.raises(gancore.GancoreError, match=r"data\.root"):
        gancore.create_run("sngan-images", overrides={"train.device": "cpu"})


def test_sngan_images_learns_the_colour_of_a_folder(red_folder):
    run = gancore.create_run("sngan-images", overrides=SMALL | {"data.root": str(red_folder), "train.steps": 60,
                                                               "optim.lr": 1e-3})
    target = gancore.as_float(run.dataset.tensors["x"]).mean(dim=(0, 2, 3))  # red high, green and blue low

    def colour_error() -> float:
        return float((run.sample(64, seed=1).mean(dim=(0, 2, 3)) - target).abs().sum())

    before = colour_error()
    run.train()
    assert colour_error() < 0.5 * before


def test_sngan_mnist_trains_at_32x32():
    run = gancore.create_run("sngan-mnist", overrides=SMALL | {"train.steps": 2, "data.limit": 64})
    assert run.spec.shape == (1, 32, 32)
    run.train()
    assert run.sample(4).shape == (4, 1, 32, 32)
