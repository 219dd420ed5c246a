"""The ResNet recipe against the default at equal wall-clock time: `sngan-mnist` (SN-GAN
ResNets at 32 x 32) and `dcgan-mnist`, each trained for the same minutes on the same data
and machine, FID against held-out images after each time slice, over several seeds.

Both train on the bundled MNIST test split; FID takes N samples against N images of the
MNIST train split (``--mnist-root``); the 32 x 32 samples are resized to 28 x 28 by the
feature network, as every 32 x 32 MNIST generator is.

    python benchmarks/resnet.py [--minutes 10] [--slices 5] [--seeds 2] [--jobs 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gancore  # noqa: E402
from _mnist import add_reference_option, fid, held_out_images, sample_run, train_recipe_for  # noqa: E402
from _report import add_worker_options, in_workers, mean_se, publish, workers_note  # noqa: E402

RECIPES = ["dcgan-mnist", "sngan-mnist"]


def measure(recipe: str, seed: int, minutes: float, slices: int, num: int, threads: int,
            root: Path) -> tuple[list[float], int]:
    """Train one recipe for ``minutes``; its FID after each slice, and the steps it took."""
    torch.set_num_threads(threads)
    real, _ = held_out_images(root, num)
    run = gancore.create_run(recipe, overrides={
        "train.device": "cpu", "train.seed": seed, "train.steps": 10**7, "train.log_every": 10**6,
        "train.sample_every": 0, "train.checkpoint_every": 0})
    fids = []
    for _ in range(slices):
        train_recipe_for(run, minutes * 60 / slices)
        fids.append(fid(real, sample_run(run, num)))
    return fids, run.step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="training time of each run")
    parser.add_argument("--slices", type=int, default=5, help="FID measured after each of this many slices")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--num", type=int, default=5000, help="samples (and held-out images) per FID")
    add_worker_options(parser)
    add_reference_option(parser)
    args = parser.parse_args()
    _, reference = held_out_images(args.mnist_root, args.num)  # a missing folder fails before any training
    recipes = args.recipes.split(",")
    # Seed-major order, so that with two jobs the recipes train side by side on equal terms.
    keys = [(r, s) for s in range(args.seeds) for r in recipes]
    work = [(r, s, args.minutes, args.slices, args.num, args.threads, args.mnist_root) for r, s in keys]
    outcomes = dict(zip(keys, in_workers(measure, work, args.jobs)))
    for key, (fids, steps) in outcomes.items():
        print(*key, [round(f, 2) for f in fids], f"{steps} steps", flush=True)
    columns = [f"{(i + 1) * args.minutes / args.slices:g} min" for i in range(args.slices)]
    lines = ["| recipe | " + " | ".join(f"FID at {c}" for c in columns) + " | steps |",
             "| --- |" + " ---: |" * (len(columns) + 1)]
    final = {}
    for r in recipes:
        runs = [outcomes[(r, s)] for s in range(args.seeds)]
        final[r] = statistics.fmean(f[-1] for f, _ in runs)
        cells = [mean_se([f[i] for f, _ in runs]) for i in range(args.slices)]
        lines.append(f"| `{r}` | " + " | ".join(cells) + f" | {statistics.fmean(n for _, n in runs):.0f} |")
    best = min(final, key=final.get)
    body = ("\n".join(lines) + f"\n\nLowest FID at {args.minutes:g} min: `{best}` ({final[best]:.2f}).  \n"
            f"Mean ± standard error over {args.seeds} seeds; FID of {args.num} samples against {reference}; "
            + workers_note(args))
    publish("resnet", body, not args.no_write, args.threads)


if __name__ == "__main__":
    main()
