"""TP-GAN on rotated MNIST: do the upright outputs keep their class, against an L1-only generator?

Trains the built-in ``tpgan-mnist`` recipe twice (or reads finished runs with
``--tp-run`` / ``--l1-run``): as it is, and as an L1-only baseline, the same generator,
data and steps with every other loss weight set to 0 (so no critic is trained). Then
turns the held-out rotated digits (the last 2000 images of the bundled split, never
seen in training) upright with each generator and reports

- class accuracy of the outputs, read by the MNIST feature network, against the label;
- mean absolute difference to the true upright digit (pixels in [-1, 1]);

with reference rows for the rotated inputs as they are and for the true upright digits.
Writes docs/results/tpgan.md.

    python benchmarks/tpgan.py --out runs/tpgan
    python benchmarks/tpgan.py --tp-run runs/tpgan/tp-gan --l1-run runs/tpgan/l1-only
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

import torch
from torch import Tensor

import gancore
from gancore._run import Run

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine  # noqa: E402
from _results import (  # noqa: E402
    add_results_options, command_line, held_out_tensors, in_chunks, train_printing_losses, write_results,
)

RECIPE = "tpgan-mnist"
L1_ONLY = ["scheme.adversarial_weight=0", "scheme.symmetry_weight=0", "scheme.identity_weight=0", "scheme.tv_weight=0"]
CHUNK = 500


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("runs/tpgan"), help="parent folder of the runs when training")
    p.add_argument("--tp-run", type=Path, help="measure this finished tp-gan run instead of training")
    p.add_argument("--l1-run", type=Path, help="measure this finished L1-only run instead of training")
    add_results_options(p, "tpgan.md", "override for both runs")
    return p.parse_args(argv)


def get_run(label: str, given: Path | None, extra: list[str], args: argparse.Namespace) -> tuple[Run, float | None]:
    """The trained run and the CPU seconds its training took here (None when read)."""
    if given is not None:
        return Run.load(given, device="cpu"), None
    run = Run.create(RECIPE, overrides=["train.device=cpu", *args.overrides, *extra], out=args.out / label)
    return run, train_printing_losses(run, label)


@torch.no_grad()
def measure(run: Run, data: dict[str, Tensor], classify) -> tuple[float, float]:
    """(class accuracy, L1 to the upright digit) of the run's outputs."""
    with run.averaged() as scheme:  # the EMA generator where the run keeps one
        output = in_chunks(scheme.translate, data["source"], CHUNK)
    accuracy = (in_chunks(classify, output, CHUNK).argmax(1) == data["label"]).float().mean().item()
    return accuracy, (output - data["x"]).abs().mean().item()


def describe(run: Run) -> str:
    s = run.recipe.scheme[2]
    return (f"pixel {s['pixel_weight']:g}, symmetry {s['symmetry_weight']:g}, adversarial {s['adversarial_weight']:g}, "
            f"identity {s['identity_weight']:g}, TV {s['tv_weight']:g}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    runs = {"tp-gan": get_run("tp-gan", args.tp_run, [], args), "l1-only": get_run("l1-only", args.l1_run, L1_ONLY, args)}
    data = held_out_tensors(runs["tp-gan"][0])
    classify = gancore.build("features", "mnist").logits
    rows = []
    for label, (run, cpu) in runs.items():
        accuracy, l1 = measure(run, data, classify)
        # Wall clock counts time other programs held the shared CPU; CPU time does not.
        cpu_text = "" if cpu is None else f", {cpu / 60:.1f} min CPU"
        rows.append((f"{label} ({describe(run)})", accuracy, l1, f"{run.step} steps, {run.seconds / 60:.1f} min wall{cpu_text}"))
    with torch.no_grad():
        for what, images in (("reference: rotated inputs as they are", data["source"]), ("reference: true upright digits", data["x"])):
            accuracy = (in_chunks(classify, images, CHUNK).argmax(1) == data["label"]).float().mean().item()
            rows.append((what, accuracy, (images - data["x"]).abs().mean().item(), ""))
    lines = ["| generator (loss weights) | class accuracy | L1 to upright | training |", "|---|---|---|---|"]
    lines += [f"| {what} | {acc:.1%} | {l1:.4f} | {note} |" for what, acc, l1, note in rows]
    text = "\n".join(lines)
    print(text)
    if args.no_write:
        return
    (tp_acc, tp_l1), (l1_acc, l1_l1) = rows[0][1:3], rows[1][1:3]
    command = command_line(__file__, argv)
    params = runs["tp-gan"][0].recipe.data[2]
    params_text = f"{params.get('min_angle'):g} to {params.get('max_angle'):g} degrees either way"
    doc = f"""# TP-GAN results (rotated MNIST)

Rotated digits ({params_text}) turned upright. {len(data['x'])} held-out images (the last
2000 of the bundled MNIST split, never used in training). Class accuracy: the MNIST
feature network's prediction on each output against the digit's label. L1: mean
absolute pixel difference to the true upright digit (pixels in [-1, 1]). The L1-only
generator is the same recipe with every weight but the pixel one set to 0
(`{' '.join('--set ' + o for o in L1_ONLY)}`), so it trains no critic.

{text}

TP-GAN against L1-only: class accuracy {tp_acc:.1%} vs {l1_acc:.1%} ({(tp_acc - l1_acc) * 100:+.1f} points),
L1 {tp_l1:.4f} vs {l1_l1:.4f}.

Command: `{command}`
Date: {datetime.date.today().isoformat()}
Machine: {machine()}
"""
    write_results(args.results, doc)


if __name__ == "__main__":
    main()
