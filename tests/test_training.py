"""The training engine: reproducibility, exact resume, checkpoints, and learning."""

from __future__ import annotations

import json
import math
import tomllib

import pytest
import tomli_w
import torch

from gancore import GancoreError
from gancore._optim import lr_factor
from gancore._run import Run


def weights(run: Run) -> dict[str, torch.Tensor]:
    out = {f"scheme.{k}": v for k, v in run.scheme.state_dict().items()}
    for name, avg in run.ema.items():
        out |= {f"ema.{name}.{k}": v for k, v in avg.state_dict().items()}
    return out


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# A recipe that exercises every piece of state: BN buffers, EMA, n_critic, a penalty
# drawing random interpolates, and more batches than one epoch holds.
RESUME_OVERRIDES = {
    "generator.norm": "batch",
    "scheme.n_critic": 2,
    "regularizers": [{"name": "gradient-penalty", "weight": 1.0}],
    "ema.decay": 0.9,
    "data.num_samples": 512,
    "train.steps": 40,
    "train.checkpoint_every": 0,
}


@pytest.mark.parametrize("extra", [{}, {"train.amp": "bf16"}, {"train.amp": "fp16"}, {"optim.clip_norm": 0.5}],
                         ids=["fp32", "bf16", "fp16", "clip"])
def test_resume_gives_identical_weights(tiny_ring, tmp_path, extra):
    overrides = RESUME_OVERRIDES | extra
    straight = Run.create(tiny_ring, overrides=overrides, out=tmp_path / "straight").train()
    half = Run.create(tiny_ring, overrides=overrides | {"train.steps": 20}, out=tmp_path / "half").train()
    assert half.step == 20
    resumed = Run.load(tmp_path / "half", overrides=["train.steps=40"])
    assert resumed.step == 20
    resumed.train()
    assert resumed.step == 40
    assert_same(weights(straight), weights(resumed))
    for group, scaler in straight.engine.scalers.items():  # fp16: the loss scales resume too
        assert scaler.state_dict() == resumed.engine.scalers[group].state_dict()
    # metrics.jsonl continues without duplicated steps
    steps = [json.loads(line)["step"] for line in (tmp_path / "half" / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 40


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_lr_schedule_runs_its_course_and_resumes_exactly(tiny_ring, tmp_path, schedule):
    overrides = RESUME_OVERRIDES | {"optim.schedule": schedule, "optim.final_lr": 0.1, "optim.critic.lr": 1e-3}
    straight = Run.create(tiny_ring, overrides=overrides, out=tmp_path / "straight").train()
    # the last step was taken at step 39 of 40: close to, not yet at, the final rate
    assert straight.optimizers["generator"].param_groups[0]["lr"] == pytest.approx(2e-4 * lr_factor(schedule, 39, 40, 0.1))
    assert straight.optimizers["critic"].param_groups[0]["lr"] == pytest.approx(1e-3 * lr_factor(schedule, 39, 40, 0.1))
    interrupted = Run.create(tiny_ring, overrides=overrides, out=tmp_path / "half").train(20)
    assert interrupted.optimizers["generator"].param_groups[0]["lr"] < 2e-4
    resumed = Run.load(tmp_path / "half").train()
    assert_same(weights(straight), weights(resumed))


def test_a_run_written_before_optimizer_tables_were_parts_resumes_a_schedule_exactly(tiny_ring, tmp_path):
    """The schedule scales each param group's base rate, which the optimizer's state keeps
    as ``initial_lr``. A checkpoint written before it did holds only its step's rate: the
    base rate is then the recipe's. The run's saved recipe then listed every key of the
    shared optimizer vocabulary in each group's table, adam's included momentum."""
    overrides = RESUME_OVERRIDES | {"optim.schedule": "cosine", "optim.final_lr": 0.1, "optim.critic.lr": 1e-3}
    straight = Run.create(tiny_ring, overrides=overrides, out=tmp_path / "straight").train()
    assert [o.param_groups[0]["initial_lr"] for o in straight.optimizers.values()] == [2e-4, 1e-3]
    Run.create(tiny_ring, overrides=overrides, out=tmp_path / "half").train(20)
    saved = tmp_path / "half" / "recipe.toml"
    recipe = tomllib.loads(saved.read_text())
    for table in recipe["optim"].values():
        table["momentum"] = 0.0
    saved.write_text(tomli_w.dumps(recipe))
    path = tmp_path / "half" / "checkpoints" / "step-0000020.pt"
    state = torch.load(path, weights_only=True)
    for optimizer in state["optimizers"].values():
        for group in optimizer["param_groups"]:
            del group["initial_lr"]
    torch.save(state, path)
    resumed = Run.load(tmp_path / "half")
    assert [o.param_groups[0]["initial_lr"] for o in resumed.optimizers.values()] == [2e-4, 1e-3]
    resumed.train()
    assert_same(weights(straight), weights(resumed))


def test_resuming_with_more_steps_stretches_the_rest_of_the_schedule(tiny_ring, tmp_path):
    """As docs/recipes.md states: the schedule spans train.steps, so a run of 40 steps
    resumed at 20 with train.steps = 80 takes step k at lr_factor(k, 80)."""
    overrides = RESUME_OVERRIDES | {"optim.schedule": "linear", "optim.final_lr": 0.0}
    Run.create(tiny_ring, overrides=overrides, out=tmp_path / "run").train(20)
    longer = Run.load(tmp_path / "run", overrides=["train.steps=80"])
    longer.train(30)
    assert longer.step == 30
    assert longer.optimizers["generator"].param_groups[0]["lr"] == pytest.approx(2e-4 * lr_factor("linear", 29, 80, 0.0))
    assert longer.optimizers["generator"].param_groups[0]["lr"] > 2e-4 * lr_factor("linear", 29, 40, 0.0)


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [("constant", [1.0, 1.0, 1.0]), ("linear", [1.0, 0.55, 0.1]), ("cosine", [1.0, 0.55, 0.1])],
)
def test_lr_factor_endpoints(schedule, expected):
    assert [lr_factor(schedule, s, 100, 0.1) for s in (0, 50, 100)] == pytest.approx(expected)
    assert lr_factor("cosine", 25, 100, 0.0) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))


def test_same_seed_same_run_other_seed_differs(tiny_ring):
    a = Run.create(tiny_ring, overrides={"train.steps": 5}).train()
    b = Run.create(tiny_ring, overrides={"train.steps": 5}).train()
    c = Run.create(tiny_ring, overrides={"train.steps": 5, "train.seed": 1}).train()
    assert_same(weights(a), weights(b))
    assert not torch.equal(a.sample(16), c.sample(16))


def test_run_directory_contents(tiny_ring, tmp_path):
    out = tmp_path / "run"
    run = Run.create(tiny_ring, out=out).train()
    assert (out / "recipe.toml").is_file()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [5, 10, 15, 20]
    assert {"loss_critic", "loss_generator", "seconds"} <= rows[-1].keys()
    assert (out / "samples" / "step-0000020.png").is_file()
    assert (out / "curves.png").stat().st_size > 0
    ckpts = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert ckpts == ["step-0000010.pt", "step-0000020.pt"]
    # the saved recipe rebuilds the same run
    again = Run.load(out)
    assert again.step == 20
    assert_same(weights(run), weights(again))


def test_checkpoints_are_pruned_and_damage_falls_back(tiny_ring, tmp_path):
    out = tmp_path / "run"
    Run.create(tiny_ring, overrides={"train.checkpoint_every": 5, "train.keep_checkpoints": 2}, out=out).train()
    names = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert names == ["step-0000015.pt", "step-0000020.pt"]
    (out / "checkpoints" / "step-0000020.pt").write_bytes(b"truncated")
    with pytest.warns(UserWarning, match="damaged checkpoint"):
        run = Run.load(out)
    assert run.step == 15


def test_checkpoint_refuses_pickled_objects(tmp_path):
    from gancore import _checkpoint

    class Evil:
        def __reduce__(self):
            return (print, ("ran code from a checkpoint",))

    path = tmp_path / "evil.pt"
    torch.save({"format": 1, "x": Evil()}, path)
    with pytest.raises(GancoreError, match="cannot load checkpoint"):
        _checkpoint.load(path)


def test_batch_larger_than_dataset(tiny_ring):
    with pytest.raises(GancoreError, match="larger than the dataset"):
        Run.create(tiny_ring, overrides={"data.num_samples": 10}).train()


def test_missing_cuda_is_a_clear_error(tiny_ring):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(GancoreError, match="CUDA is not available"):
        Run.create(tiny_ring, device="cuda")


RING = torch.stack([torch.cos(torch.arange(8) * torch.pi / 4), torch.sin(torch.arange(8) * torch.pi / 4)], 1)


def modes_covered(points: torch.Tensor) -> tuple[int, float]:
    """Ring modes with a sample within 3 std (0.03), and the median distance to a mode."""
    near, which = torch.cdist(points, RING).min(1)
    return len(set(which[near < 0.03].tolist())), float(near.median())


@pytest.mark.parametrize("amp", ["off", "bf16", "fp16"])
def test_training_learns_the_ring(amp):
    """A short run (PacGAN2 critic) moves samples onto the ring and covers most modes, in
    full and in mixed precision."""
    overrides = {"train.steps": 1000, "train.device": "cpu", "generator.hidden": 128, "critic.hidden": 128,
                 "critic.pack": 2, "optim.lr": 1e-3, "train.amp": amp}
    run = Run.create("gan-ring", overrides=overrides)
    modes_before, distance_before = modes_covered(run.sample(2500))
    run.train()
    modes_after, distance_after = modes_covered(run.sample(2500))
    assert modes_before <= 1 and distance_before > 0.4
    assert modes_after >= 5, (modes_after, distance_after)
    assert distance_after < distance_before / 2


def test_metrics_during_training(tiny_ring, tmp_path):
    tiny_ring["eval"] = {"every": 10, "metrics": ["modes"], "num_samples": 300}
    out = tmp_path / "run"
    Run.create(tiny_ring, out=out).train()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evaluated = [r["step"] for r in rows if "modes" in r]
    assert evaluated == [10, 20]
    assert (out / "curves.png").stat().st_size > 0


def test_pack_must_divide_the_batch(tiny_ring):
    with pytest.raises(GancoreError, match="not divisible by the critic's pack size 3"):
        Run.create(tiny_ring, overrides={"critic.pack": 3})


def test_a_metric_that_cannot_score_the_data_fails_before_training(tiny_ring, tmp_path):
    tiny_ring["eval"] = {"every": 10, "metrics": [{"name": "fid", "features": "mnist"}]}  # MNIST features on 2D points
    run = Run.create(tiny_ring, out=tmp_path / "run")
    with pytest.raises(GancoreError, match="metric 'fid' cannot score"):
        run.train()
    assert run.step == 0 and not (tmp_path / "run").exists()


def test_infinite_values_are_written_as_null(tiny_ring, tmp_path):
    from gancore._artifacts import json_line

    assert json.loads(json_line({"step": 1, "reverse_kl": float("inf")})) == {"step": 1, "reverse_kl": None}
