"""The Python API: the same composition as a recipe, with a user's own modules."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import gancore
from gancore import GancoreError


class MyGenerator(nn.Module):
    latent_dim = 4

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2))

    def forward(self, z, labels=None):
        return self.net(z)


class MyCritic(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))

    def forward(self, x, labels=None):
        return self.net(x).squeeze(1)


RECIPE = {
    "data": {"name": "ring", "num_samples": 2048},
    "loss": "hinge",
    "train": {"steps": 30, "batch_size": 64, "log_every": 10, "device": "cpu", "checkpoint_every": 0},
}


def test_user_modules_without_registering(tmp_path):
    gen, critic = MyGenerator(), MyCritic()
    before = {k: v.clone() for k, v in gen.state_dict().items()}
    run = gancore.create_run(RECIPE, generator=gen, critic=critic, out=tmp_path / "run")
    run.train()
    assert run.scheme.generator is gen
    assert any(not torch.equal(before[k], v) for k, v in gen.state_dict().items())
    assert run.sample(10).shape == (10, 2)
    text = (tmp_path / "run" / "recipe.toml").read_text()
    assert "MyGenerator" in text and "<object>" in text

    with pytest.raises(GancoreError, match="pass it again"):
        gancore.load_run(tmp_path / "run")
    again = gancore.load_run(tmp_path / "run", generator=MyGenerator(), critic=MyCritic())
    assert again.step == 30
    assert torch.equal(again.sample(5, seed=1), run.sample(5, seed=1))


def test_object_and_recipe_table_conflict():
    with pytest.raises(GancoreError, match="both as an object and in the recipe"):
        gancore.create_run(RECIPE | {"generator": {"name": "mlp"}}, generator=MyGenerator(), critic=MyCritic())


def test_generator_without_latent_dim():
    class NoLatent(MyGenerator):
        latent_dim = None

    with pytest.raises(GancoreError, match="latent_dim"):
        gancore.create_run(RECIPE, generator=NoLatent(), critic=MyCritic())


def test_build_a_registered_part():
    norm = gancore.build("normalization", "spectral")
    layer = norm.wrap(nn.Linear(3, 3))
    assert hasattr(layer, "parametrizations")


def test_create_refuses_an_existing_run(tiny_ring, tmp_path):
    gancore.create_run(tiny_ring, out=tmp_path / "run").train()
    before = (tmp_path / "run" / "metrics.jsonl").read_text()
    with pytest.raises(GancoreError, match="already holds a run"):
        gancore.create_run(tiny_ring, out=tmp_path / "run")
    assert (tmp_path / "run" / "metrics.jsonl").read_text() == before


def test_build_refuses_parameters_given_as_keywords():
    # The parameters go in the dict; as keywords they would skip validation.
    with pytest.raises(TypeError, match=r"'source' of dataset 'mnist' is a parameter: pass parameters as a dict"):
        gancore.build("dataset", "mnist", source="directory")
