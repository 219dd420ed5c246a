"""Data-efficient training: `dcgan-mnist` on 600 and 6,000 MNIST images (``data.limit``),
trained for the same steps with no augmentation, DiffAugment, ADA, and LeCam with
DiffAugment, over several seeds; FID against held-out images.

Every run trains on the first N images of the bundled test split and is scored with
5,000 samples against 5,000 images of the MNIST train split (``--mnist-root``). The
target: at 600 images, augmentation lowers FID by at least 30% against none.

    python benchmarks/augmentation.py [--seeds 3] [--steps 3000] [--limits 600,6000] [--jobs 2]
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
VARIANTS = {
    "none": {},
    "diffaugment": {"augment": [{"name": "diffaugment"}]},
    # A speed for p that lets it adapt within a run of a few thousand steps.
    "ada": {"augment": [{"name": "ada", "speed": 50_000}]},
    "lecam + diffaugment": {"augment": [{"name": "diffaugment"}], "regularizers": [{"name": "lecam"}]},
}
TARGET = 0.30


def measure(variant: str, limit: int, seed: int, steps: int, num: int, threads: int, root: Path) -> tuple[float, float]:
    """One run's FID and training minutes."""
    torch.set_num_threads(threads)
    real, _ = held_out_images(root, num)
    overrides = {"train.device": "cpu", "train.seed": seed, "train.steps": steps, "train.log_every": 10**6,
                 "train.sample_every": 0, "train.checkpoint_every": 0, "data.limit": limit, **VARIANTS[variant]}
    run = gancore.create_run(RECIPE, overrides=overrides)
    start = time.perf_counter()
    run.train()
    minutes = (time.perf_counter() - start) / 60
    return fid(real, sample_run(run, num)), minutes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--limits", default="600,6000", help="training-set sizes")
    parser.add_argument("--num", type=int, default=5000, help="samples (and held-out images) per FID")
    add_worker_options(parser)
    add_reference_option(parser)
    args = parser.parse_args()
    _, reference = held_out_images(args.mnist_root, args.num)
    limits = [int(x) for x in args.limits.split(",")]
    work = [(v, n, s, args.steps, args.num, args.threads, args.mnist_root)
            for n in limits for v in VARIANTS for s in range(args.seeds)]
    outcomes = dict(zip([(v, n, s) for v, n, s, *_ in work], in_workers(measure, work, args.jobs)))
    lines = ["| training images | augmentation | FID | change against none | minutes/run |",
             "| ---: | --- | ---: | ---: | ---: |"]
    verdicts = []
    for n in limits:
        none = statistics.fmean(outcomes[("none", n, s)][0] for s in range(args.seeds))
        best = None
        for v in VARIANTS:
            fids = [outcomes[(v, n, s)][0] for s in range(args.seeds)]
            change = statistics.fmean(fids) / none - 1
            if v != "none" and (best is None or change < best[1]):
                best = (v, change)
            minutes = statistics.fmean(outcomes[(v, n, s)][1] for s in range(args.seeds))
            lines.append(f"| {n} | {v} | {mean_se(fids)} | {'' if v == 'none' else f'{100 * change:+.0f}%'} | {minutes:.1f} |")
        if best is not None:
            met = "met" if -best[1] >= TARGET else "not met"
            target = f" (target: at least -{100 * TARGET:.0f}%: {met})" if n == 600 else ""
            verdicts.append(f"{n} images: the best augmentation, {best[0]}, changes FID by {100 * best[1]:+.0f}%{target}.")
    body = "\n".join(lines) + "\n\n" + "  \n".join(verdicts) + (
        f"  \nMean ± standard error over {args.seeds} seeds of `{RECIPE}` trained {args.steps} steps on the first N "
        f"images of the bundled test split; FID of {args.num} samples against {reference}. {workers_note(args)}")
    publish("augmentation", body, not args.no_write, args.threads)


if __name__ == "__main__":
    main()
