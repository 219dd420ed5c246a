"""Schedules of recipe values ([schedule]) and lazy regularization (train.regularize_every):
the values in force at chosen steps against the closed forms, exact resume, refused keys."""

from __future__ import annotations

import copy
import math

import pytest
import torch

import gancore
from gancore._schedule import progress

from .conftest import TINY_RING

def ring(**sections) -> dict:
    recipe = copy.deepcopy(TINY_RING)
    recipe["train"] |= {"checkpoint_every": 0, "log_every": 4}
    recipe["loss"] = {"name": "rpgan"}
    recipe["regularizers"] = [{"name": "r1", "weight": 1.0}, {"name": "lecam", "weight": 0.3}]
    recipe["optim"] = {"lr": 2e-4, "betas": [0.0, 0.9]}
    recipe["ema"] = {"half_life": 0.5}
    for key, value in sections.items():
        recipe[key] = value
    return recipe


def cosine(start, end, step, steps):
    return start + (end - start) * 0.5 * (1 - math.cos(math.pi * min(step / steps, 1.0)))


def linear(start, end, step, steps):
    return start + (end - start) * min(step / steps, 1.0)


SCHEDULE = {
    "optim.lr": {"end": 5e-5},  # every group, cosine (the default shape)
    "optim.critic.betas": {"end": [0.0, 0.99], "shape": "linear"},
    "regularizers.r1.weight": {"start": 0.5, "end": 0.05, "steps": 10},  # reached at 10, then kept
    "regularizers.1.weight": {"end": 0.0, "shape": "linear"},  # by index: lecam
    "ema.half_life": {"start": 0.01, "end": 1.0},
}


def test_every_kind_of_key_takes_its_value_at_each_step():
    run = gancore.create_run(ring(schedule=SCHEDULE))
    critic, generator = run.optimizers["critic"].param_groups[0], run.optimizers["generator"].param_groups[0]
    r1, lecam, ema = run.parts["regularizers.0"], run.parts["regularizers.1"], run.ema_length
    for steps in (1, 5, 10, 15, 20):
        run.train(steps)
        step = steps - 1  # the last step taken: the values in force during it
        assert generator["lr"] == pytest.approx(cosine(2e-4, 5e-5, step, 20), rel=1e-12)
        assert critic["lr"] == pytest.approx(cosine(2e-4, 5e-5, step, 20), rel=1e-12)
        assert critic["betas"] == pytest.approx((0.0, linear(0.9, 0.99, step, 20)), rel=1e-12)
        assert generator["betas"] == (0.0, 0.9)  # only the critic's are scheduled
        assert r1.weight == pytest.approx(cosine(0.5, 0.05, step, 10), rel=1e-12)
        assert lecam.weight == pytest.approx(linear(0.3, 0.0, step, 20), abs=1e-15)
        assert ema.half_life == pytest.approx(cosine(0.01, 1.0, step, 20), rel=1e-12)
    assert r1.weight == pytest.approx(0.05)  # kept after its 10 steps


def test_the_values_in_force_are_logged_with_the_metrics():
    rows = []
    gancore.create_run(ring(schedule=SCHEDULE)).train(report=rows.append)
    row = rows[-1]  # step 20: the values of step index 19
    assert row["optim.generator.lr"] == pytest.approx(cosine(2e-4, 5e-5, 19, 20))
    assert row["optim.critic.betas.1"] == pytest.approx(linear(0.9, 0.99, 19, 20))
    assert row["regularizers.r1.weight"] == pytest.approx(0.05)
    assert row["ema.half_life"] == pytest.approx(cosine(0.01, 1.0, 19, 20))


def test_ema_decay_and_an_augmentation_probability_are_schedulable():
    recipe = {
        "data": {"name": "mnist", "limit": 128},  # augmentations need images
        "generator": {"name": "dcgan", "latent_dim": 8, "width": 8},
        "critic": {"name": "dcgan", "width": 8},
        "augment": [{"name": "transforms", "p": 0.0}],
        "ema": {"decay": 0.9},
        "train": {"steps": 8, "batch_size": 16, "log_every": 4, "sample_every": 0, "checkpoint_every": 0, "device": "cpu"},
        "schedule": {"augment.transforms.p": {"end": 0.5, "shape": "linear"}, "ema.decay": {"end": 0.99, "steps": 4}},
    }
    run = gancore.create_run(recipe)
    for steps in (3, 8):
        run.train(steps)
        assert run.parts["augment.0"].p == pytest.approx(linear(0.0, 0.5, steps - 1, 8))
        assert run.ema_length.decay == pytest.approx(cosine(0.9, 0.99, steps - 1, 4))


def _same_state(a: gancore.Run, b: gancore.Run) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    for part in ("scheme", "ema", "optimizers"):
        flat_a, flat_b = _flatten(sa[part]), _flatten(sb[part])
        assert flat_a.keys() == flat_b.keys()
        for key in flat_a:
            va, vb = flat_a[key], flat_b[key]
            assert torch.equal(va, vb) if isinstance(va, torch.Tensor) else va == vb, (part, key)


def _flatten(value, prefix=""):
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out |= _flatten(v, f"{prefix}{k}.")
        return out
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], (dict, torch.Tensor)):
        out = {}
        for i, v in enumerate(value):
            out |= _flatten(v, f"{prefix}{i}.")
        return out
    return {prefix: value}


@pytest.mark.parametrize("lazy", [1, 3])
def test_a_run_resumes_exactly_with_a_schedule_on_a_regularizer_and_beta2(tmp_path, lazy):
    schedule = {"regularizers.r1.weight": {"start": 1.0, "end": 0.1}, "optim.betas": {"end": [0.0, 0.99], "shape": "linear"}}
    recipe = ring(schedule=schedule)
    recipe["train"] |= {"regularize_every": lazy}
    straight = gancore.create_run(recipe, out=tmp_path / "straight").train()
    gancore.create_run(recipe, out=tmp_path / "half").train(9)
    resumed = gancore.load_run(tmp_path / "half").train()
    _same_state(straight, resumed)


def test_lazy_regularization_updates_the_critic_once_more_every_k_steps_with_adjusted_adam():
    recipe = ring()
    recipe["regularizers"] = [{"name": "r1", "weight": 1.0}]
    recipe["train"] |= {"regularize_every": 4, "steps": 8}
    rows = []
    run = gancore.create_run(recipe).train(report=rows.append)
    critic, generator = run.optimizers["critic"], run.optimizers["generator"]
    first = next(iter(critic.state.values()))
    assert int(first["step"]) == 8 + 2  # steps 0 and 4 added a penalty update
    assert int(next(iter(generator.state.values()))["step"]) == 8
    ratio = 4 / 5
    assert critic.param_groups[0]["lr"] == pytest.approx(2e-4 * ratio)
    assert critic.param_groups[0]["betas"] == pytest.approx((0.0, 0.9 ** ratio))
    assert generator.param_groups[0]["lr"] == 2e-4 and generator.param_groups[0]["betas"] == (0.0, 0.9)
    assert all(row["penalty"] > 0 for row in rows)


def test_lazy_penalty_update_is_k_times_the_penalty():
    """Against a hand computation: the extra update's gradient is k x d(R1)/d(weights)."""
    recipe = ring()
    recipe["regularizers"] = [{"name": "r1", "weight": 2.0}]
    recipe["train"] |= {"regularize_every": 3, "steps": 1}
    recipe["optim"] = {"name": "sgd", "lr": 0.1}
    run = gancore.create_run(recipe)
    critic = run.scheme.critic
    seen = []
    original = run.engine.update

    def spy(group, loss, **kwargs):
        if group == "critic":
            seen.append((loss.detach().clone(), {n: p.detach().clone() for n, p in critic.named_parameters()}))
        original(group, loss, **kwargs)

    run.engine.update = spy
    run.train(1)
    assert len(seen) == 2  # the adversarial update, then the penalty's
    lazy_loss, before = seen[1]
    # Recompute R1 at the weights the penalty update saw, on the same real batch.
    batches = gancore.create_run(recipe).batches
    real = batches.next()["x"]
    for name, p in critic.named_parameters():
        p.data.copy_(before[name])
    x = real.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    r1 = 0.5 * 2.0 * grad.flatten(1).square().sum(1).mean()
    assert float(lazy_loss) == pytest.approx(3 * float(r1), rel=1e-5)


@pytest.mark.parametrize("key, table, message", [
    ("train.steps", {"end": 10}, 'schedule."train.steps": cannot be scheduled: [train] is fixed for the whole run'),
    ("optim.critic.momentum", {"end": 0.5}, "optimizer 'adam' takes no 'momentum'"),
    ("optim.nothing.lr", {"end": 0.5}, "no optimizer group 'nothing' (groups: generator, critic)"),
    ("optim.implementation", {"end": 1}, "implementation = 'default' is not a number"),
    ("regularizers.lecam.decay", {"end": 0.5}, "regularizer 'lecam' does not declare 'decay' schedulable (it declares: weight)"),
    ("regularizers.r2.weight", {"end": 0.5}, "none of the recipe's regularizers parts is named 'r2' (r1, lecam)"),
    ("regularizers.7.weight", {"end": 0.5}, "the recipe has 2 regularizers part(s)"),
    ("loss.weight", {"end": 0.5}, "loss 'rpgan' does not declare 'weight' schedulable (it declares no schedulable parameters)"),
    ("ema.decay", {"end": 0.9}, "the recipe's EMA is off or set by half_life"),
    ("ema.half_life", {"end": -1.0}, 'schedule."ema.half_life".end: Input should be greater than 0'),
    ("regularizers.r1.weight", {"end": -1.0}, 'schedule."regularizers.r1.weight".end:'),
    ("optim.betas", {"end": 0.9}, "the value is a list of 2 numbers"),
    ("optim.lr", {"end": [0.1, 0.2]}, "the value is a number"),
    ("optim.lr", {"start": 0.1}, 'schedule."optim.lr".end: missing'),
    ("optim.lr", {"end": 0.1, "shape": "constant"}, "a constant schedule has no end"),
    ("optim.lr", {"end": 0.1, "shape": "step"}, "shape"),
    ("optim.lr", {"end": 0.1, "when": 3}, "when"),
    ("nosuch.x", {"end": 0.1}, "no section 'nosuch'"),
])
def test_a_key_that_cannot_be_scheduled_is_refused_with_one_line(key, table, message):
    with pytest.raises(gancore.GancoreError) as info:
        gancore.create_run(ring(schedule={key: table}))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_two_keys_moving_one_value_and_a_schedule_beside_the_old_lr_schedule_are_refused():
    with pytest.raises(gancore.GancoreError, match="moves optim.critic.lr, which schedule.\"optim.lr\" moves already"):
        gancore.create_run(ring(schedule={"optim.lr": {"end": 0.1}, "optim.critic.lr": {"end": 0.2}}))
    recipe = ring(schedule={"optim.lr": {"end": 0.1}})
    recipe["optim"] |= {"schedule": "linear"}
    with pytest.raises(gancore.GancoreError, match="already moves the learning rate"):
        gancore.create_run(recipe)


def test_the_resolved_recipe_keeps_the_schedule_and_reads_back_the_same():
    run = gancore.create_run(ring(schedule=SCHEDULE))
    resolved = run.recipe.resolved()
    assert resolved["schedule"]["regularizers.r1.weight"] == {"start": 0.5, "end": 0.05, "shape": "cosine", "steps": 10}
    again = gancore.create_run(resolved)
    assert [s.target for s in again.recipe.schedules] == [s.target for s in run.recipe.schedules]


def test_progress_shapes():
    assert progress("constant", 5, 10) == 0.0
    assert progress("linear", 5, 10) == 0.5 and progress("linear", 20, 10) == 1.0
    assert progress("cosine", 5, 10) == pytest.approx(0.5) and progress("cosine", 0, 10) == 0.0
