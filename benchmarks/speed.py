"""Speed of `gancore train`, with each of its speed options, against a hand-written loop.

Both train the same networks (built from the registry with the recipe's parameters) on the
same in-memory data with the same optimizer settings. The hand-written loop is the one a
user writes from the PyTorch DCGAN example, in eager fp32: index a batch, one critic step
on real and detached fake, one generator step reusing the fake. gancore runs once per
variant (its defaults, which check every update for non-finite values; fused Adam; bf16
autocast; both; torch.compile). Everything runs in one process, alternating in rounds, so
that the machine's state affects all alike; the ratio of median speeds to the loop's is
reported.

    python benchmarks/speed.py [--rounds 5] [--steps 100] [--threads 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gancore  # noqa: E402
from _hand_loop import hand_written_step  # noqa: E402
from _report import publish  # noqa: E402

# name: (overrides, what it is)
VARIANTS = {
    "fp32": ({}, "the defaults: eager fp32, torch's default Adam, the divergence guard on"),
    "unguarded": ({"train.on_nonfinite": "ignore"}, "the defaults with the divergence guard off (no gradient norm, no check)"),
    "fused": ({"optim.implementation": "fused"}, "fused Adam"),
    "bf16": ({"train.amp": "bf16"}, "bf16 autocast of the forward passes"),
    "bf16+fused": ({"train.amp": "bf16", "optim.implementation": "fused"}, "both"),
    "compile": ({"train.compile": True}, "torch.compile of the networks (compiled during the warm-up)"),
}

CASES = {
    # name: (recipe, overrides, what it stresses)
    "mlp-grid": ("gan-grid", {}, "small MLPs on 2D points: overhead-bound"),
    # The hand loop uses the non-saturating loss: the recipe is pinned to it, so both do the same work.
    "dcgan-mnist": ("dcgan-mnist", {"loss.name": "non-saturating"}, "DCGAN on 28x28 MNIST: compute-bound"),
}


class HandLoop:
    """The training loop a user writes by hand (non-saturating loss, Adam)."""

    def __init__(self, run: gancore.Run) -> None:
        reg = gancore.registry()
        r = run.recipe
        torch.manual_seed(r.train.seed)
        spec = run.spec
        self.G = reg.build("generator", r.slots["generator"][1], r.slots["generator"][2], spec=spec).to(run.device)
        self.D = reg.build("critic", r.slots["critic"][1], r.slots["critic"][2], spec=spec).to(run.device)
        g, d = r.optimizers["generator"][2], r.optimizers["critic"][2]
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=g["lr"], betas=g["betas"])
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=d["lr"], betas=d["betas"])
        self.data = gancore.as_float(run.dataset.tensors["x"]).to(run.device)  # a hand loop holds floats
        self.bs = r.train.batch_size
        self.device = run.device
        self.perm, self.i = torch.randperm(len(self.data), device=self.device), 0

    def step(self) -> None:
        if (self.i + 1) * self.bs > len(self.data):
            self.perm, self.i = torch.randperm(len(self.data), device=self.device), 0
        real = self.data[self.perm[self.i * self.bs : (self.i + 1) * self.bs]]
        self.i += 1
        z = torch.randn(self.bs, self.G.latent_dim, device=self.device)
        hand_written_step(self.G, self.D, self.opt_g, self.opt_d, real, z)

    def train(self, steps: int) -> None:
        for _ in range(steps):
            self.step()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, train: Callable[[], object], steps: int) -> float:
    sync(device)
    t = time.perf_counter()
    train()
    sync(device)
    return steps / (time.perf_counter() - t)


def measure(name: str, variants: list[str], rounds: int, steps: int, device: str) -> dict[str, float]:
    """Median steps per second of the hand-written loop and of each variant."""
    recipe, overrides, _ = CASES[name]
    overrides = overrides | {"train.device": device, "train.log_every": steps}
    # out=None: no files written
    runs = {v: gancore.create_run(recipe, overrides=overrides | VARIANTS[v][0]) for v in variants}
    hand = HandLoop(next(iter(runs.values())))
    hand.train(10)  # warm up everything (allocator, first-call costs, compilation)
    for run in runs.values():
        run.train(run.step + 10)
    speeds: dict[str, list[float]] = {"hand": [], **{v: [] for v in variants}}
    for _ in range(rounds):
        speeds["hand"].append(timed(hand.device, lambda: hand.train(steps), steps))
        for v, run in runs.items():
            speeds[v].append(timed(run.device, lambda: run.train(run.step + steps), steps))
    return {k: statistics.median(x) for k, x in speeds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100, help="steps per round and side")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    variants = args.variants.split(",")
    rows = []
    for name in args.cases.split(","):
        result = measure(name, variants, args.rounds, args.steps, args.device)
        hand = result["hand"]
        print(f"{name}: hand-written {hand:.1f} it/s; " + "; ".join(
            f"{v} {result[v]:.1f} it/s ({result[v] / hand:.2f}x)" for v in variants), flush=True)
        cells = " | ".join(f"{result[v]:.1f} (**{result[v] / hand:.2f}**)" for v in variants)
        rows.append(f"| {name} | {CASES[name][2]} | {hand:.1f} | {cells} |")
    table = "\n".join([
        "| model | what it stresses | hand-written loop (steps/s) | " + " | ".join(f"gancore {v}" for v in variants) + " |",
        "| --- | --- | ---: | " + " | ".join("---:" for _ in variants) + " |",
        *rows,
    ])
    legend = "; ".join(f"{v}: {VARIANTS[v][1]}" for v in variants)
    body = (f"{table}\n\nSteps per second, and in bold the ratio to the hand-written eager fp32 loop. {legend}. "
            f"Median of {args.rounds} alternating rounds of {args.steps} steps each, device {args.device}.")
    publish(f"speed-{args.device.split(':')[0]}", body, not args.no_write, args.threads)


if __name__ == "__main__":
    main()
