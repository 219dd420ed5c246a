"""``gancore.Build``: the parts a part builds come from the registry that builds it, so a
run given its own registry uses that registry's parts all the way down."""

from __future__ import annotations

import types

import torch
from torch import nn

import gancore

FAKE_DIGITS = 32


class Marker(nn.Identity):
    """The module the substitute normalization places after each layer."""


class MarkedNone(gancore.Normalization):
    """A substitute "none": leaves layers as they are, but leaves a Marker behind."""

    def layer(self, num_features: int, *, spatial: bool) -> nn.Module:
        return Marker()


def fake_mnist(size: int = 28) -> gancore.Dataset:
    """A substitute "mnist": constant images, recognisable by their value."""
    x = torch.full((FAKE_DIGITS, 1, size, size), 0.25)
    return gancore.Dataset({"x": x, "label": torch.arange(FAKE_DIGITS) % 10}, num_classes=10)


class Flat(gancore.Features):
    """Points as their own features."""

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1).float()


def substitutes() -> types.ModuleType:
    """An in-process plugin (a module, as an installed one would be)."""

    @gancore.hookimpl
    def register_parts(register):
        register("normalization", "none", MarkedNone)
        register("dataset", "mnist", fake_mnist)
        register("features", "flat", Flat)

    module = types.ModuleType("substitutes")
    module.register_parts = register_parts
    return module


def host_with_substitutes() -> gancore.PluginHost:
    """All the plugins but ``norms`` and ``data``, whose "none" and "mnist" the substitutes take."""
    host = gancore.PluginHost(block={"norms", "data"})
    info = host.register(substitutes(), "substitutes")
    assert info.status == "loaded", info.error
    return host


def test_the_build_a_factory_is_given_is_bound_to_the_building_registry():
    host = host_with_substitutes()
    seen = {}

    def probe(*, build: gancore.Build, spec: gancore.DataSpec) -> gancore.Normalization:
        """A part that builds another part."""
        seen["spec"] = spec
        return build("normalization", "none")

    host.registry.add("normalization", "probe", probe, "test")
    spec = gancore.DataSpec(shape=(2,))
    assert isinstance(host.registry.build("normalization", "probe", spec=spec), MarkedNone)
    assert seen["spec"] is spec
    assert not isinstance(gancore.build("normalization", "none"), MarkedNone)  # the process's own
    # Neither injected value is a recipe parameter, nor shown as one.
    assert host.registry.get("normalization", "probe").describe()["parameters"] == []


def test_nested_datasets_come_from_the_building_registry():
    host = host_with_substitutes()
    edges = host.registry.build("dataset", "mnist-edges", {"subset": "all", "limit": 8})
    assert torch.equal(edges.tensors["x"], torch.full((8, 1, 28, 28), 0.25))
    real = gancore.build("dataset", "mnist-edges", {"subset": "all", "limit": 8})
    assert not torch.equal(real.tensors["x"], edges.tensors["x"])


def test_a_run_with_its_own_registry_uses_its_parts_all_the_way_down(tmp_path):
    host = host_with_substitutes()
    recipe = {
        "data": {"name": "mnist-rotated", "subset": "all", "held_out": 0, "limit": 16},
        "generator": {"name": "mlp", "latent_dim": 4, "hidden": 8, "layers": 1},  # norm "none"
        "critic": {"name": "mlp", "hidden": 8, "layers": 1},
        "train": {"steps": 2, "batch_size": 8, "log_every": 1, "sample_every": 0, "checkpoint_every": 0,
                  "device": "cpu"},
        "eval": {"metrics": [{"name": "fid", "features": "flat"}], "num_samples": 16},
    }
    run = gancore.create_run(recipe, registry=host.registry, out=tmp_path / "run").train()
    # The dataset's MNIST, the networks' normalization, the metric's features: all the run's.
    assert torch.equal(run.dataset.tensors["x"], torch.full((16, 1, 28, 28), 0.25))
    assert any(isinstance(m, Marker) for m in run.scheme.generator.modules())
    assert "fid" in run.evaluate()
    # The same run reloaded with the same registry finds the same parts.
    again = gancore.load_run(tmp_path / "run", registry=host.registry)
    assert any(isinstance(m, Marker) for m in again.scheme.generator.modules())
