"""Every built-in recipe (of any installed plugin) builds and trains; the example
third-party plugin's loss works from a recipe."""

from __future__ import annotations

import pytest
import torch

import gancore

SHORT = {"train.steps": 2, "train.device": "cpu", "train.log_every": 1, "train.batch_size": 16}


@pytest.mark.parametrize("name", sorted(gancore.registry().recipes))
def test_builtin_recipe_trains(name, tmp_path):
    run = gancore.create_run(name, overrides=SHORT, out=tmp_path / name).train()
    assert run.step == 2
    assert (tmp_path / name / "checkpoints" / "step-0000002.pt").is_file()
    assert any((tmp_path / name / "samples").iterdir())
    x = run.sample(4)
    assert torch.isfinite(x).all()


def test_example_plugin_loss_from_a_recipe(tiny_ring, tmp_path):
    pytest.importorskip("gancore_relativistic")
    assert gancore.registry().get("loss", "relativistic-average").plugin == "relativistic"
    tiny_ring["loss"] = {"name": "relativistic-average"}
    run = gancore.create_run(tiny_ring, out=tmp_path / "ra").train()
    assert run.step == tiny_ring["train"]["steps"]
    assert "relativistic-average" in (tmp_path / "ra" / "recipe.toml").read_text()


def test_debug_env_shows_traceback(monkeypatch):
    from typer.testing import CliRunner

    from gancore.cli import app

    monkeypatch.setenv("GANCORE_DEBUG", "1")
    result = CliRunner().invoke(app, ["show", "critic", "nope"])
    assert result.exit_code != 0
    assert isinstance(result.exception, gancore.UnknownNameError)  # raised, not swallowed
