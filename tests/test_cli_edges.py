"""The command line's smaller edges (issue 23, item 7): each fixed here with a test."""

from __future__ import annotations

from typer.testing import CliRunner

from gancore.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_a_resumed_run_names_its_recipe_not_its_folder(tiny_ring_file, tmp_path):
    out = tmp_path / "elsewhere"
    assert invoke("train", tiny_ring_file, "--out", out, "--set", "train.steps=10").exit_code == 0
    result = invoke("train", "--out", out, "--resume", "--set", "train.steps=20")
    assert result.exit_code == 0, result.output
    assert f"resuming {out} at step 10\ntraining tiny on cpu into {out}\n" in result.output
