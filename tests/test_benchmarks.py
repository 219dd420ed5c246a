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
