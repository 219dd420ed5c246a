"""Training callbacks: the kind, the hooks' order, TensorBoard and CSV trackers, progress
in Python, and --log-to at the shell."""

from __future__ import annotations

import csv
import json
import sys

import pytest
import torch
from typer.testing import CliRunner

import gancore
from gancore.cli import app


class Recorder(gancore.Callback):
    def __init__(self):
        self.events = []

    def on_start(self, run):
        self.events.append(("start", run.step))

    def on_log(self, run, row):
        self.events.append(("log", row["step"]))

    def on_samples(self, run, samples, path):
        self.events.append(("samples", run.step, tuple(samples.shape), path.name))

    def on_checkpoint(self, run, path):
        self.events.append(("checkpoint", path.name))

    def on_end(self, run):
        self.events.append(("end", run.step))

    def on_failure(self, run, error):
        self.events.append(("failure", type(error).__name__))


def test_hooks_fire_in_order(tiny_ring, tmp_path):
    rec = Recorder()
    gancore.create_run(tiny_ring, overrides={"train.sample_every": 10}, out=tmp_path / "run").train(callbacks=[rec])
    assert rec.events == [
        ("start", 0), ("log", 5), ("log", 10), ("samples", 10, (64, 2), "step-0000010.png"),
        ("checkpoint", "step-0000010.pt"), ("log", 15), ("log", 20), ("samples", 20, (64, 2), "step-0000020.png"),
        ("checkpoint", "step-0000020.pt"), ("end", 20),
    ]


def test_failure_reaches_every_callback(tiny_ring):
    class Boom(gancore.Callback):
        def on_log(self, run, row):
            raise RuntimeError("tracker down")

    rec = Recorder()
    with pytest.raises(RuntimeError, match="tracker down"):
        gancore.create_run(tiny_ring).train(callbacks=[rec, Boom()])
    assert rec.events[-1] == ("failure", "RuntimeError")


def test_progress_in_python_prints_the_cli_lines(tiny_ring, capsys):
    gancore.create_run(tiny_ring).train(progress=True)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines] == ["5/20", "10/20", "15/20", "20/20"]
    assert "loss_critic" in lines[-1]


def test_tensorboard_writes_scalars_and_samples_that_read_back(tiny_ring, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tiny_ring["callbacks"] = [{"name": "tensorboard"}]
    run = gancore.create_run(tiny_ring, overrides={"train.sample_every": 10}, out=tmp_path / "run").train()
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    tags = events.Tags()
    assert {"loss_critic", "loss_generator", "score_real"} <= set(tags["scalars"])
    losses = events.Scalars("loss_critic")
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [e.step for e in losses] == [r["step"] for r in rows]
    assert [e.value for e in losses] == pytest.approx([r["loss_critic"] for r in rows])
    images = events.Images("samples")
    assert [i.step for i in images] == [10, 20] and images[0].width > 0 and images[0].height > 0
    assert run.step == 20


def test_tensorboard_missing_is_one_clear_error(tiny_ring, monkeypatch):
    for name in [m for m in sys.modules if m.startswith(("tensorboard", "torch.utils.tensorboard"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard now fails
    run = gancore.create_run(tiny_ring, log_to=["tensorboard"])
    with pytest.raises(gancore.GancoreError, match=r'needs the tensorboard package: pip install "gancore\[tensorboard\]"'):
        run.train()
    assert run.step == 0  # refused before the first step


def test_csv_log_and_its_resume(tiny_ring, tmp_path):
    out = tmp_path / "run"
    gancore.create_run(tiny_ring, overrides={"train.steps": 10}, out=out, log_to=["csv"]).train()
    gancore.load_run(out, overrides=["train.steps=20"]).train()
    with open(out / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == [5, 10, 15, 20]
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [float(r["loss_critic"]) for r in rows] == pytest.approx([m["loss_critic"] for m in metrics])


def test_callbacks_are_validated_with_the_recipe(tiny_ring):
    tiny_ring["callbacks"] = [{"name": "tensorbord"}]
    with pytest.raises(gancore.UnknownNameError, match="callbacks.0.name: unknown callback 'tensorbord'; did you mean 'tensorboard'"):
        gancore.create_run(tiny_ring)
    tiny_ring["callbacks"] = [{"name": "csv", "paht": "x.csv"}]
    with pytest.raises(gancore.GancoreError, match="callbacks.0"):
        gancore.create_run(tiny_ring)


def test_cli_log_to_adds_callbacks_and_keeps_them_on_resume(tiny_ring_file, tmp_path):
    out = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(app, ["train", str(tiny_ring_file), "--out", str(out), "--set", "train.steps=10",
                                 "--log-to", "csv", "--log-to", "csv"])
    assert result.exit_code == 0, result.output
    assert (out / "metrics.csv").is_file()
    assert (out / "recipe.toml").read_text().count('name = "csv"') == 1
    result = runner.invoke(app, ["train", "--out", str(out), "--resume", "--set", "train.steps=15", "--log-to", "nope"])
    assert result.exit_code == 2 and "unknown callback 'nope'" in result.output
    result = runner.invoke(app, ["train", "--out", str(out), "--resume", "--set", "train.steps=15"])
    assert result.exit_code == 0, result.output
    with open(out / "metrics.csv", newline="") as fh:
        assert [int(r["step"]) for r in csv.DictReader(fh)] == [5, 10, 15]
    assert torch.load(out / "checkpoints" / "step-0000015.pt", weights_only=True)["step"] == 15
