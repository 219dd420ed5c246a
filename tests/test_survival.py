"""Runs that survive: a signal saves a whole step and a resumed run is bit-identical; one
writer per run directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import tomli_w

import gancore
from gancore import _checkpoint as ckpt
from gancore._rundir import RunLock

CLI = [sys.executable, "-c", "from gancore.cli import main; main()"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def recipe_file(tmp_path: Path, tiny_ring: dict, steps: int) -> Path:
    tiny_ring["train"] |= {"steps": steps, "log_every": 10, "checkpoint_every": 0}
    path = tmp_path / "recipe.toml"
    path.write_text(tomli_w.dumps(tiny_ring))
    return path


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    step, path = ckpt.list_checkpoints(run_dir / "checkpoints")[-1]
    return ckpt.load(path)["scheme"]


def wait_for_a_log_line(run_dir: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        metrics = run_dir / "metrics.jsonl"
        if metrics.exists() and metrics.read_text().count("\n") >= 2:
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended before the signal: {proc.communicate()}")
        time.sleep(0.05)
    pytest.fail("no log line in time")


STEPS = 1500


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The uninterrupted run every stopped one is compared with."""
    import copy

    from tests.conftest import TINY_RING

    tmp = tmp_path_factory.mktemp("straight")
    recipe = recipe_file(tmp, copy.deepcopy(TINY_RING), steps=STEPS)
    done = subprocess.run([*CLI, "train", str(recipe), "--out", str(tmp / "run")], env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return tmp / "run"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1, signal.SIGINT], ids=lambda s: signal.Signals(s).name)
def test_a_signal_saves_the_step_and_the_resumed_run_is_bit_identical(tmp_path, tiny_ring, straight, signum):
    recipe = recipe_file(tmp_path, tiny_ring, steps=STEPS)

    out = tmp_path / "stopped"
    proc = subprocess.Popen([*CLI, "train", str(recipe), "--out", str(out)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_a_log_line(out, proc)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, stderr
    name = signal.Signals(signum).name
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"stopped by {name} at step" in lines[0] and "--resume" in lines[0], stderr
    stopped_at = ckpt.list_checkpoints(out / "checkpoints")[-1][0]
    assert 0 < stopped_at < STEPS

    resumed = subprocess.run([*CLI, "train", "--out", str(out), "--resume"], env=ENV,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    a, b = weights(straight), weights(out)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_one_writer_per_run_directory(tmp_path, tiny_ring):
    out = tmp_path / "run"
    run = gancore.create_run(tiny_ring, out=out)
    with RunLock(out):  # another process holding the run (flock: per open file, so this conflicts too)
        with pytest.raises(gancore.GancoreError, match=r"is in use: another gancore process \(pid \d+\)"):
            run.train()
    run.train()  # free again: the lock went with its holder
    assert run.step == 20
    with pytest.raises(gancore.GancoreError, match="already holds a run"):
        gancore.create_run(tiny_ring, out=out)


def test_two_concurrent_writers_exactly_one_runs(tmp_path, tiny_ring):
    recipe = recipe_file(tmp_path, tiny_ring, steps=400)
    out = tmp_path / "shared"
    procs = [subprocess.Popen([*CLI, "train", str(recipe), "--out", str(out)], env=ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), p.communicate()[1]) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert "is in use" in refused or "already" in refused, refused
    steps = [line for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(steps) == 40  # one writer's lines, not two interleaved


# ---------------------------------------------------------------- checkpoint hygiene


def _damage(path: Path, how: str) -> None:
    if how == "empty":
        path.write_bytes(b"")
    elif how == "two-bytes":
        path.write_bytes(b"PK")
    elif how == "junk":
        path.write_bytes(os.urandom(300))
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif how == "directory":
        path.unlink()
        path.mkdir()
    elif how in ("no-step", "newer-format", "not-a-dict"):
        data = torch.load(path, weights_only=True)
        if how == "no-step":
            del data["step"]
        elif how == "newer-format":
            data["format"] = ckpt.FORMAT + 1
        else:
            data = [1, 2, 3]
        torch.save(data, path)


DAMAGE = ["empty", "two-bytes", "junk", "truncated", "directory", "no-step", "newer-format", "not-a-dict"]


@pytest.fixture
def two_checkpoints(tiny_ring, tmp_path):
    out = tmp_path / "run"
    gancore.create_run(tiny_ring, overrides={"train.checkpoint_every": 10}, out=out).train()
    return out


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_newest_checkpoint_falls_back_with_one_warning_line(two_checkpoints, how):
    from typer.testing import CliRunner

    from gancore.cli import app

    _damage(two_checkpoints / "checkpoints" / "step-0000020.pt", how)
    with pytest.warns(ckpt.CheckpointWarning, match="skipped a damaged checkpoint"):
        assert gancore.load_run(two_checkpoints).step == 10
    result = CliRunner().invoke(app, ["sample", str(two_checkpoints), "--num", "4", "--out", str(two_checkpoints / "s.npz")])
    assert result.exit_code == 0, result.output
    warnings_ = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings_) == 1 and "step-0000020.pt" in warnings_[0], result.output
    assert "Traceback" not in result.output and "wrote 4 samples from step 10" in result.output


def test_no_good_checkpoint_is_one_line_and_exit_2(two_checkpoints):
    from typer.testing import CliRunner

    from gancore.cli import app

    for step, how in ((10, "empty"), (20, "no-step")):
        _damage(two_checkpoints / "checkpoints" / f"step-{step:07d}.pt", how)
    for command in (["sample", str(two_checkpoints)], ["train", "--out", str(two_checkpoints), "--resume"]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2, result.output
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "no loadable checkpoint" in errors[0] and "Traceback" not in result.output


def test_stale_temporaries_are_removed_at_the_next_save(two_checkpoints):
    folder = two_checkpoints / "checkpoints"
    stale = folder / ".step-0000020.pt.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    gancore.load_run(two_checkpoints, overrides=["train.steps=30"]).train()
    assert not stale.exists() and (folder / "step-0000030.pt").is_file()


def test_a_format_1_checkpoint_still_loads(two_checkpoints):
    path = two_checkpoints / "checkpoints" / "step-0000020.pt"
    data = torch.load(path, weights_only=True)
    for key in ("updates", "finite"):
        del data[key]
    data["format"] = 1
    torch.save(data, path)
    run = gancore.load_run(two_checkpoints, overrides=["train.steps=25"])
    assert run.step == 20 and run.finite
    run.train()
    assert run.step == 25


def test_ctrl_c_while_the_command_starts_is_one_line(tmp_path):
    import shutil

    exe = shutil.which("gancore")
    if exe is None:
        pytest.skip("the gancore command is not installed")
    if not Path("/proc/self/maps").exists():
        pytest.skip("needs /proc to see when torch is being imported")
    proc = subprocess.Popen([exe, "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    maps = Path(f"/proc/{proc.pid}/maps")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "libtorch" not in maps.read_text(errors="ignore"):
        time.sleep(0.005)  # wait until torch's libraries load: gancore's import is under way
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and stderr.strip().splitlines() == ["error: interrupted"], stderr


def test_a_run_loaded_at_an_older_checkpoint_samples_but_does_not_train_on(tiny_ring, tmp_path):
    out = tmp_path / "run"
    gancore.create_run(tiny_ring, overrides={"train.checkpoint_every": 10}, out=out).train()
    old = gancore.load_run(out, step=10)
    assert old.sample(4).shape == (4, 2)
    with pytest.raises(gancore.GancoreError, match=r"not at its newest checkpoint \(20\)"):
        old.train(15)
    assert [s for s, _ in ckpt.list_checkpoints(out / "checkpoints")] == [10, 20]
