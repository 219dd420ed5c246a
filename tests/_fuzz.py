"""Mutated built-in recipes, for the fuzz test and scripts/fuzz_recipes.py.

Each mutant is a built-in recipe with one change: a key deleted or added, a value replaced by
one of the wrong type, a huge, negative, zero, NaN or infinite number, an odd string, a
wrong nesting, a number retyped (``5`` written ``"5"`` or ``5.0``), or a part's name swapped
for another registered name. A mutant must either be refused with one ``GancoreError`` or
train one step; anything else is a bug. A retyped number must be refused: values are never
converted, except an integer where a float is expected.
"""

from __future__ import annotations

import copy
import math
import random
import signal
import tomllib
from collections.abc import Iterator
from typing import Any

import gancore

ODD_VALUES: list[Any] = [
    0, -1, 1, 2**31, 2**63, 10**30, -(10**30), 0.0, -0.5, 1e-300, 1e300, math.nan, math.inf, -math.inf,
    True, False, "", "💥", "none", "../../x", " spaced ", [], [1, 2, 3], {}, {"name": "x"}, [{}],
]
# Settings a mutant keeps, so that an accepted one trains fast: one small step, in memory.
QUICK = {"train": {"steps": 1, "batch_size": 4, "log_every": 1, "sample_every": 0, "checkpoint_every": 0,
                   "num_samples": 4, "device": "cpu"}, "eval": {"every": 0}}


def builtin_recipes() -> dict[str, dict[str, Any]]:
    reg = gancore.registry()
    return {name: tomllib.loads(r.path.read_text()) for name, r in sorted(reg.recipes.items())}


def _paths(node: Any, prefix: tuple = ()) -> Iterator[tuple]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


def _parent(doc: Any, path: tuple) -> Any:
    for key in path[:-1]:
        doc = doc[key]
    return doc


def mutate(doc: dict[str, Any], rng: random.Random) -> tuple[dict[str, Any], str]:
    """One mutant of ``doc`` and a line saying what was changed."""
    doc = copy.deepcopy(doc)
    paths = list(_paths(doc))
    path = rng.choice(paths)
    parent, key = _parent(doc, path), path[-1]
    what = rng.choice(["delete", "add", "odd", "odd", "odd", "nest", "swap-name", "retype"])
    names = sorted({n for _, n in gancore.registry().parts})
    if what == "delete" and isinstance(parent, dict):
        del parent[key]
    elif what == "add" and isinstance(parent, dict):
        parent[rng.choice(["bogus", "name", "steps", "hidden", "norm"])] = rng.choice(ODD_VALUES)
    elif what == "nest":
        parent[key] = {"name": parent[key]} if not isinstance(parent[key], dict) else [parent[key]]
    elif what == "retype":
        # A number that QUICK leaves alone, written as its string, or an integer as a float.
        numbers = [p for p in paths if _is_number(_parent(doc, p)[p[-1]])
                   and not (len(p) == 2 and p[1] in QUICK.get(str(p[0]), {}))]
        if not numbers:
            return mutate(doc, rng)
        path = rng.choice(numbers)
        parent, key = _parent(doc, path), path[-1]
        value = parent[key]
        parent[key] = rng.choice([str(value), *([float(value)] if isinstance(value, int) else [])])
    elif what == "swap-name":
        tables = [p for p in paths if isinstance(_parent(doc, p + ("x",)), dict) and "name" in _parent(doc, p + ("x",))]
        if tables:
            table = _parent(doc, rng.choice(tables) + ("x",))
            table["name"] = rng.choice(names)
    else:
        parent[key] = rng.choice(ODD_VALUES)
    return doc, f"{what} {'.'.join(map(str, path))}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def expected(change: str) -> str | None:
    """The outcome a mutant must have, where its change decides it: a retyped number is refused."""
    return "refused" if change.startswith("retype ") else None


class Hang(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise Hang()


def check(doc: dict[str, Any], seconds: int = 20) -> str:
    """``refused`` (one clean GancoreError), ``trained`` or a description of the bug
    (``crash: TypeError: ...``, ``hang``)."""
    doc = copy.deepcopy(doc)
    for section, values in QUICK.items():
        if not isinstance(doc.get(section, {}), dict):
            break  # a mutated section must be refused as it is
        doc[section] = {**doc.get(section, {}), **values}
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        run = gancore.create_run(doc)
        run.train()
        run.sample(2)  # its values may be wild after a wild recipe; that it samples is what counts
        return "trained"
    except gancore.GancoreError as exc:
        # One line per problem: a RecipeError lists several, each on its own line.
        lines = exc.errors if isinstance(exc, gancore.RecipeError) else [str(exc)]
        return "refused" if all(line and "\n" not in line for line in lines) else f"crash: a multi-line error: {exc!r}"
    except Hang:
        return "hang"
    except Exception as exc:  # noqa: BLE001 - any other exception is what the fuzzer looks for
        return f"crash: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def mutants(count: int, seed: int) -> Iterator[tuple[str, dict[str, Any], str]]:
    rng = random.Random(seed)
    recipes = builtin_recipes()
    names = list(recipes)
    for _ in range(count):
        name = rng.choice(names)
        doc, change = mutate(recipes[name], rng)
        yield name, doc, change
