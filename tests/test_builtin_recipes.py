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


# One built-in recipe per first-party scheme.
SCHEME_RECIPES = ["gan-ring", "pix2pix-mnist", "cyclegan-mnist", "infogan-mnist", "twingan-mnist",
                  "recyclegan-mnist", "tpgan-mnist"]
# Every piece of engine state at once: bf16 autocast, a schedule, EMA, clipping.
RESUME = SHORT | {"train.amp": "bf16", "optim.schedule": "linear", "optim.final_lr": 0.1, "optim.clip_norm": 1.0,
                  "ema.decay": 0.9, "train.batch_size": 8, "train.checkpoint_every": 0, "train.sample_every": 0,
                  "eval.every": 0}


def _state(run):
    out = dict(run.scheme.state_dict())
    for name, avg in run.ema.items():
        out |= {f"ema.{name}.{k}": v for k, v in avg.state_dict().items()}
    return out


@pytest.mark.parametrize("name", SCHEME_RECIPES)
def test_every_scheme_resumes_bit_exactly_under_bf16_with_a_schedule(name, tmp_path):
    straight = gancore.create_run(name, overrides=RESUME | {"train.steps": 4}).train()
    gancore.create_run(name, overrides=RESUME | {"train.steps": 4}, out=tmp_path / "half").train(2)
    resumed = gancore.load_run(tmp_path / "half").train()
    a, b = _state(straight), _state(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("name", SCHEME_RECIPES)
def test_every_scheme_gives_relativistic_losses_the_real_scores(name):
    pytest.importorskip("gancore_relativistic")
    # The example plugin's loss raises when a scheme forgets needs_real_in_generator_step.
    run = gancore.create_run(name, overrides=SHORT | {"loss": "relativistic-average"}).train()
    assert run.step == 2


def test_the_list_covers_every_first_party_scheme():
    import tomllib

    schemes = set()
    for name in SCHEME_RECIPES:
        doc = tomllib.loads(gancore.registry().recipe(name).path.read_text())
        scheme = doc.get("scheme", "adversarial")
        schemes.add(scheme if isinstance(scheme, str) else scheme.get("name", "adversarial"))
    first_party = {e.name for e in gancore.registry().entries("scheme") if gancore.host().plugins[e.plugin].first_party}
    assert schemes == first_party
