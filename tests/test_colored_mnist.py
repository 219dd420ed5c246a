"""colored-mnist, the built-in RGB dataset: offline, uint8, each image an MNIST digit in
one palette colour on another, with the digit's label; and its recipe trains."""

from __future__ import annotations

import torch

import gancore
from gancore_data.colored import PALETTE, colour_digits


def test_each_image_is_its_digit_in_one_colour_on_another():
    digits = gancore.as_float(gancore.build("dataset", "mnist", {"limit": 200}).tensors["x"])
    images, pick, colours = colour_digits(digits, 300, seed=3)
    assert images.dtype == torch.uint8 and images.shape == (300, 3, 32, 32) and images.is_contiguous()
    assert (colours[:, 0] != colours[:, 1]).all()  # background and foreground always differ
    for i in (0, 7, 299):
        background, foreground = PALETTE[colours[i]].to(torch.uint8)
        pixels = images[i].flatten(1).T  # 1024 x 3
        is_bg = (pixels == background).all(1)
        is_fg = (pixels == foreground).all(1)
        ink = (digits[pick[i]] > -1).sum()  # the digit's pixels that are not blank
        assert int(is_bg.sum()) == 32 * 32 - int(ink)  # everywhere off the digit: the background
        assert int(is_fg.sum()) > 0  # the digit's solid strokes: the foreground


def test_the_dataset_is_seeded_labelled_and_offline():
    a = gancore.build("dataset", "colored-mnist", {"num_samples": 500, "seed": 1})
    b = gancore.build("dataset", "colored-mnist", {"num_samples": 500, "seed": 1})
    c = gancore.build("dataset", "colored-mnist", {"num_samples": 500, "seed": 2})
    assert torch.equal(a.tensors["x"], b.tensors["x"]) and not torch.equal(a.tensors["x"], c.tensors["x"])
    assert a.num_classes == 10 and set(a.tensors["label"].tolist()) == set(range(10))
    assert a.spec.shape == (3, 32, 32) and a.spec.is_image


def test_its_recipe_trains_on_rgb_batches(tmp_path):
    run = gancore.create_run("dcgan-colored-mnist", overrides={"train.steps": 2, "train.batch_size": 16,
                                                              "data.num_samples": 64}, out=tmp_path / "run", device="cpu")
    batch = run.batches.peek(4)
    assert batch["x"].dtype == torch.float32 and batch["x"].shape == (4, 3, 32, 32)
    run.train()
    assert run.sample(4).shape == (4, 3, 32, 32)
