"""The command line's smaller edges (issue 23, item 7): each fixed here with a test."""

from __future__ import annotations

import io
import json
import re
from types import SimpleNamespace

import pytest
import tomli_w
import torch
from rich.console import Console
from typer.testing import CliRunner

from gancore import Progress
from gancore._recipe import TrainSettings
from gancore._run import Run
from gancore.cli import app
from tests.conftest import TINY_RING

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_a_resumed_run_names_its_recipe_not_its_folder(tiny_ring_file, tmp_path):
    out = tmp_path / "elsewhere"
    assert invoke("train", tiny_ring_file, "--out", out, "--set", "train.steps=10").exit_code == 0
    result = invoke("train", "--out", out, "--resume", "--set", "train.steps=20")
    assert result.exit_code == 0, result.output
    assert f"resuming {out} at step 10\ntraining tiny on cpu into {out}\n" in result.output


@pytest.mark.parametrize("width", [60, 80, 100, 120])
def test_the_progress_bar_keeps_the_step_count_on_a_narrow_terminal(width):
    """The logged values give way (cut with an ellipsis); the step count and speed stay."""
    screen = Console(width=width, file=io.StringIO(), force_terminal=True, color_system=None)
    progress = Progress(bar=True, console=screen)
    run = SimpleNamespace(target_steps=2000, step=0)
    progress.on_start(run)
    progress.on_log(run, {"step": 150, "total": 2000, "seconds": 13.6, "steps_per_sec": 11.04, "loss_critic": 1.324,
                          "score_real": 0.08401, "score_fake": -0.2582, "loss_generator": 0.9579})
    progress.on_end(run)
    # The last frame drawn: what stays on the screen once the cursor codes have done their work.
    frames = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "\n", screen.file.getvalue())
    line = [f for f in frames.splitlines() if f.strip()][-1]
    assert len(line) <= width and "150/2000 11.0 it/s" in line, line
    assert "loss_critic" in line or width < 80, line


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny ring run of 10 steps, for the commands that use a run."""
    folder = tmp_path_factory.mktemp("trained")
    recipe = folder / "tiny.toml"
    recipe.write_text(tomli_w.dumps(TINY_RING))
    result = invoke("train", recipe, "--out", folder / "run", "--set", "train.steps=10")
    assert result.exit_code == 0, result.output
    return folder / "run"


@pytest.mark.parametrize("command", [["sample", "--num", "4"], ["eval", "--num", "200", "--metrics", "modes"]])
def test_sample_and_eval_run_on_the_device_asked_for(command, trained, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name, *options = command
    assert invoke(name, trained, *options, "--device", "cpu").exit_code == 0
    result = invoke(name, trained, *options, "--device", "tpu")
    assert result.exit_code == 2 and result.output == "error: --device: unknown device 'tpu' (use auto, cpu, cuda or cuda:N)\n"
    result = invoke(name, trained, *options, "--device", "cuda")
    if torch.cuda.is_available():
        assert result.exit_code == 0, result.output
    else:
        assert result.output == "error: --device: 'cuda' asked for, but CUDA is not available on this machine\n"


def test_sample_and_eval_default_to_the_device_train_defaults_to(trained, tmp_path, monkeypatch):
    """auto, as a recipe's train.device: CUDA where there is one, no longer always the CPU."""
    monkeypatch.chdir(tmp_path)
    asked = []
    load = Run.load
    monkeypatch.setattr(Run, "load", lambda *args, **kwargs: asked.append(kwargs["device"]) or load(*args, **kwargs))
    assert invoke("sample", trained, "--num", "4").exit_code == 0
    assert invoke("eval", trained, "--num", "200", "--metrics", "modes").exit_code == 0
    assert asked == ["auto", "auto"] == [TrainSettings().device] * 2


def test_sample_out_takes_a_file_or_a_folder_as_every_out_does(trained, tmp_path, monkeypatch):
    """One convention: --out is where a command writes; a folder works for train as for
    sample, whose file then gets its usual name."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "there").mkdir()
    for out, written in (("grid.png", "grid.png"), ("there", "there/sample.png"), ("new/folder", "new/folder/sample.png")):
        result = invoke("sample", trained, "--num", "4", "--out", out)
        assert result.exit_code == 0 and result.output.endswith(f"to {written}\n"), result.output
        assert (tmp_path / written).stat().st_size > 0
    result = invoke("sample", trained, "--out", "grid.jpg")
    assert result.exit_code == 2 and result.output == "error: --out grid.jpg: use a .npz or .png file, or a folder\n"
    # Without --out the file goes into the run, whatever the run's folder is called.
    result = invoke("sample", "runs/missing.v2")
    assert result.exit_code == 2 and result.output == "error: runs/missing.v2 does not exist\n"


def test_stats_out_takes_a_folder_too(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    (tmp_path / "digits").mkdir()
    for i in range(4):
        Image.fromarray(torch.randint(0, 256, (28, 28), dtype=torch.uint8).numpy(), "L").save(tmp_path / "digits" / f"{i}.png")
    result = invoke("stats", "digits", "--out", "reference", "--features", "mnist")
    assert result.exit_code == 0, result.output
    assert result.output == "wrote the statistics of 4 images (mnist) to reference/digits.npz\n"
    result = invoke("stats", "digits", "--out", "digits.pt", "--features", "mnist")
    assert result.exit_code == 2 and result.output == "error: --out digits.pt: use a .npz file, or a folder\n"


def _eval_json(trained, *options):
    result = runner.invoke(app, ["eval", str(trained), "--num", "200", "--json", *options])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["metrics"], result.stderr


def test_metrics_repeats_like_set_and_takes_parameters_as_a_toml_table(trained):
    one, _ = _eval_json(trained, "--metrics", "modes", "--metrics", '{ name = "kid", subsets = 1, subset_size = 50 }')
    assert {"modes", "kid"} <= one.keys() and one["kid_std"] == 0.0  # a single subset has no spread
    many, _ = _eval_json(trained, "--metrics", '{ name = "kid", subsets = 20, subset_size = 50 }')
    assert many["kid_std"] > 0


def test_a_comma_list_of_metrics_still_works_with_a_deprecation_line(trained):
    values, warned = _eval_json(trained, "--metrics", "modes,kid")
    assert {"modes", "kid"} <= values.keys()
    assert warned == ("warning: --metrics modes,kid: comma lists are deprecated and go in the next release; "
                      "repeat the option: --metrics modes --metrics kid\n")


@pytest.mark.parametrize("value, message", [
    ('{ name = modes }', "--metrics { name = modes }: not a TOML inline table"),
    ('{ benchmark = "ring" }', '--metrics { benchmark = "ring" }: the table needs the metric\'s name'),
    ('{ name = "modes", benchmark = "rin" }', "--metrics modes.benchmark: Input should be 'auto', 'ring' or 'grid'"),
    ('{ name = "kid", subsetz = 3 }', "--metrics kid.subsetz: unknown parameter"),
])
def test_a_bad_metric_table_is_one_line(trained, value, message):
    result = invoke("eval", trained, "--metrics", value)
    assert result.exit_code == 2 and result.output.startswith(f"error: {message}"), result.output
    assert len(result.output.splitlines()) == 1
