"""Training in several processes: DDP over gloo on the CPU, two processes started by
torchrun (or ``gancore train --nproc 2``), checked against one process.

The multi-process tests are marked ``slow`` (each starts Python and torch twice); CI runs
them with the rest of the suite.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import gancore
from gancore import GancoreError
from gancore._batches import DeviceBatches
from gancore._random import Random
from tests._distributed_worker import weights_of as weights

WORKER = Path(__file__).with_name("_distributed_worker.py")
ROOT = Path(__file__).resolve().parents[1]

RING = {
    "data": {"name": "ring", "num_samples": 4096},
    "generator": {"name": "mlp", "latent_dim": 8, "hidden": 32, "layers": 2},
    "critic": {"name": "mlp", "hidden": 32, "layers": 2},
    "loss": {"name": "non-saturating"},
    "train": {"steps": 50, "batch_size": 64, "log_every": 10, "sample_every": 0, "checkpoint_every": 0, "device": "cpu"},
}
# WGAN-GP with an EMA: a double backward, five critic updates per step, averaged weights.
RING_GP = copy.deepcopy(RING) | {
    "loss": {"name": "wasserstein"},
    "regularizers": [{"name": "gradient-penalty"}],
    "scheme": {"n_critic": 5},
    "optim": {"lr": 1e-4, "betas": [0.0, 0.9]},
    "ema": {"decay": 0.999},
}


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "GANCORE_LAUNCHED")}
    return env | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)} | extra


def torchrun(*args: str, nproc: int = 2, timeout: float = 240) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", *args]
    return subprocess.run(command, env=environment(), capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def gancore_cli(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gancore", *args], env=environment(), capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a if a[k].is_floating_point())




# ---------------------------------------------------------------- in one process


def test_each_process_takes_its_slice_of_the_same_global_batch():
    data = {"x": torch.arange(40.0).unsqueeze(1)}
    whole = DeviceBatches(data, 8, seed=3)
    shares = [DeviceBatches(data, 8, seed=3, rank=r, world=4) for r in range(4)]
    for _ in range(12):  # across an epoch boundary (5 batches per epoch)
        expected = whole.next()["x"]
        assert torch.equal(torch.cat([s.next()["x"] for s in shares]), expected)


def test_a_global_batch_must_divide_among_the_processes():
    with pytest.raises(GancoreError, match="divide evenly among 3 processes"):
        DeviceBatches({"x": torch.zeros(40, 1)}, 8, seed=0, rank=0, world=3)


def test_per_row_draws_do_not_depend_on_the_number_of_processes():
    one = Random.seeded(5, torch.device("cpu"))
    expected = [one.randn(8, 3), one.rand(8, 1, 1), one.randint(10, 8)]
    parts = []
    for rank in range(2):
        mine = Random.seeded(5, torch.device("cpu"), rank, 2)
        parts.append([mine.randn(4, 3), mine.rand(4, 1, 1), mine.randint(10, 4)])
    for i, full in enumerate(expected):
        assert torch.equal(torch.cat([p[i] for p in parts]), full)


def test_outside_a_run_the_draws_are_plain_torch_draws():
    torch.manual_seed(1)
    a = gancore.Random().randn(3, 2)
    torch.manual_seed(1)
    assert torch.equal(a, torch.randn(3, 2))


def test_a_cuda_generator_state_does_not_break_loading_on_the_cpu():
    rows = Random.seeded(3, torch.device("cpu"))
    rows.load_state_dict({"device": "cuda", "state": torch.zeros(16, dtype=torch.uint8)}, step=7)  # a CUDA run's
    again = Random.seeded(3, torch.device("cpu"))
    again.load_state_dict(None, step=7)  # a checkpoint from before the per-row generator
    a = rows.randn(4, 2)
    assert torch.equal(a, again.randn(4, 2))  # a fresh stream that depends on the step
    fresh = Random.seeded(3, torch.device("cpu"))
    assert not torch.equal(a, fresh.randn(4, 2))  # not the codes the run started with


def test_a_wrapped_network_s_methods_run_through_ddp_and_may_call_the_network(tmp_path):
    """In a gloo group of one: a method that calls the network itself does not recurse, its
    gradients reach the weights, and a frozen network runs unwrapped."""
    import torch.distributed as dist
    from torch import nn

    from gancore._distributed import Processes, Topology

    class Net(nn.Module):
        latent_dim = 3

        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 1)

        def forward(self, x):
            return self.lin(x)

        def score(self, x):
            return self(x).squeeze(1)

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        net = Net()
        processes = Processes(Topology(0, 2, 0), device=torch.device("cpu"))  # as if one of two
        replica = processes.replicas({"net": net})["net"]
        assert replica.latent_dim == 3
        replica.score(torch.ones(4, 3)).sum().backward()
        assert net.lin.weight.grad is not None
        with gancore.frozen(net):
            assert replica.score(torch.ones(2, 3)).shape == (2,)
    finally:
        dist.destroy_process_group()


def test_every_batch_norm_like_layer_s_statistics_are_found():
    from gancore._distributed import _running_statistics
    from gancore_norms.domain_batch import DomainBatchNorm
    from torch import nn

    model = nn.Sequential(nn.BatchNorm1d(4), DomainBatchNorm(4, 2, spatial=False), nn.Linear(4, 4))
    assert len(list(_running_statistics([model]))) == 4


def test_launch_environment_is_read_and_checked(monkeypatch):
    from gancore._distributed import Topology

    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert Topology.from_environment() == Topology(2, 4, 0)
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(GancoreError, match="inconsistent launch environment"):
        Topology.from_environment()
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(GancoreError, match="whole numbers"):
        Topology.from_environment()


def test_each_process_takes_the_device_of_its_local_rank():
    from gancore._engine import resolve_device

    assert resolve_device("auto", local_rank=1).type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu", local_rank=3) == torch.device("cpu")
    with pytest.raises(GancoreError, match="cuda:LOCAL_RANK"):
        resolve_device("cuda:1", local_rank=0)


def test_backends_that_cannot_work_are_refused():
    from gancore._distributed import choose_backend

    cpu = torch.device("cpu")
    assert choose_backend("auto", cpu) == "gloo"
    assert choose_backend("auto", torch.device("cuda", 0)) == "nccl"
    with pytest.raises(GancoreError, match="nccl needs CUDA"):
        choose_backend("nccl", cpu)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU refusal")
def test_sync_batchnorm_is_refused_on_the_cpu():
    run = gancore.create_run(copy.deepcopy(RING), overrides={"train.sync_batchnorm": True, "train.steps": 1})
    with pytest.raises(GancoreError, match="SyncBatchNorm works on CUDA devices only"):
        run.train()


def test_nproc_inside_a_launched_process_is_refused(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from gancore.cli import app

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    result = CliRunner().invoke(app, ["train", "gan-ring", "--nproc", "2", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "already one of a job's" in result.output


def test_python_dash_m_gancore_is_the_cli():
    result = subprocess.run([sys.executable, "-m", "gancore", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "train" in result.stdout


def test_nproc_refuses_a_bad_recipe_once_before_starting_anything(tmp_path):
    result = gancore_cli("train", "gan-ring", "--nproc", "2", "--set", "train.batch_size=0", "--out", "r", cwd=tmp_path)
    assert result.returncode == 2
    assert len(error_lines(result.stderr)) == 1 and "batch_size" in result.stderr
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------- in two processes


@pytest.mark.slow
def test_two_processes_train_exactly_what_one_process_trains(tmp_path):
    """Same data, same latents, same averaged gradients: 50 steps of a GAN and of WGAN-GP
    with an EMA in 2 gloo processes match one process within 1e-5; the EMA copies agree
    across the processes."""
    recipes = {"ring": RING, "ring-gp": RING_GP}
    result = torchrun(str(WORKER), "weights", str(tmp_path / "two.pt"), json.dumps(recipes))
    assert result.returncode == 0, result.stderr[-3000:]
    two = torch.load(tmp_path / "two.pt", weights_only=True)
    for name, recipe in recipes.items():
        one = weights(gancore.create_run(copy.deepcopy(recipe)).train())
        assert max_difference(one, two[name]["weights"]) <= 1e-5, name
        first, second = two[name]["checksums"]
        assert first == second
    assert "ema.generator" in two["ring-gp"]["checksums"][0]  # the GP recipe keeps an EMA


@pytest.mark.slow
def test_every_scheme_keeps_its_replicas_equal_in_two_processes(tmp_path):
    """One built-in recipe per first-party scheme, 3 steps in 2 processes with an EMA:
    each process trained on different rows, so equal weights mean every update's
    gradients were reduced (Twin-GAN's encode/decode methods included)."""
    from tests.test_builtin_recipes import SCHEME_RECIPES, SHORT

    short = SHORT | {"train.steps": 3, "train.batch_size": 8, "ema.decay": 0.9, "eval.every": 0}
    recipes = {name: _expand(name, short) for name in SCHEME_RECIPES}
    result = torchrun(str(WORKER), "weights", str(tmp_path / "all.pt"), json.dumps(recipes), timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    trained = torch.load(tmp_path / "all.pt", weights_only=True)
    for name in SCHEME_RECIPES:
        first, second = trained[name]["checksums"]
        assert first == second, name


@pytest.mark.slow
def test_multi_network_schemes_learn_in_two_processes(tmp_path):
    """CycleGAN's cycle error falls, InfoGAN's Q learns the category, WGAN-GP's critic
    meets its gradient penalty: each in 2 processes, with metrics averaged over them."""
    from tests.test_infogan import TINY as INFOGAN
    from tests.test_translation import CYCLEGAN

    recipes = {
        "cyclegan": _expand("cyclegan-mnist", CYCLEGAN | {"train.steps": 40, "train.log_every": 10, "optim.lr": 1e-3}),
        "infogan": copy.deepcopy(INFOGAN) | {"train": INFOGAN["train"] | {"steps": 60, "log_every": 10}},
        "wgan-gp": copy.deepcopy(RING_GP) | {"train": RING_GP["train"] | {"steps": 60, "log_every": 10}},
    }
    result = torchrun(str(WORKER), "rows", str(tmp_path / "rows.pt"), json.dumps(recipes), timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {name: r["rows"] for name, r in torch.load(tmp_path / "rows.pt", weights_only=True).items()}
    cycle = [r["loss_cycle"] for r in rows["cyclegan"]]
    assert cycle[-1] < 0.7 * cycle[0], cycle
    info = [r["info_categorical"] for r in rows["infogan"]]
    assert info[-1] < 0.6 * info[0], info
    penalty = [r["penalty"] for r in rows["wgan-gp"]]  # the critic learns its gradient-norm target
    assert penalty[-1] < 0.5 * penalty[0], penalty


@pytest.mark.slow
def test_resume_in_two_processes_is_exact_with_per_process_state(tmp_path):
    """CycleGAN keeps a history pool of each process's own fakes, InfoGAN draws its codes
    with gancore.randn, a set past its memory limit is streamed from the image cache:
    stopped halfway and resumed in 2 processes, each ends bit-identical to a straight run
    in 2 processes."""
    from tests.test_infogan import TINY as INFOGAN
    from tests.test_translation import CYCLEGAN

    from tests.test_streaming import _recipe as streamed, noise_images

    recipes = {
        "cyclegan": _expand("cyclegan-mnist", CYCLEGAN | {"train.steps": 6, "ema.decay": 0.9}),
        "infogan": copy.deepcopy(INFOGAN) | {"train": INFOGAN["train"] | {"steps": 6}},
        # Images past data.memory_limit: both processes map one cache and read their rows.
        "streamed": streamed(noise_images(tmp_path / "imgs", 40, size=(16, 16)), 6),
    }
    result = torchrun(str(WORKER), "resume", str(tmp_path / "resume.pt"), json.dumps(recipes), timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = torch.load(tmp_path / "resume.pt", weights_only=True)
    for name in recipes:
        straight, resumed = runs[name]["straight"], runs[name]["resumed"]
        assert straight.keys() == resumed.keys()
        assert all(torch.equal(v, resumed[k]) for k, v in straight.items()), name


def _expand(recipe: str, overrides: dict) -> dict:
    """A built-in recipe with dotted overrides, as a document the worker can take."""
    from gancore._documents import apply_overrides, load_source

    _, doc = load_source(recipe, gancore.registry())
    return apply_overrides(doc, overrides)


@pytest.mark.slow
def test_one_writer_and_resume_across_process_counts(tmp_path):
    """``gancore train --nproc 2``: one metrics line per log step, one csv row, checkpoints
    and samples from rank 0; resumed under 2 processes the run is bit-identical to a
    straight one; resumed in 1 process it trains on, and sample/eval work on it."""
    common = ["--set", "train.log_every=10", "--set", "train.sample_every=20", "--set", "train.checkpoint_every=20",
              "--set", "train.device='cpu'", "--set", "train.num_samples=16", "--set", "data.num_samples=4096",
              "--set", "generator.hidden=32", "--set", "critic.hidden=32", "--set", "train.batch_size=64"]
    straight = gancore_cli("train", "gan-ring", "--nproc", "2", "--out", "straight", "--set", "train.steps=40",
                           "--log-to", "csv", *common, cwd=tmp_path)
    assert straight.returncode == 0, straight.stderr[-3000:]
    assert straight.stdout.count("training gan-ring on cpu") == 1 and "in 2 processes" in straight.stdout
    metrics = [json.loads(line) for line in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [10, 20, 30, 40]
    csv_rows = (tmp_path / "straight" / "metrics.csv").read_text().splitlines()
    assert len(csv_rows) == 1 + 4, csv_rows
    assert sorted(p.name for p in (tmp_path / "straight" / "samples").iterdir()) == ["step-0000020.png", "step-0000040.png"]

    half = gancore_cli("train", "gan-ring", "--nproc", "2", "--out", "half", "--set", "train.steps=20", *common, cwd=tmp_path)
    assert half.returncode == 0, half.stderr[-3000:]
    resumed = gancore_cli("train", "--out", "half", "--resume", "--nproc", "2", "--set", "train.steps=40", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a = torch.load(tmp_path / "straight" / "checkpoints" / "step-0000040.pt", weights_only=True)
    b = torch.load(tmp_path / "half" / "checkpoints" / "step-0000040.pt", weights_only=True)
    for part in ("scheme", "optimizers"):
        assert _flat(a[part]).keys() == _flat(b[part]).keys()
        assert all(torch.equal(x, _flat(b[part])[k]) for k, x in _flat(a[part]).items()), part

    # The two-process run, trained on in one process.
    single = gancore_cli("train", "--out", "straight", "--resume", "--set", "train.steps=50", cwd=tmp_path)
    assert single.returncode == 0, single.stderr[-3000:]
    run = gancore.load_run(tmp_path / "straight")
    assert run.step == 50 and run.processes.world == 1
    assert gancore_cli("sample", "straight", "--num", "8", "--out", "s.npz", cwd=tmp_path).returncode == 0


@pytest.mark.slow
def test_a_killed_process_ends_the_job_with_one_line_and_keeps_the_checkpoint(tmp_path):
    launcher = _long_job(tmp_path, checkpoint_every=20)
    try:
        _wait_for(lambda: list((tmp_path / "r" / "checkpoints").glob("step-*.pt")), launcher)
        second = _process_of_rank(launcher.pid, 1)
        os.kill(second, signal.SIGKILL)
        out, err = launcher.communicate(timeout=120)
    finally:
        launcher.kill()
    assert launcher.returncode != 0
    lines = error_lines(err)
    assert len(lines) == 1 and "process 1 of 2 was killed by SIGKILL" in lines[0], err[-2000:]
    assert "Traceback" not in err, err[-3000:]
    run = gancore.load_run(tmp_path / "r")  # the newest checkpoint is whole
    assert run.step > 0 and run.step % 20 == 0


@pytest.mark.slow
def test_sigterm_to_the_job_saves_once_and_the_run_resumes(tmp_path):
    launcher = _long_job(tmp_path, checkpoint_every=0)
    try:
        _wait_for(lambda: (tmp_path / "r" / "metrics.jsonl").is_file() and (tmp_path / "r" / "metrics.jsonl").read_text(), launcher)
        launcher.send_signal(signal.SIGTERM)
        out, err = launcher.communicate(timeout=120)
    finally:
        launcher.kill()
    assert launcher.returncode == 143, err[-2000:]
    assert err.count("stopped by SIGTERM") == 1 and not error_lines(err), err[-2000:]
    saved = sorted((tmp_path / "r" / "checkpoints").glob("step-*.pt"))
    assert len(saved) == 1
    run = gancore.load_run(tmp_path / "r")
    assert run.step > 0


@pytest.mark.slow
def test_a_divergence_stops_every_process_together(tmp_path):
    result = gancore_cli("train", "gan-ring", "--nproc", "2", "--out", "r", "--set", "optim.name='sgd'",
                         "--set", "optim.lr=1e6", "--set", "train.steps=200", "--set", "train.log_every=10",
                         "--set", "train.device='cpu'", "--set", "data.num_samples=4096", cwd=tmp_path, timeout=200)
    assert result.returncode == 3, result.stderr[-2000:]
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "training diverged" in lines[0], result.stderr[-2000:]


def _flat(tree, prefix: str = "") -> dict[str, torch.Tensor]:
    if isinstance(tree, torch.Tensor):
        return {prefix: tree}
    if isinstance(tree, dict):
        return {k: v for key, value in tree.items() for k, v in _flat(value, f"{prefix}.{key}").items()}
    if isinstance(tree, (list, tuple)):
        return {k: v for i, value in enumerate(tree) for k, v in _flat(value, f"{prefix}.{i}").items()}
    return {prefix: torch.tensor(float(tree))} if isinstance(tree, (int, float)) else {}


def _long_job(cwd: Path, checkpoint_every: int) -> subprocess.Popen:
    """``gancore train --nproc 2`` of a run too long to finish, into ``cwd/r``."""
    return subprocess.Popen(
        [sys.executable, "-m", "gancore", "train", "gan-ring", "--nproc", "2", "--out", "r",
         "--set", "train.steps=100000", "--set", f"train.checkpoint_every={checkpoint_every}", "--set", "train.log_every=20",
         "--set", "train.sample_every=0", "--set", "train.device='cpu'", "--set", "data.num_samples=4096"],
        env=environment(), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _wait_for(condition, process: subprocess.Popen, timeout: float = 150) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the job ended early ({process.returncode}): {process.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)


def _process_of_rank(root: int, rank: int) -> int:
    """The pid of the job's process of ``rank`` among the descendants of ``root`` (Linux /proc)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in environ and f"TORCHELASTIC_RUN_ID=gancore-{root}".encode() in environ:
            return int(entry.name)
    raise AssertionError(f"no process of rank {rank} under {root}")
