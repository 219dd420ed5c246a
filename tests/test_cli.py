"""The command line, through Typer's test runner: the contract of issue #2, item 6."""

from __future__ import annotations

import json
from typing import Annotated, Literal, Optional

import numpy as np
import pytest
from pydantic import Field
from typer.testing import CliRunner

from gancore.cli import app

runner = CliRunner()


def invoke(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def test_help_lists_commands():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("list", "show", "plugins", "recipes", "train", "sample", "eval"):
        assert command in result.output


def test_list_json_has_every_first_party_part():
    result = invoke("list", "--json")
    assert result.exit_code == 0, result.output
    parts = {(p["kind"], p["name"]) for p in json.loads(result.stdout)}
    expected = {
        ("generator", "mlp"), ("generator", "dcgan"), ("critic", "mlp"), ("critic", "dcgan"),
        ("loss", "minimax"), ("loss", "non-saturating"), ("loss", "least-squares"), ("loss", "hinge"),
        ("loss", "wasserstein"), ("regularizer", "gradient-penalty"), ("regularizer", "r1"),
        ("regularizer", "weight-clipping"), ("normalization", "batch"), ("normalization", "instance"),
        ("normalization", "layer"), ("normalization", "none"), ("normalization", "spectral"),
        ("normalization", "weight"), ("dataset", "ring"), ("dataset", "grid"), ("dataset", "mnist"),
        ("dataset", "image-folder"), ("scheme", "adversarial"),
    }
    assert expected <= parts


def test_list_one_kind_and_unknown_kind():
    result = invoke("list", "loss", "--json")
    assert {p["kind"] for p in json.loads(result.stdout)} == {"loss"}
    result = invoke("list", "losses")
    assert result.exit_code == 2
    assert "unknown kind 'losses'; did you mean 'loss'" in result.output
    assert "Traceback" not in result.output


def test_show_parameters():
    result = invoke("show", "critic", "mlp", "--json")
    info = json.loads(result.stdout)
    params = {p["name"]: p for p in info["parameters"]}
    assert params["pack"]["type"] == "int" and params["pack"]["default"] == 1
    assert params["norm"]["description"]
    result = invoke("show", "critic", "mpl")
    assert result.exit_code == 2 and "did you mean 'mlp'" in result.output


def test_plugins_and_recipes_json():
    plugins = {p["plugin"]: p for p in json.loads(invoke("plugins", "--json").stdout)}
    assert plugins["nets"]["status"] == "loaded" and plugins["nets"]["version"]
    recipes = {r["name"] for r in json.loads(invoke("recipes", "--json").stdout)}
    assert {"gan-ring", "gan-grid", "gan-mnist", "cgan-mnist", "cdcgan-mnist", "dcgan-mnist", "dcgan-mnist-wn", "dcgan-mnist-sn",
            "wgan-mnist", "wgan-gp-mnist", "wgan-gp-grid"} <= recipes


def test_broken_plugin_does_not_break_the_cli(plugin_dist, fresh_host):
    plugin_dist("broken", "raise RuntimeError('kaput')", version="9.9")
    fresh_host()
    result = invoke("list", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)  # the other parts are listed
    assert "broken" in result.stderr and "kaput" in result.stderr and "9.9" in result.stderr
    plugins = {p["plugin"]: p for p in json.loads(invoke("plugins", "--json").stdout)}
    assert plugins["broken"]["status"] == "failed" and "kaput" in plugins["broken"]["error"]


def test_block_option(plugin_dist, fresh_host):
    plugin_dist("broken", "raise RuntimeError('kaput')")
    fresh_host()
    result = invoke("--block", "broken", "plugins", "--json")
    plugins = {p["plugin"]: p for p in json.loads(result.stdout)}
    assert plugins["broken"]["status"] == "blocked"


def test_train_sample_and_resume(tiny_ring_file, tmp_path):
    out = tmp_path / "run"
    result = invoke("train", tiny_ring_file, "--out", out, "--set", "train.steps=10", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "step 10/10" in result.output  # plain progress lines when not on a terminal
    assert (out / "checkpoints" / "step-0000010.pt").is_file()

    # an existing run is never overwritten
    result = invoke("train", tiny_ring_file, "--out", out)
    assert result.exit_code == 2 and "already holds a run; continue it with --resume" in result.output

    result = invoke("train", "--out", out, "--resume", "--set", "train.steps=20")
    assert result.exit_code == 0, result.output
    assert "resuming" in result.output
    assert (out / "checkpoints" / "step-0000020.pt").is_file()

    result = invoke("train", "--out", out, "--resume", "--set", "critic.hidden=8")
    assert result.exit_code == 2 and "cannot change when resuming" in result.output

    result = invoke("sample", out, "--num", 12, "--out", tmp_path / "s.npz", "--seed", 3)
    assert result.exit_code == 0, result.output
    data = np.load(tmp_path / "s.npz")
    assert data["samples"].shape == (12, 2) and data["samples"].dtype == np.float32
    result = invoke("sample", out, "--out", tmp_path / "s.png")
    assert result.exit_code == 0 and (tmp_path / "s.png").stat().st_size > 0
    result = invoke("sample", out, "--label", 1)
    assert result.exit_code == 2 and "not class-conditional" in result.output
    result = invoke("sample", out, "--out", tmp_path / "s.gif")
    assert result.exit_code == 2 and ".npz or .png" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "no-such-recipe"], "unknown recipe 'no-such-recipe'"),
        (["train", "missing.toml"], "recipe file not found"),
        (["train", "gan-ring", "--set", "critic.norm=spectal"], "critic.norm: unknown normalization 'spectal'; did you mean 'spectral'?"),
        (["train", "gan-ring", "--set", "train.steps=abc"], 'train.steps: expected an integer, not the string "abc"'),
        (["train", "gan-ring", "--set", "steps"], "expected dotted.key=value"),
        (["train", "gan-ring", "--device", "tpu"], "unknown device 'tpu'"),
        (["train", "--resume"], "--resume needs --out"),
        (["sample", "/nonexistent/run"], "error: /nonexistent/run does not exist\n"),
        (["eval", "/nonexistent/run"], "error: /nonexistent/run does not exist\n"),
        (["train", "--out", "/nonexistent/run", "--resume"], "error: /nonexistent/run does not exist\n"),
        (["sample", "."], "error: . is not a gancore run (no recipe.toml)\n"),
    ],
)
def test_user_errors_are_one_line(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()  # nothing was created


def test_conditional_sample_labels(tmp_path):
    out = tmp_path / "cond"
    result = invoke("train", "gan-ring", "--out", out, "--device", "cpu", "--set", "train.steps=2",
                    "--set", "generator.conditional=true", "--set", "critic.conditional=projection",
                    "--set", "generator.hidden=16", "--set", "critic.hidden=16")
    assert result.exit_code == 0, result.output
    result = invoke("sample", out, "--num", 8, "--label", 3, "--out", tmp_path / "c.npz")
    assert result.exit_code == 0, result.output
    assert (np.load(tmp_path / "c.npz")["labels"] == 3).all()
    result = invoke("sample", out, "--label", 8)
    assert result.exit_code == 2 and "label out of range" in result.output


def test_eval_json_with_default_metrics(tiny_ring_file, tmp_path):
    out = tmp_path / "run"
    assert invoke("train", tiny_ring_file, "--out", out).exit_code == 0
    result = invoke("eval", out, "--json", "--num", 500)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["step"] == 20 and data["num_samples"] == 500
    assert {"modes", "high_quality", "reverse_kl"} <= data["metrics"].keys()
    result = invoke("eval", out, "--metrics", "fdi")
    assert result.exit_code == 2 and "did you mean 'fid'" in result.output


def test_eval_mnist_run(tmp_path):
    out = tmp_path / "mnist"
    result = invoke("train", "dcgan-mnist", "--out", out, "--device", "cpu", "--set", "train.steps=2",
                    "--set", "generator.width=8", "--set", "critic.width=8")
    assert result.exit_code == 0, result.output
    result = invoke("eval", out, "--json", "--num", 300)
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)["metrics"]
    assert {"fid", "kid", "precision", "recall", "density", "coverage", "classifier_score"} <= metrics.keys()
    assert metrics["fid"] > 50  # two steps of training are far from the data


def test_sample_a_code_that_is_not_a_data_label(tmp_path):
    """InfoGAN's categorical code is sampled with --label, though the data labels are not used."""
    out = tmp_path / "info"
    result = invoke("train", "infogan-mnist", "--out", out, "--device", "cpu", "--set", "train.steps=1",
                    "--set", "train.batch_size=8", "--set", "train.num_samples=10")
    assert result.exit_code == 0, result.output
    result = invoke("sample", out, "--num", 4, "--label", 3, "--out", tmp_path / "i.npz")
    assert result.exit_code == 0, result.output
    assert (np.load(tmp_path / "i.npz")["labels"] == 3).all()


def test_version_short_help_and_show_of_a_kind():
    import gancore

    runner = CliRunner()
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.output.strip() == f"gancore {gancore.__version__}"
    short = runner.invoke(app, ["train", "-h"])
    assert short.exit_code == 0 and "--nproc" in short.output
    listed = runner.invoke(app, ["show", "loss", "--json"])
    assert listed.exit_code == 0
    names = {row["name"] for row in json.loads(listed.output)}
    assert {"hinge", "wasserstein"} <= names


def test_json_rows_share_their_key_names():
    """A part's kind, name and summary and the plugin that registered it have one key
    each, in every command's --json."""
    listed = json.loads(invoke("list", "loss", "--json").stdout)
    assert set(listed[0]) == {"kind", "name", "plugin", "summary"}
    shown = json.loads(invoke("show", "loss", "hinge", "--json").stdout)
    assert {k: shown[k] for k in ("kind", "name", "plugin", "summary")} == next(r for r in listed if r["name"] == "hinge")
    plugins = json.loads(invoke("plugins", "--json").stdout)
    assert all("plugin" in row and "name" not in row for row in plugins)
    assert {e["plugin"] for e in listed} <= {row["plugin"] for row in plugins}
    recipes = json.loads(invoke("recipes", "--json").stdout)
    assert set(recipes[0]) == {"name", "plugin", "summary"}
    assert {r["plugin"] for r in recipes} <= {row["plugin"] for row in plugins}


def test_show_prints_each_parameter_s_constraints():
    info = json.loads(invoke("show", "critic", "mlp", "--json").stdout)
    params = {p["name"]: p for p in info["parameters"]}
    assert params["dropout"]["constraints"] == "0 <= x < 1"
    assert params["hidden"]["constraints"] == "1 <= x <= 16384"
    assert params["norm"]["constraints"] == "" and params["norm"]["choices"] is None
    assert params["conditional"]["choices"] == ["none", "concat", "projection"]
    table = invoke("show", "critic", "mlp").stdout.splitlines()
    assert table[2].split() == ["parameter", "type", "default", "constraints", "description"]
    dropout = next(line for line in table if line.startswith("dropout "))
    assert "0 <= x < 1" in dropout
    scheme = json.loads(invoke("show", "scheme", "adversarial", "--json").stdout)
    assert scheme["parameters"][0]["constraints"] == "1 <= x <= 100"


def _constrained(
    rate: Annotated[float, Field(gt=0)] = 1.0,
    beta: Annotated[float, Field(ge=0, lt=1)] = 0.5,
    cap: Annotated[int, Field(le=100)] = 3,
    width: Annotated[int, Field(ge=8, multiple_of=8)] = 8,
    tag: Annotated[str, Field(min_length=1, max_length=4)] = "x",
    sizes: Annotated[list[int], Field(min_length=2)] = [1, 2],
    word: Annotated[str, Field(pattern=r"^[a-z]+$")] = "a",
    limit: Annotated[Optional[Annotated[int, Field(ge=1)]], Field(description="n")] = None,
    mode: Literal["a", "b"] | None = None,
    plain: int = 1,
):
    return None


def test_constraints_in_words():
    from gancore._params import describe, params_model

    rows = {r["name"]: r for r in describe(params_model(_constrained, "Words"))}
    assert {n: r["constraints"] for n, r in rows.items()} == {
        "rate": "> 0", "beta": "0 <= x < 1", "cap": "<= 100", "width": ">= 8, multiple of 8",
        "tag": "1 <= length <= 4", "sizes": "length >= 2", "word": "matches ^[a-z]+$", "limit": ">= 1",
        "mode": "", "plain": "",
    }
    assert rows["mode"]["choices"] == ["a", "b"] and rows["plain"]["choices"] is None
    assert rows["limit"]["type"] == "int | None"  # the inner Annotated is not spelt out


def test_tables_are_not_wrapped_when_piped(monkeypatch):
    """CliRunner's stdout is not a terminal: rows longer than 80 columns (or COLUMNS) stay
    one line each, with no trailing padding."""
    monkeypatch.setenv("COLUMNS", "60")
    result = invoke("list")
    assert result.exit_code == 0
    rows = result.stdout.splitlines()
    parts = json.loads(invoke("list", "--json").stdout)
    assert len(rows) == len(parts) + 1  # the header, then one line per part
    assert max(len(row) for row in rows) > 80
    assert all(row == row.rstrip() for row in rows)
    for row, part in zip(rows[1:], parts):
        assert row.split(maxsplit=3) == [part["kind"], part["name"], part["plugin"], part["summary"]]
    shown = invoke("show", "dataset", "mnist").stdout.splitlines()
    assert any(len(line) > 80 for line in shown)
    params = json.loads(invoke("show", "dataset", "mnist", "--json").stdout)["parameters"]
    assert len(shown) == 3 + len(params)
