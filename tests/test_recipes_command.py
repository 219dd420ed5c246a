"""``gancore recipes NAME``: a built-in recipe as TOML, resolved (as a run records it) or as
written, printed or written to a file to edit and train."""

from __future__ import annotations

import tomllib

import pytest
from typer.testing import CliRunner

import gancore
from gancore.cli import app


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_the_printed_recipe_trains_and_is_what_the_run_records(tmp_path):
    printed = invoke("recipes", "dcgan-mnist")
    assert printed.exit_code == 0, printed.output
    recipe = tmp_path / "mine.toml"
    recipe.write_text(printed.stdout)
    out = tmp_path / "run"
    trained = invoke("train", recipe, "--set", "train.steps=2", "--out", out, "--device", "cpu")
    assert trained.exit_code == 0, trained.output
    assert (out / "checkpoints" / "step-0000002.pt").is_file()
    # Resolved: every default filled in, as the run's own recipe.toml has it.
    shown, recorded = tomllib.loads(printed.stdout), tomllib.loads((out / "recipe.toml").read_text())
    assert shown["train"].pop("steps") == 4500 and recorded["train"].pop("steps") == 2
    assert shown["train"].pop("device") == "auto" and recorded["train"].pop("device") == "cpu"  # where it ran
    assert shown == recorded
    assert shown["generator"]["conditional"] is False and "clip_norm" not in shown["optim"]["generator"]


def test_raw_prints_the_file_as_written():
    result = invoke("recipes", "dcgan-mnist", "--raw")
    assert result.exit_code == 0, result.output
    assert result.stdout == gancore.registry().recipe("dcgan-mnist").path.read_text()
    assert "# The default recipe" in result.stdout  # comments included


def test_out_writes_a_new_file_and_replaces_one_only_with_force(tmp_path):
    path = tmp_path / "ring.toml"
    result = invoke("recipes", "gan-ring", "--out", path)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote gan-ring to {path}; train it with: gancore train {path}\n"
    assert tomllib.loads(path.read_text())["critic"]["dropout"] == 0.0  # a default, filled in
    path.write_text("# my edits\n")
    assert _error(invoke("recipes", "gan-ring", "--out", path)) == (
        f"error: {path} exists; --force replaces it, or choose another --out")
    assert path.read_text() == "# my edits\n"
    assert invoke("recipes", "gan-ring", "--raw", "--out", path, "--force").exit_code == 0
    assert path.read_text() == gancore.registry().recipe("gan-ring").path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["ring.toml"]  # no temporary file left beside it


def test_an_unknown_recipe_is_one_line_listing_them():
    line = _error(invoke("recipes", "dcgan-mnsit"))
    assert line.startswith("error: unknown recipe 'dcgan-mnsit'; did you mean 'dcgan-mnist'")
    assert all(name in line for name in gancore.registry().recipes)


def test_a_recipe_for_the_user_s_data_says_what_it_needs(tmp_path):
    assert _error(invoke("recipes", "sngan-images")) == (
        "error: recipe 'sngan-images' leaves a value to you (data.root: Field required); give it with "
        "--set KEY=VALUE, or print the recipe as written with --raw")
    result = invoke("recipes", "sngan-images", "--set", f"data.root={tmp_path}")
    assert result.exit_code == 0, result.output
    assert tomllib.loads(result.stdout)["data"]["root"] == str(tmp_path)
    assert invoke("recipes", "sngan-images", "--raw").exit_code == 0


@pytest.mark.parametrize("args, message", [
    (["--raw"], "--raw needs a recipe: gancore recipes NAME --raw ..."),
    (["--out", "x.toml"], "--out needs a recipe: gancore recipes NAME --out ..."),
    (["gan-ring", "--json"], "--json lists the recipes; a recipe prints as TOML (drop NAME or --json)"),
    (["gan-ring", "--raw", "--set", "train.steps=5"], "--raw prints the recipe as written and --set changes it: give one or the other"),
    (["gan-ring", "--force"], "--force goes with --out FILE, the file it may replace"),
    (["gan-ring", "--out", "x.json"], "--out x.json: a recipe is written as TOML; name the file .toml (a .json file is read as JSON)"),
    (["gan-ring", "--set", "train.steps=5.0"], "train.steps: expected an integer, not 5.0"),
])
def test_what_cannot_be_done_is_one_line(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _error(invoke("recipes", *args)) == f"error: {message}"
    assert list(tmp_path.iterdir()) == []


def test_out_as_a_folder_takes_the_recipe_s_name(tmp_path):
    """--out as every command reads it: a folder gets NAME.toml (as sample's gets sample.png)."""
    result = invoke("recipes", "gan-ring", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "[generator]" in (tmp_path / "gan-ring.toml").read_text()
    assert _error(invoke("recipes", "gan-ring", "--out", tmp_path / "r.yaml")) == (
        f"error: --out {tmp_path / 'r.yaml'}: use a .toml file, or a folder")
