"""docs/plugins.md as written: the tutorial's plugin and its console examples, and the
examples of "The kinds, with a minimal example each", which register, build, train
together for a few steps and pass the contract kit."""

from __future__ import annotations

import importlib
import re
import sys
import types

import torch

import gancore
from tests.test_docs import console_examples, read, run_examples, section


def tutorial_package(site):
    """docs/plugins.md's tutorial plugin, installed into ``site`` as pip would lay it out."""
    tutorial = section(read("docs/plugins.md"), "## Tutorial: a pixel normalization, from an empty folder to a training run")
    code = re.search(r"`gancore-pixelnorm/gancore_pixelnorm/__init__.py`:\n\n```python\n(.*?)```", tutorial, re.S).group(1)
    recipe = re.search(r"`gancore_pixelnorm/gan-ring-pixel.toml`.*?```toml\n(.*?)```", tutorial, re.S).group(1)
    package = site / "gancore_pixelnorm"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(code)
    (package / "gan-ring-pixel.toml").write_text(recipe)
    dist = site / "gancore_pixelnorm-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: gancore-pixelnorm\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[gancore]\npixelnorm = gancore_pixelnorm\n")
    return tutorial


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
        "augment": [{"name": "noise", "std": 0.05}],
        "train": {"steps": 6, "batch_size": 32, "log_every": 2, "device": "cpu", "sample_every": 0},
        "eval": {"metrics": ["moment-distance"]},
        "optim": {"critic": {"name": "adagrad", "lr_decay": 0.01}},
    }
    run = gancore.create_run(recipe, out=tmp_path / "run", registry=host.registry).train()
    assert run.step == 6 and "best generator loss" in capsys.readouterr().out
    assert isinstance(run.optimizers["critic"], torch.optim.Adagrad)
    assert run.optimizers["critic"].defaults["lr"] == 1e-2  # the recipe leaves lr to the optimizer
    assert torch.isfinite(run.sample(16)).all()
    assert "moment_distance" in run.evaluate()
    assert host.registry.build("image-loss", "mse")(torch.zeros(2, 1, 4, 4), torch.ones(2, 1, 4, 4)).item() == 1.0
    assert host.registry.build("features", "pooled").features(torch.zeros(2, 1, 8, 8)).shape == (2, 4)
    assert host.registry.build("regularizer", "drift") is not None


def test_the_guides_parts_pass_the_contract_kit(fresh_host):
    from gancore.testing import ContractError, cases

    host = fresh_host()
    host.register(guide_plugin(), "guide")
    found = cases(plugin="guide", registry=host.registry)
    assert {c.kind for c in found} >= {"generator", "critic", "loss", "regularizer", "scheme", "callback", "metric", "augment"}
    broken = []
    for case in found:
        try:
            case.run()
        except ContractError as exc:
            broken.append(str(exc))
    assert not broken, "\n".join(broken)


# The tutorial's console examples that are not `gancore` commands, with where each is checked.
TUTORIAL_NOT_RUN = {
    "pip install -e ./gancore-pixelnorm --no-deps": "the test lays the package out as pip installs it",
    "pip uninstall -y gancore-pixelnorm": "the test's package goes with its temporary directory",
    "python -m pytest --gancore-plugin pixelnorm -q": "run by tests/test_kit.py, which compares its count",
    "pip install -e mine": "tests/test_new_plugin.py installs the package new-plugin writes",
    "cd mine && python -m pytest -q": "run by tests/test_new_plugin.py, which compares its count",
}


def test_the_plugin_guide_console_examples_print_what_it_shows(tmp_path, monkeypatch, fresh_host):
    """Every `$ gancore` example of docs/plugins.md, with the tutorial's plugin installed;
    those of "How failures are reported" with it broken as that section says."""
    site = tmp_path / "site"
    doc = tutorial_package(site)
    recipe = re.search(r"`/tmp/tutorial/ring-pixel.toml`:\n\n```toml\n(.*?)```", doc, re.S).group(1)
    (tmp_path / "ring-pixel.toml").write_text(recipe)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.chdir(tmp_path)
    importlib.invalidate_caches()
    examples = [e for e in console_examples("docs/plugins.md") if e.command not in TUTORIAL_NOT_RUN]
    failures_at = read("docs/plugins.md").splitlines().index("## How failures are reported") + 1
    fresh_host()
    assert gancore.host().plugins["pixelnorm"].status == "loaded"
    problems = run_examples([e for e in examples if e.line < failures_at])
    # "the tutorial plugin with a second line register("normalization", "batch", ...) added"
    init = site / "gancore_pixelnorm" / "__init__.py"
    init.write_text(init.read_text().replace(
        '    register("normalization", "pixel", PixelNormalization)\n',
        '    register("normalization", "pixel", PixelNormalization)\n    register("normalization", "batch", PixelNormalization)\n'))
    sys.modules.pop("gancore_pixelnorm", None)
    fresh_host()
    assert gancore.host().plugins["pixelnorm"].status == "failed"
    problems += run_examples([e for e in examples if e.line > failures_at])
    assert not problems, "\n\n".join(problems)


def test_every_tutorial_example_left_unrun_is_in_the_guide():
    commands = {e.command for e in console_examples("docs/plugins.md")}
    assert set(TUTORIAL_NOT_RUN) <= commands, sorted(set(TUTORIAL_NOT_RUN) - commands)


def test_the_example_readme_names_every_kind():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "plugins" / "example-relativistic" / "README.md").read_text()
    listed = re.search(r"listed in `gancore.KINDS` \(([^)]*)\)", text)
    assert listed is not None
    named = {k.strip() for k in listed.group(1).replace("\n", " ").split(",")}
    assert named == set(gancore.KINDS)
