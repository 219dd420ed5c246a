"""Mutated built-in recipes: every mutant is refused with one clean error or trains one
step; none raises anything else or hangs (a 20-second limit per mutant), and a number
retyped as a string or a float is refused. The long version is ``python scripts/fuzz_recipes.py``."""

from __future__ import annotations

import collections

import pytest

from tests._fuzz import check, expected, mutants

CHUNKS, PER_CHUNK = 4, 250  # 1000 mutants, in chunks that the test workers share


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_mutated_recipes_are_refused_cleanly_or_train(chunk):
    outcomes: collections.Counter = collections.Counter()
    bugs = []
    for i, (name, doc, change) in enumerate(mutants(CHUNKS * PER_CHUNK, seed=2026)):
        if i % CHUNKS != chunk:
            continue
        result = check(doc)
        outcomes[result if result in ("refused", "trained") else "bug"] += 1
        if result not in ("refused", "trained") or expected(change) not in (None, result):
            bugs.append(f"{name}: {change} -> {result}")
        outcomes["retyped"] += change.startswith("retype ")
    assert not bugs, "\n".join(bugs)
    assert outcomes["refused"] + outcomes["trained"] + outcomes["bug"] == PER_CHUNK
    assert outcomes["refused"] > 0 and outcomes["trained"] > 0  # the mutants reach both outcomes
    assert outcomes["retyped"] > 0
