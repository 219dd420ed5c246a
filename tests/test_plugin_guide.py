"""The examples of docs/plugins.md ("The kinds, with a minimal example each") run as
written: they register, build, and train together for a few steps."""

from __future__ import annotations

import re
import types

import torch

import gancore
from tests.test_docs import read, section


def guide_plugin() -> types.ModuleType:
    body = section(read("docs/plugins.md"), "## The kinds, with a minimal example each")
    code = "\n\n".join(re.findall(r"```python\n(.*?)```", body, flags=re.S))
    module = types.ModuleType("gancore_guide_examples")
    exec(compile(code, "docs/plugins.md", "exec"), module.__dict__)
    return module


def test_the_guides_parts_register_and_train_together(fresh_host, tmp_path, capsys):
    host = fresh_host()
    info = host.register(guide_plugin(), "guide")
    assert info.status == "loaded", info.error
    recipe = {
        "scheme": {"name": "alternating", "label_noise": 0.01},
        "data": {"name": "moons", "num_samples": 512},
        "generator": {"name": "tiny", "norm": "spectral"},
        "critic": {"name": "tiny"},
        "loss": {"name": "margin-hinge"},
        "callbacks": [{"name": "best-loss"}],
        "train": {"steps": 6, "batch_size": 32, "log_every": 2, "device": "cpu", "sample_every": 0},
        "eval": {"metrics": ["mean-distance"]},
    }
    run = gancore.create_run(recipe, out=tmp_path / "run", registry=host.registry).train()
    assert run.step == 6 and "best generator loss" in capsys.readouterr().out
    assert torch.isfinite(run.sample(16)).all()
    assert "mean_distance" in run.evaluate()
    assert host.registry.build("image-loss", "mse")(torch.zeros(2, 1, 4, 4), torch.ones(2, 1, 4, 4)).item() == 1.0
    assert host.registry.build("features", "pooled").features(torch.zeros(2, 1, 8, 8)).shape == (2, 4)
    assert host.registry.build("regularizer", "drift") is not None
