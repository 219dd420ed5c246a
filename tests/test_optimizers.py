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
    with pytest.raises(GancoreError, match=r"optim\.critic\.implementation: optimizer 'sign-sgd' has no implementation"):
        run_with(host, tiny_ring, {"critic": {"name": "sign-sgd", "implementation": "foreach"}})
    with pytest.raises(GancoreError, match=r"optim\.schedule: optimizer 'constant-step' takes no lr to schedule \(optimizer group 'critic'\)"):
        run_with(host, tiny_ring, {"schedule": "linear", "critic": {"name": "constant-step"}})
    assert BUILT == []
    run = run_with(host, tiny_ring, {"scale": 2.0, "generator": {"name": "sign-sgd"}})  # adam ignores scale
    assert run.optimizers["generator"].param_groups[0]["scale"] == 2.0 and BUILT == ["sign-sgd"]
    # A key the recipe leaves unset takes the optimizer's own default, and the settings say so.
    assert run.optimizers["generator"].param_groups[0]["lr"] == 1e-3 and run.recipe.optim["generator"].lr == 1e-3
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
    assert run.recipe.resolved()["optim"]["generator"]["momentum"] == 0.5  # kept, as before, though adam ignores it
