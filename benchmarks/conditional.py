"""Conditional MNIST: does a sample show the digit it was asked for?

Trains each conditional recipe for its own ``train.steps`` and scores 5,000 samples, as
`gancore eval` does: each asks for the label of one of 5,000 real images, and the MNIST
feature network gives the label accuracy (the class asked for against the class the
network sees), the classifier score, and the FID against those real images.

    python benchmarks/conditional.py [--num 5000] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gancore  # noqa: E402
from _report import publish  # noqa: E402

# (label in the table, recipe, overrides)
VARIANTS = [
    ("`cgan-mnist` (MLPs, labels concatenated in G and D)", "cgan-mnist", {}),
    ("`cgan-mnist` with a projection critic", "cgan-mnist", {"critic.conditional": "projection"}),
    ("`cdcgan-mnist` (DCGAN, projection critic)", "cdcgan-mnist", {}),
]
TARGET = 0.95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=5000, help="samples scored per recipe")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lines = ["| recipe | steps | minutes | label accuracy | classifier score | FID |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    best = 0.0
    for label, recipe, overrides in VARIANTS:
        run = gancore.create_run(recipe, overrides=overrides | {"train.device": "cpu"})
        start = time.perf_counter()
        run.train()
        minutes = (time.perf_counter() - start) / 60
        result = run.evaluate(["classifier-score", "fid"], num_samples=args.num)
        print(label, {k: round(v, 4) for k, v in result.items()}, f"{minutes:.1f} min", flush=True)
        best = max(best, result["label_accuracy"])
        lines.append(f"| {label} | {run.step} | {minutes:.1f} | **{result['label_accuracy']:.4f}** | "
                     f"{result['classifier_score']:.2f} | {result['fid']:.2f} |")
    verdict = f"Best label accuracy {best:.4f}; the target is at least {TARGET} ({'met' if best >= TARGET else 'not met'})."
    body = "\n".join(lines) + f"\n\n{verdict}  \n{args.num} samples per recipe, scored by the MNIST feature network."
    publish("conditional", body, not args.no_write, args.threads)


if __name__ == "__main__":
    main()
