"""The long version of tests/test_fuzz.py: many mutated built-in recipes, each refused with
one clean error or trained one step; prints the tally and every bug (crash or hang).

    python scripts/fuzz_recipes.py [--count 10000] [--seed 1] [--threads 1]
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests._fuzz import check, expected, mutants  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    tally: collections.Counter = collections.Counter()
    for name, doc, change in mutants(args.count, args.seed):
        result = check(doc)
        kind = result if result in ("refused", "trained") and expected(change) in (None, result) else "bug"
        tally[kind] += 1
        if kind == "bug":
            print(f"bug: {name}: {change} -> {result}", flush=True)
    minutes = (time.perf_counter() - started) / 60
    print(f"{args.count} mutants (seed {args.seed}): {tally['refused']} refused, {tally['trained']} trained, "
          f"{tally['bug']} bugs, in {minutes:.1f} min")
    return 1 if tally["bug"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
