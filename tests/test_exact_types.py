"""Values are taken as the types they are written as: a string is never a number or a
boolean, a float never an integer (not even ``3.0``), in a TOML recipe, in ``--set`` and in
Python's overrides. The one conversion left is an integer where a float is expected."""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal

import pytest
from pydantic import ByteSize, Field
from typer.testing import CliRunner

import gancore
from gancore._documents import apply_overrides, load_source
from gancore._params import coerced, params_model, validate_params
from gancore._recipe import Recipe
from gancore.cli import app
from tests._fuzz import _parent, _paths, builtin_recipes


def _retyped(value: Any) -> list[Any]:
    """A number as the coercions it must not survive: its string, and an integer's float."""
    return [str(value), *([float(value)] if isinstance(value, int) else [])]


def test_every_number_of_every_builtin_recipe_retyped_is_refused():
    reg = gancore.registry()
    accepted = []
    for name, doc in builtin_recipes().items():
        for path in _paths(doc):
            value = _parent(doc, path)[path[-1]]
            # A `params` table is handed whole to the part it wraps (recyclegan's per-frame
            # networks), which checks it when it builds that part.
            if isinstance(value, bool) or not isinstance(value, (int, float)) or "params" in path:
                continue
            for wrong in _retyped(value):
                mutant = copy.deepcopy(doc)
                _parent(mutant, path)[path[-1]] = wrong
                try:
                    Recipe(mutant, reg)
                except gancore.GancoreError as exc:
                    # Recipes that leave data.root to their user add that line.
                    lines = exc.errors if isinstance(exc, gancore.RecipeError) else [str(exc)]
                    # A dotted name is one key, quoted as TOML writes it: schedule."optim.lr".end
                    key = ".".join(f'"{p}"' if "." in str(p) else str(p) for p in path)
                    assert any(line.startswith(f"{key}: expected ") for line in lines), (name, key, str(exc))
                else:
                    accepted.append(f"{name}: {'.'.join(map(str, path))} = {wrong!r}")
    assert not accepted, "\n".join(accepted)


def test_a_string_in_a_toml_recipe_is_not_a_number(tmp_path, tiny_ring_file):
    text = tiny_ring_file.read_text().replace("steps = 20", 'steps = "5"')
    assert 'steps = "5"' in text
    tiny_ring_file.write_text(text)
    out = tmp_path / "never"
    result = CliRunner().invoke(app, ["train", str(tiny_ring_file), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == ['error: train.steps: expected an integer, not the string "5"']
    assert not out.exists()


REFUSED_SETS = [
    ("critic.hidden=3.0", "critic.hidden: expected an integer, not 3.0"),
    ("critic.hidden=2.5", "critic.hidden: expected an integer, not 2.5"),
    ('critic.hidden="64"', 'critic.hidden: expected an integer, not the string "64"'),
    ("train.steps=5.0", "train.steps: expected an integer, not 5.0"),
    ('train.steps="5"', 'train.steps: expected an integer, not the string "5"'),
    ("train.steps=5x", 'train.steps: expected an integer, not the string "5x"'),
    ('optim.lr="1e-3"', "optim.lr: expected a number, not the string \"1e-3\" (optimizer groups 'generator', 'critic')"),
    ('optim.critic.betas=[0.5, "0.9"]', 'optim.critic.betas.1: expected a number, not the string "0.9"'),
    ("train.compile=yes", 'train.compile: expected true or false, not the string "yes"'),
    ("train.device=0", "train.device: expected a string, not 0"),  # a bare number is TOML's number, not a word
]


@pytest.mark.parametrize(("override", "message"), REFUSED_SETS, ids=[o for o, _ in REFUSED_SETS])
def test_set_values_keep_their_toml_type(override, message, tmp_path):
    out = tmp_path / "never"
    result = CliRunner().invoke(app, ["train", "gan-ring", "--set", override, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [f"error: {message}"]
    assert not out.exists()


def test_set_values_of_the_right_type_are_taken(tiny_ring_file):
    reg = gancore.registry()
    _, doc = load_source(tiny_ring_file, reg)
    doc = apply_overrides(doc, ["train.steps=5", "optim.lr=1", 'description="5"', "train.device=cpu",
                                                   "optim.betas=[0, 0.9]", "train.compile=false"])
    resolved = Recipe(doc, reg).resolved()
    assert resolved["train"]["steps"] == 5 and resolved["train"]["device"] == "cpu"
    assert resolved["description"] == "5" and resolved["train"]["compile"] is False
    lr, betas = resolved["optim"]["generator"]["lr"], resolved["optim"]["generator"]["betas"]
    assert lr == 1.0 and isinstance(lr, float)  # an integer where a float is expected: the one conversion
    assert betas == [0.0, 0.9] and all(isinstance(b, float) for b in betas)


@pytest.mark.parametrize("overrides, message", [
    ({"train.steps": "5"}, 'train.steps: expected an integer, not the string "5"'),
    ({"critic.hidden": 3.0}, "critic.hidden: expected an integer, not 3.0"),
    ({"train.compile": "true"}, 'train.compile: expected true or false, not the string "true"'),
    (["critic.hidden=3.0"], "critic.hidden: expected an integer, not 3.0"),
    (['critic.hidden="64"'], 'critic.hidden: expected an integer, not the string "64"'),
])
def test_python_overrides_are_not_converted(tiny_ring, overrides, message):
    with pytest.raises(gancore.GancoreError) as info:
        gancore.create_run(tiny_ring, overrides=overrides)
    assert str(info.value) == message


def test_a_resume_override_is_not_converted(tiny_ring, tmp_path):
    tiny_ring["train"]["steps"] = 2
    gancore.create_run(tiny_ring, out=tmp_path / "run").train()
    with pytest.raises(gancore.GancoreError, match='^train.steps: expected an integer, not the string "4"$'):
        gancore.load_run(tmp_path / "run", overrides={"train.steps": "4"})
    assert gancore.load_run(tmp_path / "run", overrides={"train.steps": 4}).recipe.train.steps == 4


def _part(size: ByteSize = ByteSize(1024), count: int | str = 1, channels: Literal[1, 3] = 1,
          weights: dict[str, Annotated[float, Field(ge=0)]] = {}, flag: bool = False, anything: Any = None) -> None:
    """A factory whose parameters take strings where their types do."""


def test_types_that_take_strings_still_do():
    model = params_model(_part, "Part")
    taken = validate_params(model, {"size": "1 KiB", "count": "many", "weights": {"a": 1}, "anything": "5"}, "part")
    assert taken.size == 1024 and taken.count == "many" and taken.weights == {"a": 1.0} and taken.anything == "5"
    assert validate_params(model, {"count": 5}, "part").count == 5


@pytest.mark.parametrize("values, message", [
    ({"channels": 3.0}, "part.channels: expected an integer, not 3.0"),
    ({"channels": "3"}, 'part.channels: expected an integer, not the string "3"'),
    ({"count": 2.0}, "part.count: expected an integer, not 2.0"),
    ({"weights": {"a": "1"}}, 'part.weights.a: expected a number, not the string "1"'),
    ({"flag": "no"}, 'part.flag: expected true or false, not the string "no"'),
    ({"flag": 0}, "part.flag: expected true or false, not a number"),
])
def test_part_parameters_are_not_converted(values, message):
    model = params_model(_part, "Part")
    with pytest.raises(gancore.GancoreError) as info:
        validate_params(model, values, "part")
    assert str(info.value) == message


def test_the_check_reads_unions_and_nested_items():
    assert coerced(int | None, None) is None
    assert coerced(list[int] | None, [1, "2"]) == ((1,), 'expected an integer, not the string "2"')
    assert coerced(tuple[float, float], [0, "x"]) == ((1,), 'expected a number, not the string "x"')
    assert coerced(list[dict[str, int]], [{"a": 1}, {"b": 1.5}]) == ((1, "b"), "expected an integer, not 1.5")
    assert coerced(float, 1) is None and coerced(int | str, "5") is None and coerced(Any, "5") is None
    assert coerced(str | None, 5) == ((), "expected a string, not 5")
    assert coerced(Literal["a", "b"], 5) is None  # pydantic's own message names the choices
