"""Mode metrics of one 2D recipe at several step counts of one run (how coverage and
precision grow with training), on one CPU thread.

    python benchmarks/mode_curve.py pacgan-grid 5000,10000,15000,20000 [key=value ...]

Extra ``key=value`` arguments are recipe overrides (``critic.pack=2``). Prints one line per
step count: the PacGAN-protocol modes, high-quality share and reverse KL of 2,500 samples
(sample seed 12345, as in benchmarks/pacgan.py), and the minutes trained so far.
"""

from __future__ import annotations

import argparse
import time

import torch

import gancore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", help="a 2D recipe (pacgan-grid, gan-ring, ...)")
    parser.add_argument("steps", help="comma-separated step counts, increasing")
    parser.add_argument("overrides", nargs="*", help="recipe overrides, key=value")
    args = parser.parse_args()
    torch.set_num_threads(1)
    recipe, steps, extra = args.recipe, [int(s) for s in args.steps.split(",")], args.overrides
    run = gancore.create_run(recipe, overrides=extra + ["train.device=cpu", "train.log_every=1000", f"train.steps={steps[-1]}"])
    metric = gancore.build("metric", "modes")
    start = time.perf_counter()
    for s in steps:
        run.train(s)
        result = metric.compute(run.dataset.tensors, {"x": run.sample(2500, seed=12345)})
        print(recipe, " ".join(extra), s, {k: round(v, 3) for k, v in result.items()},
              f"{(time.perf_counter() - start) / 60:.2f} min", flush=True)


if __name__ == "__main__":
    main()
