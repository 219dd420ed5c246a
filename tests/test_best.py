"""Evaluation during training: metrics logged, the best-scoring checkpoint kept beside the
newest (through pruning and resume), and used by load_run(best=True) and the CLI."""

from __future__ import annotations

import copy
import json
import warnings

import pytest
import torch
from typer.testing import CliRunner

import gancore
from gancore.cli import app


def _recipe(tiny_ring, **eval_settings):
    tiny_ring = copy.deepcopy(tiny_ring)
    tiny_ring["train"] |= {"steps": 40, "checkpoint_every": 10, "keep_checkpoints": 1, "log_every": 10}
    tiny_ring["eval"] = {"every": 5, "metrics": ["fid"], "num_samples": 256} | eval_settings
    return tiny_ring


def _evaluations(out):
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {row["step"]: row["fid"] for row in rows if "fid" in row}


def test_the_best_evaluation_keeps_its_checkpoint_through_pruning(tmp_path, tiny_ring):
    out = tmp_path / "run"
    gancore.create_run(_recipe(tiny_ring), out=out).train()
    fids = _evaluations(out)
    assert sorted(fids) == list(range(5, 41, 5))  # every 5 steps, logged in metrics.jsonl
    best_step = min(fids, key=fids.__getitem__)
    kept = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert kept == ["best.pt", "step-0000040.pt"]  # pruning keeps one step checkpoint, and the best
    best = gancore.load_run(out, best=True)
    assert best.step == best_step and best.best == {"metric": "fid", "value": fids[best_step], "step": best_step}
    # The loaded weights are those that scored: evaluating them again gives the logged value.
    assert best.evaluate(["fid"], 256) == pytest.approx({"fid": fids[best_step]}, rel=1e-5)
    with pytest.raises(gancore.GancoreError, match="best checkpoint"):
        best.train(50)


def test_resume_keeps_the_best_checkpoint_exact(tmp_path, tiny_ring):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    gancore.create_run(_recipe(tiny_ring), out=whole).train()
    gancore.create_run(_recipe(tiny_ring), out=parts).train(20)
    first = gancore.load_run(parts, best=True).best
    gancore.load_run(parts).train(40)
    assert _evaluations(parts) == _evaluations(whole)
    a, b = (torch.load(p / "checkpoints" / "best.pt", weights_only=True) for p in (whole, parts))
    assert a["best"] == b["best"] and a["step"] == b["step"]
    for key, value in a["scheme"].items():
        torch.testing.assert_close(b["scheme"][key], value, rtol=0, atol=0)
    assert b["best"]["value"] <= first["value"]


def test_best_can_follow_another_value_or_none(tmp_path, tiny_ring):
    out = tmp_path / "kid"
    recipe = _recipe(tiny_ring, metrics=["fid", {"name": "kid", "subsets": 5, "subset_size": 50}], best="kid")
    recipe["train"]["steps"] = 10
    gancore.create_run(recipe, out=out).train()
    assert gancore.load_run(out, best=True).best["metric"] == "kid"
    out = tmp_path / "none"
    recipe = _recipe(tiny_ring, best="")
    recipe["train"]["steps"] = 10
    gancore.create_run(recipe, out=out).train()
    assert not (out / "checkpoints" / "best.pt").exists()


def test_a_best_value_no_metric_gives_is_refused_with_the_recipe(tiny_ring):
    with pytest.raises(gancore.GancoreError, match=r"eval.best: no metric gives 'fdi' \(the metrics give fid\)"):
        gancore.create_run(_recipe(tiny_ring, best="fdi"))


def test_eval_features_are_validated_with_the_recipe(tiny_ring):
    with pytest.raises(gancore.GancoreError, match="eval.features.name: unknown features 'inceptoin'"):
        gancore.create_run(_recipe(tiny_ring, features="inceptoin"))
    with pytest.raises(gancore.GancoreError, match="eval.features"):
        gancore.create_run(_recipe(tiny_ring, features={"name": "mnist", "batch_size": 0}))
    # A metric's own table naming a feature space is checked the same way.
    tiny = _recipe(tiny_ring, metrics=[{"name": "fid", "features": {"name": "identity", "nope": 1}}])
    with pytest.raises(gancore.GancoreError, match=r"eval.metrics.0.features.*nope"):
        gancore.create_run(tiny)


def test_sample_and_eval_take_the_best_checkpoint(tmp_path, tiny_ring):
    out = tmp_path / "run"
    gancore.create_run(_recipe(tiny_ring), out=out).train()
    best = gancore.load_run(out, best=True)
    runner = CliRunner()
    result = runner.invoke(app, ["eval", str(out), "--best", "--metrics", "fid", "--num", "256", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["step"] == best.step
    result = runner.invoke(app, ["sample", str(out), "--best", "--out", str(tmp_path / "s.npz"), "--num", "8"])
    assert result.exit_code == 0 and f"from step {best.step}" in result.output
    result = runner.invoke(app, ["sample", str(out), "--best", "--step", "10"])
    assert result.exit_code == 2 and "a step or best, not both" in result.output
    bare = tmp_path / "bare"
    gancore.create_run(tiny_ring, out=bare).train(10)
    result = runner.invoke(app, ["sample", str(bare), "--best"])
    assert result.exit_code == 2 and "has no best checkpoint" in result.output


def test_an_evaluation_costing_more_than_the_training_between_warns_once(monkeypatch):
    from gancore import _evaluate

    monkeypatch.setattr(_evaluate, "_warned_cost", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        last = _evaluate.warn_if_costly(None, 10.0, 50.0)  # the first also embeds the real images: not judged
        last = _evaluate.warn_if_costly(last, 100.0, 30.0)  # 40 s of training, 30 s of evaluation
        assert not caught
        last = _evaluate.warn_if_costly(last, 150.0, 30.0)  # 20 s of training, 30 s of evaluation
        _evaluate.warn_if_costly(last, 200.0, 30.0)
    assert [str(w.message) for w in caught] == [
        "eval: an evaluation took 30.0 s, more than the 20.0 s of training since the one before; "
        "raise eval.every or lower eval.num_samples"]


def test_evaluation_can_be_added_when_resuming(tmp_path, tiny_ring):
    out = tmp_path / "run"
    gancore.create_run(tiny_ring, out=out).train(10)
    run = gancore.load_run(out, overrides=["eval.every=5", 'eval.metrics=["fid"]', "eval.num_samples=128"])
    run.train(20)
    assert sorted(_evaluations(out)) == [15, 20] and run.best["step"] in (15, 20)
