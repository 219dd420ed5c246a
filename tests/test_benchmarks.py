"""The benchmark scripts stay runnable: each imports and answers --help (their
measurements run by hand, not in the suite; see docs/benchmarks.md). The device check's
CUDA checks need a GPU; what runs without one (its answer on a machine without CUDA, how it
judges a check, its report) is tested here."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_"))


def load(script: Path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"benchmark_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_script_answers_help(script, monkeypatch, capsys):
    module = load(script, monkeypatch)
    monkeypatch.setattr(sys, "argv", [str(script), "--help"])
    with pytest.raises(SystemExit) as stopped:
        module.main()
    assert stopped.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_every_script_writes_into_the_benchmarks_page():
    page = (BENCHMARKS.parent / "docs" / "benchmarks.md").read_text()
    for script in SCRIPTS:
        assert f"benchmarks/{script.name}" in page, f"docs/benchmarks.md does not describe {script.name}"


def test_device_check_without_cuda_says_so_in_one_line(tmp_path):
    out = tmp_path / "report"
    done = subprocess.run([sys.executable, str(BENCHMARKS / "device_check.py"), "--out", str(out)],
                          env=os.environ | {"CUDA_VISIBLE_DEVICES": ""}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["no CUDA device here (torch.cuda.is_available() is false): nothing to check"]
    assert not out.exists()


@pytest.fixture
def device_check(monkeypatch):
    return load(BENCHMARKS / "device_check.py", monkeypatch)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_check_that_fails_keeps_its_exit_code_and_last_lines(device_check):
    check = device_check.run_check("broken", python("import sys; print('one'); sys.exit('it broke')"), 60,
                                   lambda out: (True, ""))
    assert (check.result, check.note, check.output) == ("fail", "exit code 1", ["it broke"])


def test_a_check_past_its_limit_is_stopped_and_fails(device_check):
    check = device_check.run_check("hangs", python("import time; print('waiting'); time.sleep(60)"), 1,
                                   lambda out: (True, ""))
    assert (check.result, check.note, check.output) == ("fail", "still running after 1 s: stopped", ["waiting"])
    assert check.seconds < 30


def test_a_check_fails_when_its_verdict_cannot_read_what_it_left(device_check):
    def verdict(out: str) -> tuple[bool, str]:
        return True, json.loads(out)["missing"]

    check = device_check.run_check("no result", python("print('{}')"), 60, verdict)
    assert (check.result, check.note) == ("fail", "KeyError: 'missing'")
    passed = device_check.run_check("result", python("print('{\"x\": 1}')"), 60, lambda out: (True, out.strip()))
    assert (passed.result, passed.note, passed.output) == ("pass", '{"x": 1}', [])


def test_the_device_report_is_a_table_and_json(device_check, tmp_path, capsys):
    Check = device_check.Check
    checks = [
        Check("train gan-ring fp32", "pass", 4.2),
        Check("train gan-ring fp16", "fail", 3.0, "exit code 3", ["error: step 2: the loss | is nan"]),
        Check("ddp nccl", "skipped", note="one GPU"),
    ]
    facts = {"gpus": ["GPU A"], "torch": "2.13.0", "cuda": "12.8", "bf16": True, "nccl": True}
    args = argparse.Namespace(out=tmp_path / "report", steps=10, rounds=5, jobs=2, minutes=5.0)
    args.out.mkdir()
    markdown = device_check.write_report(checks, facts, args)
    assert (args.out / "report.md").read_text() == markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert rows[0] == "| check | result | seconds | note |"
    assert rows[2] == "| train gan-ring fp32 | pass | 4.2 |  |"
    assert rows[3] == "| train gan-ring fp16 | fail | 3.0 | exit code 3 / error: step 2: the loss \\| is nan |"
    assert rows[4] == "| ddp nccl | skipped | 0.0 | one GPU |"
    assert "1 passed, 1 failed, 1 skipped" in markdown
    report = json.loads((args.out / "report.json").read_text())
    assert report["counts"] == {"pass": 1, "fail": 1, "skipped": 1}
    assert report["checks"][1]["output"] == ["error: step 2: the loss | is nan"]
    assert sorted(p.name for p in args.out.iterdir()) == ["report.json", "report.md"]


def test_the_speed_check_measures_channels_last_and_reports_its_ratios(device_check):
    assert device_check.speed_variants(False) == ["fp32", "channels_last"]
    assert device_check.speed_variants(True) == ["fp32", "channels_last", "bf16", "bf16+channels_last"]
    measured = {}
    speeds = {"hand": 100.0, "hand channels_last": 110.0, "fp32": 120.0, "channels_last": 150.0, "bf16": 200.0,
              "bf16+channels_last": 260.0}
    passed, note = device_check.speed_ratio(5, measured)("warming up\n" + json.dumps(speeds))
    assert passed and measured == speeds
    assert note.startswith("gancore 120.0 steps/s, hand-written loop 100.0 steps/s: ratio 1.20")
    assert "channels_last 150.0 steps/s, 1.25x fp32 (hand-written loop in channels_last 110.0)" in note
    assert note.endswith("bf16 200.0, bf16+channels_last 260.0 steps/s, 1.30x bf16")


@pytest.fixture
def speed(monkeypatch):
    return load(BENCHMARKS / "speed.py", monkeypatch)


def test_speed_cases_are_its_own_or_any_built_in_recipe(speed):
    assert speed.case("dcgan-mnist") == speed.CASES["dcgan-mnist"]
    recipe, overrides, described = speed.case("wgan-gp-mnist")  # as it is, described by its summary
    assert (recipe, overrides) == ("wgan-gp-mnist", {}) and "WGAN" in described
    with pytest.raises(ValueError, match="unknown case 'nope'"):
        speed.case("nope")


def test_the_hand_written_loop_writes_the_recipes_objective_in_either_format(speed):
    import torch

    import gancore

    small = {"train.device": "cpu", "data.limit": 64, "train.batch_size": 16}
    run = gancore.create_run("dcgan-mnist", overrides=small | {"loss.name": "non-saturating"})
    assert speed.hand_update(run.recipe) is speed.hand_written_step
    with pytest.raises(ValueError, match="not hinge"):
        speed.hand_update(gancore.create_run("dcgan-mnist", overrides=small).recipe)
    r3gan = {"loss.name": "rpgan", "regularizers": [{"name": "r1", "weight": 0.5}, {"name": "r2", "weight": 0.5}]}
    run = gancore.create_run("dcgan-mnist", overrides=small | r3gan)
    update = speed.hand_update(run.recipe)
    assert update.func is speed.hand_written_r3gan_step and update.keywords == {"gamma": 0.5, "every": 1}
    hand = speed.HandLoop(run, channels_last=True)
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in hand.D.parameters() if p.dim() == 4)
    before = [p.detach().clone() for p in hand.D.parameters()]
    hand.train(2)
    assert all(torch.isfinite(p).all() for p in hand.D.parameters())
    assert any(not torch.equal(a, p) for a, p in zip(before, hand.D.parameters()))


def test_the_hand_written_r3gan_loop_regularizes_lazily_as_the_recipe_does(speed, monkeypatch):
    import gancore

    r3gan = {"train.device": "cpu", "data.limit": 64, "train.batch_size": 16, "train.regularize_every": 4,
             "loss.name": "rpgan", "regularizers": [{"name": "r1", "weight": 0.5}, {"name": "r2", "weight": 0.5}]}
    hand = speed.HandLoop(gancore.create_run("dcgan-mnist", overrides=r3gan))
    assert hand.update.keywords == {"gamma": 0.5, "every": 4}
    group = hand.opt_d.param_groups[0]  # StyleGAN2's adjustment, c = 4 / 5
    assert group["lr"] == pytest.approx(5e-4 * 0.8) and group["betas"] == pytest.approx([0.5**0.8, 0.999**0.8])
    assert hand.opt_g.param_groups[0]["lr"] == 5e-4
    updates = []
    monkeypatch.setattr(hand.opt_d, "step", lambda: updates.append(hand.steps))
    hand.train(5)
    assert updates == [0, 0, 1, 2, 3, 4, 4]  # steps 0 and 4 take the penalties' update too
