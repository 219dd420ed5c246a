"""Recipe validation: every error names its path, before anything is built."""

from __future__ import annotations

import pytest

import gancore
from gancore import GancoreError, UnknownNameError
from gancore._documents import apply_overrides, load_source, parse_override
from gancore._recipe import Recipe


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
        ({"critic": {"name": "mlp", "hidden": "wide"}}, 'critic.hidden: expected an integer, not the string "wide"'),
        ({"critic": {"name": "mlp", "hidden": 0}}, "critic.hidden: Input should be greater than or equal to 1"),
        ({"train": {"steps": -1}}, "train.steps: Input should be greater than or equal to 1"),
        ({"train": {"stepz": 10}}, "train.stepz: unknown parameter; did you mean 'steps'?"),
        ({"train": {"zzz": 10}}, "train.zzz: unknown parameter (it takes: steps, batch_size"),
        ({"critc": {"name": "mlp"}}, "unknown recipe section 'critc'; did you mean 'critic'?"),
        ({"optim": {"critc": {"lr": 1e-3}}}, "optim.critc: unknown optimizer group 'critc'; did you mean 'critic'?"),
        ({"optim": {"lr": -1}}, "optim.lr: Input should be greater than 0"),
        ({"scheme": {"name": "adversarial", "n_critic": 0}}, "scheme.n_critic: Input should be greater than or equal to 1"),
        ({"scheme": "adverserial"}, "did you mean 'adversarial'"),
        ({"regularizers": [{"name": "gradient-penalty", "weight": "x"}]}, 'regularizers.0.weight: expected a number, not the string "x"'),
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
        try:
            r = Recipe(doc, reg)
        except GancoreError as exc:
            # A recipe for the user's own data leaves its folder to them, and says how to give it.
            assert str(exc).startswith("data.root:") and "\n" not in str(exc), f"{name}: {exc}"
            assert "--set data.root=" in doc["description"], name
            continue
        assert r.description, f"recipe {name} needs a description"


def test_setting_a_slot_s_name_starts_its_table_afresh_with_a_warning():
    from gancore._documents import apply_overrides

    doc = {"critic": {"name": "mlp", "hidden": 32, "layers": 2},
           "optim": {"name": "adam", "lr": 1e-3, "betas": [0.5, 0.9], "schedule": "linear", "critic": {"lr": 3e-4}}}
    with pytest.warns(gancore.RecipeWarning, match=r"critic table starts afresh; dropped what was set for 'mlp': hidden, layers"):
        out = apply_overrides(doc, ["critic.name='dcgan'", "critic.width=16"])
    assert out["critic"] == {"name": "dcgan", "width": 16}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = apply_overrides(doc, ["critic.name='mlp'", "optim.name='adam'"])  # the same parts: nothing dropped
    assert same["critic"]["hidden"] == 32 and same["optim"] == doc["optim"]
    # Another optimizer: adam's parameters go, the engine's keys and the group tables stay.
    with pytest.warns(gancore.RecipeWarning, match=r"the optim optimizer parameters start afresh; dropped what was set "
                                                   r"for 'adam': betas, lr"):
        sgd = apply_overrides(doc, ["optim.name='sgd'", "optim.lr=0.01"])
    assert sgd["optim"] == {"name": "sgd", "lr": 0.01, "schedule": "linear", "critic": {"lr": 3e-4}}


def errors_of(doc) -> list[str]:
    with pytest.raises(GancoreError) as info:
        recipe(doc)
    return getattr(info.value, "errors", [str(info.value)])


def test_three_independent_mistakes_are_reported_in_one_error(tiny_ring):
    tiny_ring["generator"]["latent_dim"] = -1
    tiny_ring["critic"]["name"] = "mpl"
    tiny_ring["train"]["steps"] = 0
    with pytest.raises(gancore.RecipeError) as info:
        recipe(tiny_ring)
    assert [e.split(":")[0] for e in info.value.errors] == ["train.steps", "generator.latent_dim", "critic.name"]
    message = str(info.value)
    assert message.splitlines()[0] == "recipe has 3 errors:"
    assert message.splitlines()[3].startswith("  critic.name: unknown critic 'mpl'; did you mean 'mlp'?")


def test_every_section_and_part_is_checked(tiny_ring):
    tiny_ring.update({
        "description": 3,
        "ema": {"decay": 1.5},
        "optim": {"lr": -1, "critc": {}},
        "eval": {"num_samples": 0, "metrics": ["fdi"]},
        "data": {"name": "ring", "std": "wide"},
        "regularizers": [{"name": "r1", "weight": "x"}, {"name": "gradient-penalti"}],
        "callbacks": [{"name": "csvv"}],
        "critc": {},
    })
    tiny_ring["critic"].update({"norm": "spectal", "hidden": "wide", "hiden": 3})
    paths = [e.split(":")[0] for e in errors_of(tiny_ring)]
    assert paths == [
        "unknown recipe section 'critc'; did you mean 'critic'? (available", "description", "ema.decay",
        "eval.num_samples", "optim.critc", "optim.lr", "data.std", "critic.hidden", "critic.hiden", "critic.norm",
        "regularizers.0.weight", "regularizers.1.name", "eval.metrics.0.name", "callbacks.0.name",
    ]


def test_an_unknown_part_s_parameters_are_not_checked(tiny_ring):
    tiny_ring["critic"] = {"name": "mpl", "hiden": 3, "norm": "spectal"}
    assert errors_of(tiny_ring) == [
        "critic.name: unknown critic 'mpl'; did you mean 'mlp'? (available: dcgan, infogan, mlp, patchgan, per-frame, r3gan, sngan)"
    ]


def test_an_unknown_scheme_leaves_its_slots_and_groups_unchecked(tiny_ring):
    tiny_ring.update({"scheme": "adverserial", "critc": {}, "optim": {"generatr": {}}, "train": {"steps": 0}})
    tiny_ring["critic"]["norm"] = "spectal"
    errors = errors_of(tiny_ring)
    assert [e.split(":")[0] for e in errors] == ["scheme", "train.steps"]
    assert "did you mean 'adversarial'" in errors[0]


def test_a_misspelt_section_is_not_also_a_missing_slot(tiny_ring):
    tiny_ring["generatr"] = tiny_ring.pop("generator")
    errors = errors_of(tiny_ring)
    assert len(errors) == 1 and errors[0].startswith("unknown recipe section 'generatr'; did you mean 'generator'?")


def test_one_mistake_keeps_its_own_error_and_message(tiny_ring):
    tiny_ring["critic"]["norm"] = "spectal"
    with pytest.raises(UnknownNameError) as info:
        recipe(tiny_ring)
    assert not isinstance(info.value, gancore.RecipeError)
    assert str(info.value).startswith("critic.norm: unknown normalization 'spectal'")


def test_an_optimizer_implementation_refused_for_every_group_is_one_error(tiny_ring):
    tiny_ring["optim"] = {"name": "rmsprop", "implementation": "fused"}
    (error,) = errors_of(tiny_ring)
    assert error.startswith("optim.implementation: implementation 'fused' is not available for rmsprop")
    assert error.endswith("(optimizer groups 'generator', 'critic')")


def test_an_object_that_fills_no_slot_is_refused():
    from torch import nn

    with pytest.raises(gancore.GancoreError, match=r"dta=\.\.\.: scheme 'adversarial' has no slot of that name \(its slots: critic, generator, loss, regularizers\)"):
        gancore.create_run("gan-ring", dta=nn.Linear(2, 2))
