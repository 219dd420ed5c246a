"""Optimizers are parts of kind ``optimizer``: the first-party four keep every recipe
meaning what it did, and a plugin's optimizer is named, checked and trained like any part."""

from __future__ import annotations

import json
import types
from typing import Annotated

import pytest
import torch
from pydantic import Field
from typer.testing import CliRunner

import gancore
from gancore import GancoreError
from gancore._optim import OptimSettings
from gancore._recipe import Recipe
from gancore.cli import app

BUILT: list[str] = []  # names of the optimizers the plugin below has built


class SignSGD(torch.optim.Optimizer):
    """Steps each weight by ``lr * scale`` against the sign of its gradient."""

    def __init__(self, params, lr: float, scale: float) -> None:
        super().__init__(params, {"lr": lr, "scale": scale})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad.sign(), alpha=-group["lr"] * group["scale"])


def sign_sgd(
    parameters: gancore.Parameters,
    lr: Annotated[float, Field(gt=0)] = 1e-3,
    scale: Annotated[float, Field(gt=0, le=10)] = 1.0,
) -> torch.optim.Optimizer:
    """Sign SGD: a step of lr * scale against each gradient's sign."""
    BUILT.append("sign-sgd")
    return SignSGD(parameters, lr, scale)


def constant_step(parameters: gancore.Parameters, step: Annotated[float, Field(gt=0)] = 1e-3) -> torch.optim.Optimizer:
    """A fixed step against the gradient, with no learning rate to schedule."""
    return torch.optim.SGD(parameters, lr=step)


def not_an_optimizer(parameters: gancore.Parameters) -> object:
    """Builds something else."""
    return object()


def optimizers_plugin() -> types.ModuleType:
    @gancore.hookimpl
    def register_parts(register):
        register("optimizer", "sign-sgd", sign_sgd)
        register("optimizer", "constant-step", constant_step)
        register("optimizer", "broken", not_an_optimizer)

    module = types.ModuleType("optimizers_plugin")
    module.register_parts = register_parts
    return module


@pytest.fixture
def host():
    host = gancore.PluginHost()
    info = host.register(optimizers_plugin(), "signs")
    assert info.status == "loaded", info.error
    BUILT.clear()
    return host


def run_with(host, recipe, optim, **kwargs):
    return gancore.create_run(recipe | {"optim": optim}, registry=host.registry, **kwargs)


def test_the_first_party_optimizers_are_parts():
    assert gancore.registry().names("optimizer") == ["adam", "adamw", "rmsprop", "sgd"]
    listed = CliRunner().invoke(app, ["list", "optimizer"])
    assert listed.exit_code == 0, listed.output
    assert [line.split()[1] for line in listed.output.splitlines()[1:] if line.strip()] == ["adam", "adamw", "rmsprop", "sgd"]
    shown = CliRunner().invoke(app, ["show", "optimizer", "rmsprop", "--json"])
    rows = {row["name"]: row for row in json.loads(shown.output)["parameters"]}
    assert set(rows) == {"lr", "eps", "weight_decay", "momentum", "implementation"}  # the weights are injected
    assert rows["implementation"]["choices"] == ["default", "for-loop", "foreach"]


def test_a_plugins_optimizer_trains_a_group(host, tiny_ring, tmp_path):
    run = run_with(host, tiny_ring, {"lr": 1e-3, "generator": {"name": "sign-sgd", "scale": 0.5}}, out=tmp_path / "run")
    before = [p.detach().clone() for p in run.scheme.generator.parameters()]
    run.train()
    generator, critic = run.optimizers["generator"], run.optimizers["critic"]
    assert isinstance(generator, SignSGD) and isinstance(critic, torch.optim.Adam)
    assert generator.param_groups[0]["lr"] == 1e-3 and generator.param_groups[0]["scale"] == 0.5
    assert any(not torch.equal(a, b) for a, b in zip(before, run.scheme.generator.parameters()))
    resolved = run.recipe.resolved()["optim"]
    assert resolved["generator"]["name"] == "sign-sgd" and resolved["generator"]["scale"] == 0.5
    assert "scale" not in resolved["critic"]
    # Resumed from its directory, the run rebuilds the same optimizer from its resolved recipe.
    again = gancore.load_run(tmp_path / "run", registry=host.registry, overrides={"train.steps": 25})
    assert isinstance(again.optimizers["generator"], SignSGD)
    assert again.optimizers["generator"].param_groups[0]["scale"] == 0.5
    again.train()
    assert again.step == 25


def test_a_plugins_optimizer_keys_are_checked_before_anything_is_built(host, tiny_ring):
    with pytest.raises(GancoreError, match=r"optim\.generator\.scale: Input should be greater than 0"):
        run_with(host, tiny_ring, {"generator": {"name": "sign-sgd", "scale": -1}})
    with pytest.raises(GancoreError, match=r"optim\.generator\.scal: unknown parameter; did you mean 'scale'\?"):
        run_with(host, tiny_ring, {"generator": {"name": "sign-sgd", "scal": 2}})
    # A key of [optim] applies to the groups whose optimizer takes it; taken by none, it is a typo.
    with pytest.raises(GancoreError, match=r"optim\.scal: unknown parameter; did you mean 'scale'\?"):
        run_with(host, tiny_ring, {"scal": 2, "generator": {"name": "sign-sgd"}})
    with pytest.raises(GancoreError, match=r"optim\.scale: Input should be less than or equal to 10 \(optimizer group 'generator'\)"):
        run_with(host, tiny_ring, {"scale": 20, "generator": {"name": "sign-sgd"}})
    # The engine's settings must mean something to the optimizer.
    with pytest.raises(GancoreError, match=r"^optim\.critic\.implementation: unknown parameter "
                       r"\(it takes: lr, scale, name, schedule, final_lr, clip_norm\)$"):
        run_with(host, tiny_ring, {"critic": {"name": "sign-sgd", "implementation": "foreach"}})
    with pytest.raises(GancoreError, match=r"optim\.schedule: optimizer 'constant-step' takes no lr to schedule \(optimizer group 'critic'\)"):
        run_with(host, tiny_ring, {"schedule": "linear", "critic": {"name": "constant-step"}})
    assert BUILT == []
    run = run_with(host, tiny_ring, {"scale": 2.0, "generator": {"name": "sign-sgd"}})  # adam ignores scale
    assert run.optimizers["generator"].param_groups[0]["scale"] == 2.0 and BUILT == ["sign-sgd"]
    # A key the recipe leaves unset takes the optimizer's own default, and its part says so.
    assert run.optimizers["generator"].param_groups[0]["lr"] == 1e-3
    assert run.recipe.optimizers["generator"] == ("optimizer", "sign-sgd", {"lr": 1e-3, "scale": 2.0})
    assert run.recipe.resolved()["optim"]["critic"]["lr"] == 2e-4


def test_an_unknown_optimizer_lists_the_registered_ones(host, tiny_ring):
    with pytest.raises(gancore.UnknownNameError, match=r"optim\.critic\.name: unknown optimizer 'sign-sdg'; did you mean "
                       r"'sign-sgd'\? \(available: adam, adamw, broken, constant-step, rmsprop, sgd, sign-sgd\)"):
        run_with(host, tiny_ring, {"critic": {"name": "sign-sdg"}})
    with pytest.raises(GancoreError, match=r"^optim\.name: unknown optimizer 'lion' \(available: .*\) "
                       r"\(optimizer groups 'generator', 'critic'\)$"):
        run_with(host, tiny_ring, {"name": "lion"})
    with pytest.raises(TypeError, match="optimizer 'broken' did not build a torch.optim.Optimizer"):
        run_with(host, tiny_ring, {"critic": {"name": "broken"}})


def test_the_first_party_optimizers_are_built_as_before(tiny_ring):
    """Each one with today's keys and defaults (a resumed run rebuilds them so)."""
    run = gancore.create_run(tiny_ring, overrides={"optim.momentum": 0.5, "optim.critic.name": "rmsprop",
                                                   "optim.generator.implementation": "for-loop"})
    adam, rmsprop = run.optimizers["generator"].defaults, run.optimizers["critic"].defaults
    assert (adam["lr"], adam["betas"], adam["eps"], adam["weight_decay"], adam["foreach"]) == (2e-4, (0.5, 0.999), 1e-8, 0.0, False)
    assert (rmsprop["lr"], rmsprop["momentum"], rmsprop["eps"]) == (2e-4, 0.5, 1e-8)
    resolved = run.recipe.resolved()["optim"]
    assert resolved["critic"]["momentum"] == 0.5 and "momentum" not in resolved["generator"]  # adam takes none


def test_a_group_table_is_its_optimizers_parameters_and_the_engines_keys(tiny_ring):
    """Each value is kept once: the optimizer's in its part, the engine's in the group's
    settings. A key of [optim] reaches the groups whose optimizer takes it."""
    tiny_ring["optim"] = {"betas": [0.0, 0.9], "schedule": "linear",
                          "critic": {"name": "sgd", "momentum": 0.9, "clip_norm": 1.0}}
    recipe = Recipe(tiny_ring, gancore.registry())
    assert recipe.optimizers == {
        "generator": ("optimizer", "adam", {"lr": 2e-4, "betas": [0.0, 0.9], "eps": 1e-8, "weight_decay": 0.0,
                                            "implementation": "default"}),
        "critic": ("optimizer", "sgd", {"lr": 2e-4, "momentum": 0.9, "weight_decay": 0.0, "implementation": "default"}),
    }
    assert recipe.optim == {"generator": OptimSettings(schedule="linear"),
                            "critic": OptimSettings(schedule="linear", clip_norm=1.0)}
    assert set(OptimSettings.model_fields) == {"schedule", "final_lr", "clip_norm"}
    resolved = recipe.resolved()
    assert list(resolved["optim"]["critic"]) == ["name", "lr", "momentum", "weight_decay", "implementation",
                                                 "schedule", "final_lr", "clip_norm"]
    again = Recipe(resolved, gancore.registry())
    assert again.optimizers == recipe.optimizers and again.optim == recipe.optim


def test_a_key_no_optimizer_takes_is_refused(tiny_ring):
    with pytest.raises(GancoreError, match=r"^optim\.betas: unknown parameter \(it takes: implementation, lr, momentum, "
                       r"weight_decay, name, schedule, final_lr, clip_norm\)$"):
        Recipe(tiny_ring | {"optim": {"name": "sgd", "betas": [0.5, 0.9]}}, gancore.registry())
    with pytest.raises(GancoreError, match=r"^optim\.critic\.momentm: unknown parameter; did you mean 'momentum'\?$"):
        Recipe(tiny_ring | {"optim": {"critic": {"name": "sgd", "momentm": 0.9}}}, gancore.registry())
    with pytest.raises(GancoreError, match=r"^optim\.critic\.momentum: Input should be greater than or equal to 0$"):
        Recipe(tiny_ring | {"optim": {"critic": {"name": "sgd", "momentum": -1}}}, gancore.registry())
    # A refused engine key leaves the optimizers' values checked: every error at once.
    with pytest.raises(gancore.RecipeError) as info:
        Recipe(tiny_ring | {"optim": {"schedule": "step", "lr": -1}}, gancore.registry())
    assert [line.split(":")[0] for line in info.value.errors] == ["optim.schedule", "optim.lr"]


def test_a_key_the_groups_optimizer_does_not_take_is_one_line(tmp_path):
    out = tmp_path / "never"
    result = CliRunner().invoke(app, ["train", "gan-ring", "--set", "optim.critic.momentum=0.9", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert [line for line in result.output.splitlines() if line.strip()] == [
        "error: optim.critic.momentum: unknown parameter "
        "(it takes: lr, betas, eps, weight_decay, implementation, name, schedule, final_lr, clip_norm)"
    ]
    assert not out.exists()
