"""The divergence guard through the engine and the CLI: a run whose loss or gradients
stop being finite ends with one line, and no good checkpoint is lost."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import gancore
from gancore import _checkpoint as ckpt
from gancore.cli import app


class PoisonedGenerator(nn.Module):
    """A generator whose training outputs turn NaN after ``healthy`` forward passes."""

    latent_dim = 4

    def __init__(self, healthy: int) -> None:
        super().__init__()
        self.net = nn.Linear(4, 2)
        self.healthy = healthy
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def forward(self, z, labels=None):
        out = self.net(z)
        if self.training:
            self.calls += 1
            if int(self.calls) > self.healthy:
                out = out * float("nan")
        return out


def poisoned_run(tiny_ring, out, *, healthy=12, **overrides):
    recipe = {k: v for k, v in tiny_ring.items() if k != "generator"}
    settings = {"train.steps": 30, "train.checkpoint_every": 5, "train.keep_checkpoints": 2} | overrides
    return gancore.create_run(recipe, overrides=settings, out=out, generator=PoisonedGenerator(healthy))


def test_stop_names_the_step_saves_nothing_bad_and_keeps_the_good(tiny_ring, tmp_path):
    run = poisoned_run(tiny_ring, tmp_path / "run")
    with pytest.raises(gancore.DivergenceError) as info:
        run.train()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("step 13: the critic loss is nan; training diverged")
    assert "the newest finite one is step 10" in message and info.value.step == 13
    steps = [s for s, _ in ckpt.list_checkpoints(tmp_path / "run" / "checkpoints")]
    assert steps == [5, 10]
    assert all(torch.isfinite(p).all() for p in run.scheme.parameters())  # the bad update was not applied


def test_skip_counts_skipped_updates_and_stops_after_the_limit(tiny_ring, tmp_path):
    run = poisoned_run(tiny_ring, tmp_path / "run", **{"train.on_nonfinite": "skip", "train.skip_limit": 5})
    # From step 13 both updates of every step are skipped: the fifth in a row is in step 15.
    with pytest.raises(gancore.DivergenceError, match=r"step 15: 5 updates in a row were not finite and skipped \(the last: the critic loss is nan\)"):
        run.train()
    assert all(torch.isfinite(p).all() for p in run.scheme.parameters())
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["skipped_updates"] for r in rows] == [0, 0]


def test_skip_survives_a_passing_fault(tiny_ring, tmp_path):
    class Glitch(PoisonedGenerator):
        def forward(self, z, labels=None):  # NaN on forward passes 8 and 9 only
            out = self.net(z)
            if self.training:
                self.calls += 1
                if int(self.calls) in (8, 9):
                    out = out * float("nan")
            return out

    recipe = {k: v for k, v in tiny_ring.items() if k != "generator"}
    run = gancore.create_run(recipe, overrides={"train.steps": 20, "train.on_nonfinite": "skip", "train.skip_limit": 5},
                             out=tmp_path / "run", generator=Glitch(0)).train()
    assert run.step == 20 and run.engine.guard.skipped == 4  # two steps, two updates each
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["skipped_updates"] == 4
    assert all(torch.isfinite(p).all() for p in run.scheme.parameters())


def test_ignore_trains_on_and_pruning_keeps_the_newest_finite_checkpoint(tiny_ring, tmp_path):
    run = poisoned_run(tiny_ring, tmp_path / "run", **{"train.on_nonfinite": "ignore"}).train()
    assert run.step == 30
    folder = tmp_path / "run" / "checkpoints"
    kept = {s: ckpt.is_finite(p) for s, p in ckpt.list_checkpoints(folder)}
    assert kept == {10: True, 25: False, 30: False}
    loaded = gancore.load_run(tmp_path / "run", generator=PoisonedGenerator(12))
    with pytest.raises(gancore.GancoreError, match="not finite .* newest finite checkpoint is step 10: use --step 10"):
        loaded.require_finite()
    good = gancore.load_run(tmp_path / "run", generator=PoisonedGenerator(12), step=10)
    good.require_finite()
    assert torch.isfinite(good.sample(8)).all()


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_a_diverging_run_exits_3_and_keeps_its_last_good_checkpoint(tmp_path):
    """SGD at lr 0.4 on gan-ring is finite until about step 100 (in one thread; the step depends on the thread count)."""
    out = tmp_path / "d2"
    result = invoke("train", "gan-ring", "--set", "optim.name=sgd", "--set", "optim.lr=0.4", "--set", "train.steps=400",
                    "--set", "train.checkpoint_every=50", "--set", "train.log_every=100", "--out", out)
    assert result.exit_code == 3, result.output
    error = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "training diverged" in error[0], result.output
    assert " is nan" in error[0] or " is inf" in error[0]
    step = int(error[0].split("step ")[1].split(":")[0])  # where depends on the thread count
    assert step > 50
    kept = ckpt.list_checkpoints(out / "checkpoints")
    assert kept and all(ckpt.is_finite(p) for _, p in kept) and kept[-1][0] == 50 * ((step - 1) // 50)
    assert f"the newest finite one is step {kept[-1][0]}" in error[0]
    result = invoke("sample", out, "--num", 8, "--out", tmp_path / "s.npz")
    assert result.exit_code == 0, result.output


def test_cli_sample_and_eval_refuse_non_finite_weights(tmp_path):
    out = tmp_path / "d4"
    result = invoke("train", "gan-ring", "--set", "optim.lr=1e5", "--set", "train.steps=20",
                    "--set", "train.on_nonfinite=ignore", "--set", "train.log_every=10", "--out", out)
    assert result.exit_code == 0, result.output
    for command in ("sample", "eval"):
        result = invoke(command, out)
        assert result.exit_code == 2
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and "the weights at step 20 are not finite" in lines[0], result.output


def test_deferred_checks_as_on_an_accelerator_still_name_the_first_bad_step(tiny_ring, tmp_path):
    """Off the CPU the guard keeps its verdicts on the device until a log line, sample or
    checkpoint; the run stops there, naming the first bad update, and saves nothing bad."""
    run = poisoned_run(tiny_ring, tmp_path / "run", **{"train.log_every": 10, "train.checkpoint_every": 5})
    run.engine.guard.deferred = True
    with pytest.raises(gancore.DivergenceError, match=r"^step 13: the critic loss is nan"):
        run.train()
    assert run.step == 15  # trained on to the next checkpoint, which was refused
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "run" / "checkpoints")] == [5, 10]


def test_a_stop_signal_after_a_bad_update_reports_the_divergence(tiny_ring, tmp_path):
    import os
    import signal

    class SignalledPoison(PoisonedGenerator):
        def forward(self, z, labels=None):
            out = super().forward(z, labels)
            if self.training and int(self.calls) == 14:
                os.kill(os.getpid(), signal.SIGTERM)  # recorded; the step finishes first
            return out

    recipe = {k: v for k, v in tiny_ring.items() if k != "generator"}
    run = gancore.create_run(recipe, overrides={"train.steps": 30, "train.checkpoint_every": 10, "train.log_every": 10},
                             out=tmp_path / "run", generator=SignalledPoison(12))
    run.engine.guard.deferred = True  # as on an accelerator: the bad update of step 13 is not seen at once
    with pytest.raises(gancore.DivergenceError, match=r"^step 13: the critic loss is nan"):
        run.train()
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "run" / "checkpoints")] == [10]
