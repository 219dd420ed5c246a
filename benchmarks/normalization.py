"""The normalization study (after Xiang & Li 2017): `dcgan-mnist` with batch, weight,
spectral and no normalization, trained for the same steps over several seeds, measured by

- the reconstruction distance of held-out images (`reconstruction`: a latent code optimised
  per image; can the generator represent data it never saw?),
- FID against held-out images at the end, and
- stability: the spread (standard deviation) of FID over the last checkpoints of each run.

Every run trains on the MNIST train split (``--mnist-root``); the held-out images are the
bundled test split. The paper's claim: weight normalization trains more stably than batch
normalization and reconstructs test images better.

    python benchmarks/normalization.py [--seeds 3] [--steps 2000] [--images 256] [--jobs 2] [--threads 1]
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
from _mnist import add_reference_option, fid, held_out_images, sample_run  # noqa: E402
from _report import add_worker_options, in_workers, mean_se, publish, workers_note  # noqa: E402

RECIPE = "dcgan-mnist"
# (label, generator norm, critic norm): spectral norm goes in the critic only, as in
# Miyato et al. 2018 (and `dcgan-mnist-sn`); the others go in both networks.
VARIANTS = [
    ("batch (G and D)", "batch", "batch"),
    ("weight (G and D)", "weight", "weight"),
    ("spectral (D; batch in G)", "batch", "spectral"),
    ("none", "none", "none"),
]
CHECKPOINTS = 5  # FIDs over the last 40% of training, for the spread


def measure(variant: int, seed: int, steps: int, num: int, threads: int, root: Path, images: int) -> dict[str, float]:
    """One run: final FID, FID spread over its last checkpoints, reconstruction, minutes."""
    torch.set_num_threads(threads)
    _, g_norm, d_norm = VARIANTS[variant]
    overrides = {
        "train.device": "cpu", "train.seed": seed, "train.steps": steps, "train.log_every": 10**6,
        "train.sample_every": 0, "train.checkpoint_every": 0,
        "generator.norm": g_norm, "critic.norm": d_norm,
        "data.source": "directory", "data.root": str(root), "data.split": "train",
    }
    run = gancore.create_run(RECIPE, overrides=overrides)
    held_out = gancore.as_float(gancore.build("dataset", "mnist").tensors["x"])  # the bundled test split
    real = held_out[torch.randperm(len(held_out), generator=torch.Generator().manual_seed(0))[:num]]
    marks = [round(steps * (0.6 + 0.4 * (i + 1) / CHECKPOINTS)) for i in range(CHECKPOINTS)]
    fids, start, diverged = [], time.perf_counter(), 0.0
    for mark in marks:
        try:
            run.train(mark)
        except gancore.DivergenceError:
            diverged = 1.0
            break
        fids.append(fid(real, sample_run(run, num)))
    minutes = (time.perf_counter() - start) / 60
    if diverged:
        return {"diverged": 1.0, "minutes": minutes}
    recon = run.evaluate([{"name": "reconstruction", "num_images": images}], num_samples=num)
    return {
        "fid": fids[-1], "fid_spread": statistics.stdev(fids), "diverged": 0.0, "minutes": minutes,
        "mse": recon["reconstruction_mse"], "distance": recon["reconstruction_distance"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2000, help="training steps of every run")
    parser.add_argument("--images", type=int, default=256, help="held-out images reconstructed per run")
    parser.add_argument("--num", type=int, default=2000, help="samples (and held-out images) per FID")
    add_worker_options(parser)
    add_reference_option(parser)
    args = parser.parse_args()
    held_out_images(args.mnist_root, 1)  # a missing folder fails before any training
    work = [(v, seed, args.steps, args.num, args.threads, args.mnist_root, args.images)
            for v in range(len(VARIANTS)) for seed in range(args.seeds)]
    outcomes = list(in_workers(measure, work, args.jobs))
    lines = ["| normalization | reconstruction distance (per image) | reconstruction MSE (per pixel) | FID | "
             "FID spread over the last checkpoints | diverged runs | minutes/run |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    summary: dict[str, dict[str, float]] = {}
    for v, (label, _, _) in enumerate(VARIANTS):
        mine = outcomes[v * args.seeds:(v + 1) * args.seeds]
        for seed, r in enumerate(mine):
            print(label, seed, {k: round(x, 4) for k, x in r.items()}, flush=True)
        done = [r for r in mine if not r["diverged"]]

        def col(key: str, digits: int = 2) -> str:
            return mean_se([r[key] for r in done], digits) if done else "-"

        summary[label] = {k: statistics.fmean(r[k] for r in done) for k in ("distance", "fid_spread")} if done else {}
        lines.append(f"| {label} | {col('distance')} | {col('mse', 4)} | {col('fid')} | {col('fid_spread')} | "
                     f"{sum(int(r['diverged']) for r in mine)} of {len(mine)} | "
                     f"{statistics.fmean(r['minutes'] for r in mine):.1f} |")
    bn, wn = summary[VARIANTS[0][0]], summary[VARIANTS[1][0]]
    if bn and wn:
        recon = "holds" if wn["distance"] < bn["distance"] else "does not hold"
        stable = "holds" if wn["fid_spread"] < bn["fid_spread"] else "does not hold"
        verdict = (f"The paper's claim here: weight normalization reconstructs held-out images better than batch "
                   f"normalization: {recon} ({wn['distance']:.2f} against {bn['distance']:.2f}); it trains more "
                   f"stably (smaller FID spread): {stable} ({wn['fid_spread']:.2f} against {bn['fid_spread']:.2f}).")
    else:
        verdict = "Every run of batch or weight normalization diverged: the claim could not be tested."
    body = "\n".join(lines) + (
        f"\n\n{verdict}  \nMean ± standard error over {args.seeds} seeds of `{RECIPE}` trained {args.steps} steps on the "
        f"MNIST train split with the normalization changed (everything else as the recipe); FID of {args.num} samples "
        f"against {args.num} images of the bundled test split, its spread the standard deviation of FID at "
        f"{CHECKPOINTS} checkpoints over the last 40% of training; reconstruction of {args.images} test images (300 Adam "
        f"steps, 4 restarts each). {workers_note(args)}")
    publish("normalization", body, not args.no_write, args.threads)


if __name__ == "__main__":
    main()
