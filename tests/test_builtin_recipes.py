"""Built-in recipes beyond the contract kit's checks (tests/test_contracts.py trains and
resumes every recipe and scheme): the example third-party plugin's loss from a recipe and
in every scheme."""

from __future__ import annotations

import pytest

import gancore

SHORT = {"train.steps": 2, "train.device": "cpu", "train.log_every": 1, "train.batch_size": 16}


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
