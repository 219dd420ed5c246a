"""The PacGAN Table 1 protocol on the 2D mixtures: modes captured, high-quality samples
and reverse KL, mean and standard error over seeds, for GAN, packed critics, WGAN-GP and
the best gancore recipe.

Each run trains a built-in recipe (with the variant's overrides) and scores 2,500 samples
with the `modes` metric: a sample is high quality within 3 standard deviations of its
nearest mode; a mode is captured with at least one high-quality sample; reverse KL is
that of the high-quality samples' mode histogram to uniform.

    python benchmarks/pacgan.py [--seeds 3] [--steps N] [--datasets ring,grid] [--jobs 2]
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

# variant: (recipe pattern, overrides)
VARIANTS = {
    "GAN": ("gan-{d}", {}),
    "PacGAN2": ("gan-{d}", {"critic.pack": 2}),
    "PacGAN4": ("gan-{d}", {"critic.pack": 4}),
    "WGAN-GP": ("wgan-gp-{d}", {}),
    "gancore best (pacgan-{d})": ("pacgan-{d}", {}),
}
ANCHORS = {  # PacGAN (Lin et al. 2018), Table 1, 2D grid: modes, high-quality %, reverse KL
    ("grid", "PacGAN4"): "24.8 / 93.6 / 0.04",
}


def score(run: gancore.Run, dataset: str) -> dict[str, float]:
    metric = gancore.build("metric", "modes", {"benchmark": dataset})
    return metric.compute({}, {"x": run.sample(2500, seed=12345)})


def measure(recipe: str, overrides: dict, dataset: str, threads: int) -> tuple[dict[str, float], float, int]:
    """Train one run; its mode metrics, training minutes and steps."""
    torch.set_num_threads(threads)
    run = gancore.create_run(recipe, overrides=overrides)
    t = time.perf_counter()
    run.train()
    minutes = (time.perf_counter() - t) / 60
    return score(run, dataset), minutes, run.recipe.train.steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=None, help="override every recipe's train.steps")
    parser.add_argument("--datasets", default="ring,grid")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    add_worker_options(parser)
    args = parser.parse_args()
    reg = gancore.registry()
    cells, work = [], []
    for dataset in args.datasets.split(","):
        for variant in args.variants.split(","):
            pattern, overrides = VARIANTS[variant]
            recipe = pattern.format(d=dataset)
            if recipe not in reg.recipes:
                print(f"skip {variant.format(d=dataset)} on {dataset}: no recipe {recipe}")
                continue
            cells.append((dataset, variant))
            for seed in range(args.seeds):
                ov = overrides | {"train.seed": seed, "data.seed": seed, "train.device": "cpu"}
                if args.steps:
                    ov["train.steps"] = args.steps
                work.append((recipe, ov, dataset, args.threads))
    outcomes = list(in_workers(measure, work, args.jobs))
    lines = ["| data | variant | steps | modes | high quality (%) | reverse KL | minutes/run | PacGAN paper (modes / HQ % / KL) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for i, (dataset, variant) in enumerate(cells):
        mine = outcomes[i * args.seeds:(i + 1) * args.seeds]
        results = [r for r, _, _ in mine]
        for seed, (r, minutes, _) in enumerate(mine):
            print(dataset, variant.format(d=dataset), seed, r, f"{minutes:.2f} min", flush=True)
        lines.append(
            f"| {dataset} | {variant.format(d=dataset)} | {mine[0][2]} | {mean_se([r['modes'] for r in results])} | "
            f"{mean_se([100 * r['high_quality'] for r in results])} | {mean_se([r['reverse_kl'] for r in results])} | "
            f"{statistics.fmean(m for _, m, _ in mine):.1f} | {ANCHORS.get((dataset, variant), '')} |"
        )
    body = "\n".join(lines) + f"\n\nMean ± standard error over {args.seeds} seeds, 2,500 samples each; " + workers_note(args)
    publish("pacgan", body, not args.no_write, args.threads)


if __name__ == "__main__":
    main()
