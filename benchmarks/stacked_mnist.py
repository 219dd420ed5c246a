"""Stacked MNIST, the PacGAN / VEEGAN protocol: modes covered out of 1000 and KL of the
mode histogram to uniform, on 26,000 samples, mean and standard error over seeds, for the
built-in Stacked MNIST recipes, next to the published figures.

Each run trains a recipe (its own steps, or a time budget with --minutes) and classifies
every channel of 26,000 samples with the MNIST feature network (`stacked-mnist-modes`):
a mode is a triple of digits with at least one sample.

    python benchmarks/stacked_mnist.py [--seeds 3] [--minutes M] [--recipes a,b] [--jobs 2] [--section NAME]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gancore  # noqa: E402
from _report import add_worker_options, in_workers, mean_se, publish, workers_note  # noqa: E402

RECIPES = ["dcgan-stacked-mnist", "pacgan-stacked-mnist"]
# PacGAN (Lin et al. 2018), Table 3, and VEEGAN (Srivastava et al. 2017): modes / KL.
ANCHORS = [
    ("DCGAN (VEEGAN)", "99.0 / 3.40"),
    ("DCGAN (PacGAN Table 3)", "78.9 / 4.50"),
    ("Unrolled GAN (VEEGAN)", "48.7 / "),
    ("VEEGAN", "150.0 / "),
    ("PacDCGAN2 (PacGAN Table 3)", "1000.0 / 0.06"),
    ("PacDCGAN4 (PacGAN Table 3)", "1000.0 / 0.07"),
]
SAMPLES = 26_000


def train(run: gancore.Run, minutes: float | None) -> None:
    if minutes is None:
        run.train()
        return
    end = time.perf_counter() + minutes * 60
    while time.perf_counter() < end:
        run.train(run.step + 50)


def measure(recipe: str, seed: int, minutes: float | None, steps: int | None, threads: int) -> tuple[dict[str, float], float, int]:
    """One run: its mode figures, training minutes and steps."""
    torch.set_num_threads(threads)
    overrides = {"train.seed": seed, "data.seed": seed, "train.device": "cpu", "train.sample_every": 0,
                 "train.checkpoint_every": 0}
    if minutes is not None:
        overrides["train.steps"] = 10**7
    elif steps is not None:
        overrides["train.steps"] = steps
    run = gancore.create_run(recipe, overrides=overrides)
    t = time.perf_counter()
    train(run, minutes)
    spent = (time.perf_counter() - t) / 60
    samples = torch.cat([run.sample(min(1000, SAMPLES - i), seed=10_000 + i) for i in range(0, SAMPLES, 1000)])
    result = run.registry.build("metric", "stacked-mnist-modes").compute({}, {"x": samples})
    return result, spent, run.step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--minutes", type=float, default=None, help="train each run for this long (default: its steps)")
    parser.add_argument("--steps", type=int, default=None, help="override every recipe's train.steps")
    parser.add_argument("--section", default="stacked-mnist", help="the docs/benchmarks.md section to write")
    add_worker_options(parser)
    args = parser.parse_args()
    recipes = args.recipes.split(",")
    work = [(r, seed, args.minutes, args.steps, args.threads) for r in recipes for seed in range(args.seeds)]
    outcomes = list(in_workers(measure, work, args.jobs))
    lines = ["| model | steps | modes (of 1000) | KL to uniform | minutes/run |", "| --- | ---: | ---: | ---: | ---: |"]
    for i, recipe in enumerate(recipes):
        mine = outcomes[i * args.seeds:(i + 1) * args.seeds]
        for seed, (r, minutes, steps) in enumerate(mine):
            print(recipe, seed, r, f"{steps} steps, {minutes:.1f} min", flush=True)
        lines.append(f"| gancore `{recipe}` | {statistics.fmean(s for _, _, s in mine):.0f} | "
                     f"{mean_se([r['modes'] for r, _, _ in mine], 1)} | {mean_se([r['kl'] for r, _, _ in mine])} | "
                     f"{statistics.fmean(m for _, m, _ in mine):.1f} |")
    lines += [f"| {name} (published) | | {figures.split(' / ')[0]} | {figures.split(' / ')[1]} | |" for name, figures in ANCHORS]
    body = "\n".join(lines) + (f"\n\nMean ± standard error over {args.seeds} seeds, {SAMPLES:,} samples each, every "
                               f"channel classified by the MNIST feature network; {workers_note(args)}")
    publish(args.section, body, not args.no_write, args.threads)


if __name__ == "__main__":
    main()
