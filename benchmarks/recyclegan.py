"""Recycle-GAN on Moving MNIST: do the temporal predictors beat copying the last frame?

Trains the built-in ``recyclegan-mnist`` recipe (or reads a finished run with ``--run``),
then, on the held-out sequences (built from the last 2000 images of the bundled split,
never seen in training), measures the next-frame error (mean absolute pixel difference,
pixels in [-1, 1]) of

- each predictor on real sequences of its own domain: P_X(x_{1:t}) against x_{t+1};
- each full recycle path: G_X(P_Y(G_Y(x_{1:t}))) against x_{t+1} (and from Y);

next to the copy-the-last-frame baseline (x_t against x_{t+1}) on the same frames. The
target: every error below its baseline. Also reported: how often the MNIST classifier
still reads each translated frame as the digit it came from. Writes docs/results/recyclegan.md.

    python benchmarks/recyclegan.py --out runs/recyclegan
    python benchmarks/recyclegan.py --run runs/recyclegan/recyclegan-mnist
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
from gancore_recyclegan.sequences import frames_of, next_frame_pairs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine  # noqa: E402
from _results import (  # noqa: E402
    add_results_options, command_line, held_out_tensors, in_chunks, train_printing_losses, write_results,
)

CHUNK = 250  # sequences run at once


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("runs/recyclegan"), help="parent folder of the run when training")
    p.add_argument("--run", type=Path, help="measure this finished run instead of training")
    add_results_options(p, "recyclegan.md", "recipe override (dotted.key=value)")
    return p.parse_args(argv)


def get_run(args: argparse.Namespace) -> tuple[Run, float | None]:
    """The trained run and the CPU seconds its training took here (None when read)."""
    if args.run is not None:
        return Run.load(args.run, device="cpu"), None
    recipe = "recyclegan-mnist"
    run = Run.create(recipe, overrides=["train.device=cpu", *args.overrides], out=args.out / recipe)
    return run, train_printing_losses(run, recipe)


def error(predicted: Tensor, target: Tensor) -> float:
    return (predicted - target).abs().mean().item()


def measure(run: Run) -> tuple[list[tuple[str, float, float]], list[tuple[str, float]]]:
    """Rows (what, error, copy-last baseline) and (what, class kept) on held-out sequences."""
    data = held_out_tensors(run)
    classify = gancore.build("features", "mnist").logits
    inverted = run.recipe.data[2].get("domain_b") == "inverted"
    rows, kept = [], []
    with run.averaged() as scheme:  # the EMA generators and predictors where the run keeps them
        for domain, other, field in (("x", "y", "a"), ("y", "x", "b")):
            seq = data[field]
            # Copying frame t as the guess for t+1, on the frames each path predicts.
            for path, context, fn in (
                (f"P_{domain.upper()} on real {domain.upper()}", scheme.context[domain], scheme.predict),
                (f"recycle G_{domain.upper()}(P_{other.upper()}(G_{other.upper()}(.)))", scheme.context[other], scheme.recycle_predict),
            ):
                predicted = in_chunks(lambda s: fn(domain, s), seq, CHUNK)
                history, target = next_frame_pairs(seq, context)
                copy_last = history[:, -1]
                rows.append((path, error(frames_of(predicted), target), error(copy_last, target)))
            into = getattr(scheme, f"generator_{other}")
            translated = in_chunks(lambda s: scheme.translate(into, s), seq, CHUNK)
            labels = data[f"label_{'a' if domain == 'x' else 'b'}"].repeat_interleave(seq.shape[1])
            reads_as = frames_of(translated)
            # The classifier reads white digits on black: frames translated into inverted Y are
            # inverted back before it reads them.
            if inverted and other == "y":
                reads_as = -reads_as
            hits = in_chunks(classify, reads_as, CHUNK).argmax(1) == labels
            kept.append((f"G_{other.upper()}: {domain.upper()} frames -> {other.upper()}, class kept", hits.float().mean().item()))
    return rows, kept


def table(rows: list[tuple[str, float, float]], kept: list[tuple[str, float]]) -> str:
    lines = ["| next-frame prediction | L1 error | copy-last-frame L1 | ratio | below baseline |", "|---|---|---|---|---|"]
    for what, err, base in rows:
        lines.append(f"| {what} | {err:.4f} | {base:.4f} | {err / base:.2f} | {'yes' if err < base else 'no'} |")
    lines += ["", "| translation | value |", "|---|---|"]
    lines += [f"| {what} | {value:.1%} |" for what, value in kept]
    return "\n".join(lines)


def write(run: Run, cpu: float | None, rows, kept, command: str, path: Path) -> None:
    met = all(err < base for _, err, base in rows)
    n = len(gancore.build("dataset", run.recipe.data[1], {**run.recipe.data[2], "subset": "held-out", "limit": None}))
    text = f"""# Recycle-GAN results (Moving MNIST)

Next-frame prediction on {n} held-out sequences per domain (from the last 2000 images of
the bundled MNIST split, never used in training; {run.recipe.data[2].get('frames')} frames each,
digits moving at a constant velocity of up to {run.recipe.data[2].get('max_speed')} pixels per frame
and axis). Errors are mean absolute pixel differences (pixels in [-1, 1]) against the true
next frame; the baseline guesses that frame t+1 equals frame t. Target: every error below
its baseline. **{'Met' if met else 'Not met'}.**

{table(rows, kept)}

The second table: the MNIST feature network's reading of every translated held-out frame,
against the label of the digit it came from (frames translated into inverted digits are
inverted back first).

Run: {run.step} steps, {run.seconds / 60:.1f} min of wall-clock training{cpu_note(cpu)} (`{run.out}`).

Command: `{command}`
Date: {datetime.date.today().isoformat()}
Machine: {machine()}
"""
    write_results(path, text)


def cpu_note(cpu: float | None) -> str:
    """The wall clock counts time other programs held the shared CPU; CPU time does not."""
    return "" if cpu is None else f", {cpu / 60:.1f} min of CPU time on one thread"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    run, cpu = get_run(args)
    rows, kept = measure(run)
    print(table(rows, kept))
    if not args.no_write:
        write(run, cpu, rows, kept, command_line(__file__, argv), args.results)


if __name__ == "__main__":
    main()
