"""Recipe validation: every error names its path, before anything is built."""

from __future__ import annotations

import pytest

import gancore
from gancore import GancoreError, UnknownNameError
from gancore._recipe import Recipe, apply_overrides, load_source, parse_override


def recipe(doc):
    return Recipe(doc, gancore.registry())


def test_valid_recipe_fills_defaults(tiny_ring):
    r = recipe(tiny_ring)
    resolved = r.resolved()
    assert resolved["scheme"] == {"name": "adversarial", "n_critic": 1}
    assert resolved["critic"]["norm"] == "none"
    assert resolved["optim"]["critic"]["lr"] == 2e-4
    assert set(resolved["optim"]) == {"generator", "critic"}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"critic": {"name": "mlp", "norm": "spectal"}}, "critic.norm: unknown normalization 'spectal'; did you mean 'spectral'?"),
        ({"critic": {"name": "mpl"}}, "critic.name: unknown critic 'mpl'; did you mean 'mlp'?"),
        ({"critic": {"name": "mlp", "hiden": 3}}, "critic.hiden: unknown parameter; did you mean 'hidden'?"),
        ({"critic": {"name": "mlp", "hidden": "wide"}}, "critic.hidden: Input should be a valid integer"),
        ({"critic": {"name": "mlp", "hidden": 0}}, "critic.hidden: Input should be greater than or equal to 1"),
        ({"train": {"steps": -1}}, "train.steps: Input should be greater than or equal to 1"),
        ({"train": {"stepz": 10}}, "train.stepz: unknown parameter; did you mean 'steps'?"),
        ({"train": {"zzz": 10}}, "train.zzz: unknown parameter (it takes: steps, batch_size"),
        ({"critc": {"name": "mlp"}}, "unknown recipe section 'critc'; did you mean 'critic'?"),
        ({"optim": {"critc": {"lr": 1e-3}}}, "optim.critc: unknown optimizer group 'critc'; did you mean 'critic'?"),
        ({"optim": {"lr": -1}}, "optim.lr: Input should be greater than 0"),
        ({"scheme": {"name": "adversarial", "n_critic": 0}}, "scheme.n_critic: Input should be greater than or equal to 1"),
        ({"scheme": "adverserial"}, "did you mean 'adversarial'"),
        ({"regularizers": [{"name": "gradient-penalty", "weight": "x"}]}, "regularizers.0.weight: Input should be a valid number"),
        ({"regularizers": [{"name": "gradient-penalti"}]}, "regularizers.0.name: unknown regularizer 'gradient-penalti'"),
        ({"data": {"name": "rings"}}, "data.name: unknown dataset 'rings'; did you mean 'ring'?"),
        ({"eval": {"metrics": ["fdi"]}}, "eval.metrics.0.name: unknown metric 'fdi'"),
    ],
)
def test_errors_name_their_path(tiny_ring, change, message):
    tiny_ring.update(change)
    with pytest.raises(GancoreError) as info:
        recipe(tiny_ring)
    assert message in str(info.value)


def test_missing_generator(tiny_ring):
    del tiny_ring["generator"]
    with pytest.raises(GancoreError, match="generator: missing"):
        recipe(tiny_ring)


def test_loss_defaults_to_its_slot_default(tiny_ring):
    del tiny_ring["loss"]
    assert recipe(tiny_ring).slots["loss"][1] == "non-saturating"


def test_overrides():
    assert parse_override("critic.norm=spectral") == (["critic", "norm"], "spectral")
    assert parse_override("train.steps=100") == (["train", "steps"], 100)
    assert parse_override("optim.betas=[0.0, 0.9]") == (["optim", "betas"], [0.0, 0.9])
    doc = apply_overrides({"regularizers": [{"name": "r1", "weight": 1.0}], "scheme": "adversarial"},
                          ["regularizers.0.weight=5", "scheme.n_critic=5"])
    assert doc["regularizers"][0]["weight"] == 5 and doc["scheme"] == {"name": "adversarial", "n_critic": 5}
    with pytest.raises(GancoreError, match="no item 3"):
        apply_overrides({"regularizers": []}, ["regularizers.3.weight=1"])
    with pytest.raises(GancoreError, match="expected dotted.key=value"):
        parse_override("train.steps")


def test_unknown_builtin_recipe():
    with pytest.raises(UnknownNameError, match="did you mean 'gan-ring'"):
        load_source("gan-rnig", gancore.registry())


def test_bad_toml_file(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[train\nsteps = 1")
    with pytest.raises(GancoreError, match="not a valid recipe document"):
        load_source(p, gancore.registry())
    with pytest.raises(GancoreError, match="recipe file not found"):
        load_source(tmp_path / "missing.toml", gancore.registry())


def test_every_builtin_recipe_validates():
    reg = gancore.registry()
    assert len(reg.recipes) >= 10
    for name in reg.recipes:
        _, doc = load_source(name, reg)
        r = Recipe(doc, reg)
        assert r.description, f"recipe {name} needs a description"


def test_setting_a_slot_s_name_starts_its_table_afresh_with_a_warning():
    from gancore._recipe import apply_overrides

    doc = {"critic": {"name": "mlp", "hidden": 32, "layers": 2}, "optim": {"name": "adam", "lr": 1e-3}}
    with pytest.warns(gancore.RecipeWarning, match=r"critic table starts afresh; dropped what was set for 'mlp': hidden, layers"):
        out = apply_overrides(doc, ["critic.name='dcgan'", "critic.width=16"])
    assert out["critic"] == {"name": "dcgan", "width": 16}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = apply_overrides(doc, ["critic.name='mlp'", "optim.name='sgd'"])  # same part; a settings variant
    assert same["critic"]["hidden"] == 32 and same["optim"] == {"name": "sgd", "lr": 1e-3}
