"""``gancore sweep``: the sweep file checked like a recipe, trials as ordinary runs, failed
and pruned trials, a sweep that survives kill -9, and two processes on one SQLite study."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import optuna  # the test extra installs it: pip install -e ".[test]"
import pytest
import tomli_w
from typer.testing import CliRunner

import gancore
from gancore.cli import app
from tests.conftest import TINY_RING

CLI = [sys.executable, "-c", "from gancore.cli import main; main()"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def tiny_recipe(steps: int, **train: object) -> dict:
    recipe = copy.deepcopy(TINY_RING)
    recipe["train"] |= {"steps": steps, "log_every": 10, "checkpoint_every": 0, **train}
    recipe["eval"] = {"num_samples": 256}
    return recipe


def sweep_file(tmp_path: Path, stem: str = "sweep", **table: object) -> Path:
    path = tmp_path / f"{stem}.toml"
    path.write_text(tomli_w.dumps(table))
    return path


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def study(folder: Path, name: str):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{folder / 'study.db'}")


def by_state(trials) -> dict[str, list]:
    out: dict[str, list] = {}
    for t in trials:
        out.setdefault(t.state.name, []).append(t)
    return out


# -- the sweep file --------------------------------------------------------------------------


def test_every_problem_of_a_sweep_file_is_reported_at_once(tmp_path):
    path = sweep_file(
        tmp_path, recipe="gan-ring", trials=0,
        overrides={"train.stepz": 400},
        space={"optim.lrr": {"low": 1e-5, "high": 1e-2, "log": True}, "loss.name": ["non-saturating", "hinj"],
               "critic.hidden": {"low": 5, "high": 2}, "eval.every": [10, 20]},
        objective={"metric": "modes.qualty"}, sampler={"name": "tpe", "sed": 3}, pruner="medain")
    result = invoke("sweep", path, "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for expected in ["has 9 errors:", "trials: Input should be greater than or equal to 1",
                     "recipe with [overrides] and [objective]: train.stepz: unknown parameter; did you mean 'steps'?",
                     'space."optim.lrr" = 1e-05: optim.lrr: unknown parameter',
                     'space."loss.name" = "hinj": loss.name: unknown loss \'hinj\'; did you mean \'hinge\'?',
                     'space."critic.hidden": low (5) must be below high (2)',
                     'space."eval.every": set by [objective] every',
                     "objective.metric: metric 'modes' reports no value 'qualty'",
                     "sampler.sed: Optuna's tpe sampler takes no parameter 'sed'",
                     "pruner.name: unknown pruner 'medain'; did you mean 'median'?"]:
        assert expected in result.output, expected
    assert not (tmp_path / "out").exists()  # nothing is written for a refused sweep


def test_without_optuna_one_line_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna now raises ImportError
    result = invoke("sweep", tmp_path / "any.toml")
    assert result.exit_code == 2
    assert result.output == 'error: gancore sweep needs Optuna: pip install "gancore[sweep]"\n'


def test_importing_gancore_does_not_import_optuna():
    code = "import sys, gancore, gancore.cli; print('optuna' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr


# -- trials ----------------------------------------------------------------------------------


def test_trials_are_runs_the_sweep_continues_and_show_prints_the_table(tmp_path):
    losses = ["non-saturating", "hinge", "least-squares", "wasserstein"]
    table = dict(recipe=tiny_recipe(40), name="tiny", trials=3, space={"loss.name": losses},
                 objective={"metric": "fid", "every": 20}, sampler={"name": "grid", "seed": 0})
    path = sweep_file(tmp_path, **table)
    out = tmp_path / "sw"
    result = invoke("sweep", path, "--out", out, "--threads", 1)
    assert result.exit_code == 0, result.output
    assert result.output.count(" complete at step 40: fid ") == 3
    trials = study(out, "sweep").trials
    assert len({t.params["loss.name"] for t in trials}) == 3
    for t in trials:
        run = out / t.user_attrs["run"]
        recipe = tomllib.loads((run / "recipe.toml").read_text())
        assert recipe["loss"]["name"] == t.params["loss.name"] and recipe["eval"]["every"] == 20
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert [r["step"] for r in rows if "fid" in r] == [20, 40]
        assert t.intermediate_values == {20: rows[1]["fid"], 40: rows[-1]["fid"]} and t.value == rows[-1]["fid"]
        assert gancore.load_run(run).step == 40  # an ordinary run directory
    best = min(trials, key=lambda t: t.value)
    written = tomllib.loads((out / "best.toml").read_text())
    assert written["loss"]["name"] == best.params["loss.name"] and "threads" not in written["train"]
    gancore.create_run(out / "best.toml")  # ready for gancore train

    again = invoke("sweep", path, "--out", out, "--threads", 1)  # the same command: nothing left to do
    assert again.exit_code == 0 and "3 finished already" in again.output
    assert not any(line.startswith("trial ") for line in again.output.splitlines())
    assert len(study(out, "sweep").trials) == 3

    shown = invoke("sweep", out, "--show")
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[1].split() == ["trial", "state", "fid", "step", "seconds", "loss.name", "run", "note"]
    assert [line.split()[:4] for line in lines[2:5]] == [[str(t.number), "complete", f"{t.value:.4g}", "40"] for t in trials]
    assert f"best: trial {best.number}, fid {best.value:.4g}" in shown.output
    data = json.loads(invoke("sweep", out, "--show", "--json").output)
    assert data["best"]["trial"] == best.number and len(data["trials"]) == 3 and set(data["importances"]) == {"loss.name"}
    assert [row["values"] for row in data["trials"]] == [{"20": t.intermediate_values[20], "40": t.value} for t in trials]

    other = sweep_file(tmp_path, stem="other", **(table | {"space": {"loss.name": ["hinge"]}, "study": "sweep"}))
    refused = invoke("sweep", other, "--out", out)
    assert refused.exit_code == 2 and "holds another sweep (its space differ" in refused.output

    sweep_file(tmp_path, **(table | {"trials": 4}))  # more trials: the same study goes on
    more = invoke("sweep", path, "--out", out, "--threads", 1)
    assert more.exit_code == 0 and "3 finished already" in more.output and " complete at step 40" in more.output
    assert sorted(t.params["loss.name"] for t in study(out, "sweep").trials) == sorted(losses)


def test_a_refused_value_and_a_diverging_run_fail_their_trials_and_the_sweep_goes_on(tmp_path):
    recipe = tiny_recipe(40) | {"optim": {"name": "sgd", "lr": 0.01}}
    path = sweep_file(tmp_path, recipe=recipe, trials=4, space={"optim.lr": [0.01, 50.0], "critic.pack": [1, 3]},
                      objective={"metric": "fid", "every": 20}, sampler="grid")
    result = invoke("sweep", path, "--out", tmp_path / "sw", "--threads", 1)
    assert result.exit_code == 0, result.output
    states = by_state(study(tmp_path / "sw", "sweep").trials)
    assert len(states["COMPLETE"]) == 1 and len(states["FAIL"]) == 3
    reasons = sorted(t.user_attrs["failure"] for t in states["FAIL"])
    assert sum("not divisible by the critic's pack size 3" in r for r in reasons) == 2
    assert any("loss is nan; training diverged" in r for r in reasons)
    assert "done: 4 trials finished; best: trial" in result.output


def test_the_pruner_stops_a_poor_trial_early(tmp_path):
    """Optuna's threshold pruner: the trial whose FID is above 1 at its first evaluation
    stops there; the other trains to the end."""
    path = sweep_file(tmp_path, recipe=tiny_recipe(80), trials=2, space={"optim.lr": [1e-7, 3e-3]},
                      objective={"metric": "fid", "every": 20}, sampler="grid",
                      pruner={"name": "threshold", "upper": 1.0})
    result = invoke("sweep", path, "--out", tmp_path / "sw", "--threads", 1)
    assert result.exit_code == 0, result.output
    states = by_state(study(tmp_path / "sw", "sweep").trials)
    (pruned,), (complete,) = states["PRUNED"], states["COMPLETE"]
    assert pruned.user_attrs["step"] == 20 and pruned.value == pruned.intermediate_values[20] > 1.0
    assert complete.user_attrs["step"] == 80
    # The pruned run kept the step it reached: it can be resumed like any run.
    assert gancore.load_run(tmp_path / "sw" / pruned.user_attrs["run"]).step == 20


# -- surviving a kill, and several processes --------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_a_stopped_sweep_continues_with_the_same_command_and_loses_or_repeats_no_trial(tmp_path, signum):
    """kill -9 leaves trial 1 running in the study, Ctrl-C lets it save its step: either
    way the same command marks it retried, resumes its run from its newest checkpoint in a
    new trial, and ends with the requested three."""
    path = sweep_file(tmp_path, recipe=tiny_recipe(150, checkpoint_every=10), trials=3,
                      space={"optim.lr": {"low": 1e-4, "high": 1e-3, "log": True}},
                      objective={"metric": "fid", "every": 50}, sampler={"name": "random", "seed": 1}, pruner="none")
    out = tmp_path / "sw"
    command = [*CLI, "sweep", str(path), "--out", str(out), "--threads", "1"]
    proc = subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = out / "trials" / "0001" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (metrics.exists() and metrics.read_text().count("\n") >= 6):  # trial 1 is at step 60 or so
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "trial 1 did not start in time"
        time.sleep(0.05)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    before = study(out, "sweep").trials
    if signum == signal.SIGKILL:
        assert [t.state.name for t in before] == ["COMPLETE", "RUNNING"]
    else:
        assert proc.returncode == 130, stderr
        assert "stopped with 1 of 3 trials finished" in stderr and "Continue with: gancore sweep" in stderr
        assert [t.state.name for t in before] == ["COMPLETE", "FAIL", "WAITING"]
        assert before[1].user_attrs["failure"].startswith("stopped by SIGINT at step ")

    done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert ("trial 1: its process ended while it ran; queued again" in done.stdout) == (signum == signal.SIGKILL)
    trials = study(out, "sweep").trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert trials[0].value == before[0].value  # the finished trial is kept as it was
    assert trials[1].user_attrs["retried"] is True
    resumed = trials[2]
    assert resumed.user_attrs["resumes"] == 1 and resumed.user_attrs["run"] == "trials/0001"
    assert resumed.params == trials[1].params
    assert "continuing trial 1" in done.stdout
    # The stopped trial's run went on from its newest checkpoint, not from scratch.
    steps = [json.loads(line)["step"] for line in metrics.read_text().splitlines()]
    assert steps == list(range(10, 160, 10))
    assert sorted(resumed.intermediate_values) == [50, 100, 150]
    assert {t.user_attrs["run"] for t in trials if t.state.name == "COMPLETE"} == {"trials/0000", "trials/0001", "trials/0003"}


def test_two_processes_on_one_sqlite_study_finish_the_trials_together(tmp_path):
    path = sweep_file(tmp_path, recipe=tiny_recipe(30), trials=5, space={"optim.lr": {"low": 1e-4, "high": 1e-2, "log": True}},
                      objective={"metric": "fid", "every": 30}, sampler={"name": "tpe", "seed": 0})
    out = tmp_path / "sw"
    done = subprocess.run([*CLI, "sweep", str(path), "--out", str(out), "--jobs", "2", "--threads", "1"], env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "locked" not in done.stderr and "error" not in done.stderr, done.stderr
    trials = study(out, "sweep").trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 5
    assert len({t.user_attrs["run"] for t in trials}) == 5
    assert done.stdout.count(" complete at step 30: fid ") == 5
