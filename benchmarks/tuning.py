"""One recipe with overrides, trained on this machine and scored at several step counts:
how the default recipe was tuned (docs/benchmarks.md, "The default recipe").

FID of 5,000 samples against 10,000 held-out images (the MNIST train split; the recipes
train on the bundled test split), at each step count of ``--steps``, with the seconds
trained so far.

    python benchmarks/tuning.py dcgan-mnist '{"loss.name": "hinge"}' [--steps 2000,4000,6000] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gancore  # noqa: E402
from _mnist import add_reference_option, fid, held_out_images, sample_run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", help="a built-in MNIST recipe, or a recipe file")
    parser.add_argument("overrides", nargs="?", default="{}", help='recipe overrides as JSON: \'{"optim.lr": 5e-4}\'')
    parser.add_argument("--steps", default="2000,4000,6000", help="comma-separated step counts to score at")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--num", type=int, default=5000, help="samples per FID")
    add_reference_option(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = json.loads(args.overrides)
    real, _ = held_out_images(args.mnist_root, 10_000)
    run = gancore.create_run(args.recipe, overrides={
        "train.device": "cpu", "train.steps": 10**7, "train.log_every": 10**6, "train.sample_every": 0,
        "train.checkpoint_every": 0, **overrides})
    seconds, results = 0.0, []
    for mark in [int(s) for s in args.steps.split(",")]:
        start = time.perf_counter()
        run.train(mark)
        seconds += time.perf_counter() - start
        results.append((run.step, round(seconds), round(fid(real, sample_run(run, args.num)), 1)))
        print(f"  step {results[-1][0]}: {results[-1][1]} s, FID {results[-1][2]}", flush=True)
    print(args.recipe, json.dumps(overrides), results)


if __name__ == "__main__":
    main()
