"""Data held compactly and data given from Python: uint8 image fields become float batches
on the device, and create_run(..., data=...) trains on a gancore.Dataset or a map-style
torch Dataset, and resumes with it."""

from __future__ import annotations

import pytest
import torch

import gancore

RECIPE = {"generator": {"name": "dcgan", "latent_dim": 8, "width": 8}, "critic": {"name": "dcgan", "width": 8},
          "loss": "hinge", "train": {"steps": 4, "batch_size": 8, "log_every": 2, "sample_every": 0,
                                     "checkpoint_every": 2, "device": "cpu"}}


class Digits(torch.utils.data.Dataset):
    """A user's own map-style dataset: uint8 1 x 28 x 28 images (a bright square placed by
    the label) and integer labels."""

    def __init__(self, n: int = 48) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        label = i % 4
        image = torch.zeros(1, 28, 28, dtype=torch.uint8)
        image[0, 4 + 5 * label: 10 + 5 * label, 8:20] = 255
        return image, label


def test_uint8_images_are_stored_as_uint8_and_batched_as_floats():
    x = torch.randint(0, 256, (32, 3, 8, 8), dtype=torch.uint8)
    data = gancore.Dataset({"x": x, "label": torch.arange(32) % 2}, num_classes=2)
    run = gancore.create_run(RECIPE | {"generator": {"name": "dcgan", "latent_dim": 8, "width": 8}}, data=data)
    assert run.batches.tensors["x"].dtype == torch.uint8  # a quarter of float32's memory, on the device
    batch = run.batches.next()
    assert batch["x"].dtype == torch.float32 and batch["label"].dtype == torch.int64
    order = torch.randperm(32, generator=torch.Generator().manual_seed(run.recipe.train.seed * 1_000_003))[:8]
    torch.testing.assert_close(batch["x"], x[order].float() / 127.5 - 1)
    assert float(batch["x"].min()) >= -1 and float(batch["x"].max()) <= 1


def test_a_torch_dataset_trains_and_resumes(tmp_path):
    mine = Digits()
    run = gancore.create_run(RECIPE, data=mine, out=tmp_path / "run")
    assert len(run.dataset) == 48 and run.spec.shape == (1, 28, 28) and run.dataset.num_classes == 4
    assert run.dataset.tensors["x"].dtype == torch.uint8
    torch.testing.assert_close(run.dataset.tensors["x"][5], mine[5][0])
    run.train()
    assert (tmp_path / "run" / "recipe.toml").read_text().count('name = "<object>"') == 1
    without = gancore.load_run(tmp_path / "run", overrides={"train.steps": 6})  # samples from its checkpoint
    assert without.sample(3).shape == (3, 1, 28, 28)
    with pytest.raises(gancore.GancoreError, match=r"this run's data was a Python object .*Digits.*data=\.\.\."):
        without.train()
    again = gancore.load_run(tmp_path / "run", data=mine, overrides={"train.steps": 6})
    again.train()
    assert again.step == 6 and len(again.dataset) == 48


def test_data_given_twice_or_of_the_wrong_form_is_one_line():
    with pytest.raises(gancore.GancoreError, match="data: given both as an object and in the recipe"):
        gancore.create_run(RECIPE | {"data": {"name": "ring"}}, data=Digits())
    for bad, message in [
        (["a", "b"], "item 0 is a str, not a tensor"),
        ([torch.zeros(1, 4, 4), torch.zeros(1, 5, 5)], r"item 1 has shape \(1, 5, 5\), item 0 \(1, 4, 4\)"),
        ([torch.full((1, 4, 4), 3.0)], r"floating images must lie in \[-1, 1\]"),
        ([(torch.zeros(1, 4, 4), 1.5)], "labels are integers"),
        ([], "the dataset is empty"),
        (42, "neither a gancore.Dataset nor a map-style"),
    ]:
        with pytest.raises(gancore.GancoreError, match=message):
            gancore.create_run(RECIPE, data=bad).dataset


def test_training_on_a_torch_dataset_learns_it():
    """The critic learns to tell the user's images from the generator's: its score on real
    batches rises above its score on generated ones."""
    run = gancore.create_run(RECIPE | {"train": RECIPE["train"] | {"steps": 60, "log_every": 20, "checkpoint_every": 0}},
                             data=Digits(96))
    rows = []
    run.train(report=rows.append)
    assert rows[-1]["score_real"] > rows[-1]["score_fake"]
