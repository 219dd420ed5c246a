"""What `gancore train` with no arguments gives: the default recipe trained to its own
``train.steps`` on this machine, its training time, FID against held-out images, and what
the MNIST classifier sees in its samples (the share it is confident about, every class).

    python benchmarks/default_run.py [--threads 2] [--num 5000] [--seeds 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gancore  # noqa: E402
from _mnist import add_reference_option, digit_report, fid, held_out_images, sample_run  # noqa: E402
from _report import mean_se, publish  # noqa: E402
from gancore._recipe import DEFAULT_RECIPE  # noqa: E402

TARGET_FID, TARGET_MINUTES = 10.0, 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the machine's cores)")
    parser.add_argument("--num", type=int, default=5000, help="samples scored, and held-out images")
    parser.add_argument("--seeds", type=int, default=1, help="runs, with train.seed 0, 1, ...")
    parser.add_argument("--no-write", action="store_true")
    add_reference_option(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    real, reference = held_out_images(args.mnist_root, args.num)
    rows: dict[str, list[float]] = {"minutes": [], "fid": [], "confident": [], "smallest_class_share": []}
    steps = 0
    for seed in range(args.seeds):
        run = gancore.create_run(DEFAULT_RECIPE, overrides={"train.device": "cpu", "train.seed": seed})
        start = time.perf_counter()
        run.train()
        rows["minutes"].append((time.perf_counter() - start) / 60)
        fake = sample_run(run, args.num)
        rows["fid"].append(fid(real, fake))
        rows |= {k: rows[k] + [v] for k, v in digit_report(fake).items() if k in rows}
        steps = run.step
        print(seed, {k: round(v[-1], 4) for k, v in rows.items()}, flush=True)
    fids, minutes = rows["fid"], rows["minutes"]
    met = max(fids) <= TARGET_FID and max(minutes) <= TARGET_MINUTES and min(rows["smallest_class_share"]) > 0.02
    table = "\n".join([
        "| recipe | steps | minutes | FID | samples the classifier is confident about | smallest class share |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        f"| `{DEFAULT_RECIPE}` (the default) | {steps} | {mean_se(minutes, 1)} | {mean_se(fids)} | "
        f"{mean_se([100 * c for c in rows['confident']], 1)}% | {mean_se([100 * s for s in rows['smallest_class_share']], 1)}% |",
    ])
    verdict = (f"Target: FID at most {TARGET_FID:g} within {TARGET_MINUTES:g} minutes with every class produced "
               f"({'met' if met else 'not met'}).")
    body = (f"{table}\n\n{verdict}  \n{args.seeds} run(s) of `gancore train` (mean ± standard error); FID of {args.num} "
            f"samples against {reference}; confident: top class probability above 0.9 (a uniform "
            f"class mix gives each class 10%).")
    publish("default-run", body, not args.no_write, args.threads)


if __name__ == "__main__":
    main()
