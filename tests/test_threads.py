"""CPU threads: train.threads, ``--threads`` on every command that computes, ``threads=``
in Python; the thread count is process-wide, so each test puts torch's back."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import torch
from PIL import Image

import gancore
from gancore import GancoreError

ROOT = Path(__file__).resolve().parents[1]
TINY = {"train.steps": 2, "train.log_every": 1, "train.sample_every": 0, "train.checkpoint_every": 0,
        "train.device": "cpu"}


@pytest.fixture(autouse=True)
def keep_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_threads_in_python_set_the_recipe_and_torch(tmp_path):
    torch.set_num_threads(2)
    run = gancore.create_run("gan-ring", overrides=TINY, threads=1, out=tmp_path / "run")
    assert run.recipe.train.threads == 1 and torch.get_num_threads() == 1
    run.train()
    saved = tomllib.loads((tmp_path / "run" / "recipe.toml").read_text())
    assert saved["train"]["threads"] == 1
    torch.set_num_threads(2)
    again = gancore.load_run(tmp_path / "run", overrides=["train.steps=3"], threads=1)
    assert again.recipe.train.threads == 1 and torch.get_num_threads() == 1  # resumable: no weight depends on it


@pytest.mark.parametrize("value", ["2", 1.0, True, 0])
def test_a_thread_count_that_is_not_a_positive_integer_is_refused(value):
    with pytest.raises(GancoreError, match="train.threads"):
        gancore.create_run("gan-ring", overrides=TINY, threads=value)
    with pytest.raises(GancoreError, match="train.threads"):
        gancore.create_run("gan-ring", overrides=[f"train.steps=2"], threads=value)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gancore", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


def test_every_command_that_computes_takes_threads(tmp_path):
    run = tmp_path / "run"
    done = cli("train", "gan-ring", "--threads", "1", "--out", str(run), *[f"--set={k}={v!r}".replace("'", '"') for k, v in TINY.items()])
    assert done.returncode == 0, done.stderr
    assert tomllib.loads((run / "recipe.toml").read_text())["train"]["threads"] == 1
    images = tmp_path / "images"
    images.mkdir()
    for i in range(4):
        Image.new("RGB", (8, 8), (60 * i, 0, 0)).save(images / f"{i}.png")
    for command in (["sample", str(run), "--num", "8", "--out", str(tmp_path / "s.npz")],
                    ["eval", str(run), "--metrics", "modes", "--num", "64"],
                    ["stats", str(images), "--features", "identity", "--out", str(tmp_path / "ref.npz")]):
        done = cli(*command, "--threads", "1")
        assert done.returncode == 0, done.stderr
    done = cli("sample", str(run), "--threads", "0")
    assert done.returncode == 2 and "--threads" in done.stderr


def test_an_unset_thread_count_leaves_the_cores_other_processes_keep_busy(monkeypatch):
    from gancore import _threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(_threads, "_checked", False)
    monkeypatch.setattr(_threads, "usable_cores", lambda: 4)
    monkeypatch.setattr(_threads, "busy_cores", lambda: 2.2)
    torch.set_num_threads(4)
    with pytest.warns(_threads.ThreadsWarning, match=r"keep 2.2 of this machine's 4 cores busy: training with 2 threads"):
        _threads.choose_threads(None, device=torch.device("cpu"), distributed=False)
    assert torch.get_num_threads() == 2
    # Once per process; never over an explicit count, a launcher's division or another device.
    torch.set_num_threads(4)
    _threads.choose_threads(None, device=torch.device("cpu"), distributed=False)
    assert torch.get_num_threads() == 4
    monkeypatch.setattr(_threads, "_checked", False)
    _threads.choose_threads(3, device=torch.device("cpu"), distributed=False)
    assert torch.get_num_threads() == 3
    for device, distributed in ((torch.device("cpu"), True), (torch.device("meta"), False)):
        monkeypatch.setattr(_threads, "_checked", False)
        _threads.choose_threads(None, device=device, distributed=distributed)
        assert torch.get_num_threads() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    monkeypatch.setattr(_threads, "_checked", False)
    _threads.choose_threads(None, device=torch.device("cpu"), distributed=False)
    assert torch.get_num_threads() == 3


def test_an_idle_machine_keeps_every_core(monkeypatch):
    from gancore import _threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(_threads, "_checked", False)
    monkeypatch.setattr(_threads, "busy_cores", lambda: 0.3)
    torch.set_num_threads(2)
    _threads.choose_threads(None, device=torch.device("cpu"), distributed=False)
    assert torch.get_num_threads() == 2


def test_busy_cores_reads_the_machine():
    busy = __import__("gancore._threads", fromlist=["busy_cores"]).busy_cores(0.05)
    assert busy is None or 0 <= busy <= (__import__("os").cpu_count() or 1) + 1e-6
