"""Speed of `gancore train`, with each of its speed options, against a hand-written loop.

Both train the same networks (built from the registry with the recipe's parameters) on the
same in-memory data with the same optimizer settings. The hand-written loop is the one a
user writes from the PyTorch DCGAN example, in eager fp32: index a batch, one critic step
on real and detached fake, one generator step reusing the fake (for a recipe with R3GAN's
objective, `rpgan` with `r1` and `r2`: that update as R3GAN's code writes it). gancore runs
once per variant (its defaults, which check every update for non-finite values; fused Adam;
bf16 autocast; both; torch.compile; channels-last memory format). A variant in channels-last
format is compared with the hand-written loop in that format too (its networks and batches
converted as PyTorch's tutorial does), and with the same variant without it. Everything
runs in one process, alternating in rounds, so that the machine's state affects all alike;
the ratio of median speeds to the loop's is reported.

A case is one of CASES, or any built-in recipe by name (as it is: its loss must be one the
hand-written loop writes), e.g. `--cases r3gan-mnist`.

    python benchmarks/speed.py [--rounds 5] [--steps 100] [--threads 2] [--device cpu]
                               [--cases dcgan-mnist,RECIPE] [--variants fp32,channels_last] [--section NAME]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gancore  # noqa: E402
from _hand_loop import hand_written_r3gan_step, hand_written_step  # noqa: E402
from _report import publish  # noqa: E402
from gancore._recipe import Recipe  # noqa: E402

# name: (overrides, what it is)
VARIANTS = {
    "fp32": ({}, "the defaults: eager fp32, torch's default Adam, the divergence guard on"),
    "unguarded": ({"train.on_nonfinite": "ignore"}, "the defaults with the divergence guard off (no gradient norm, no check)"),
    "fused": ({"optim.implementation": "fused"}, "fused Adam"),
    "bf16": ({"train.amp": "bf16"}, "bf16 autocast of the forward passes"),
    "bf16+fused": ({"train.amp": "bf16", "optim.implementation": "fused"}, "both"),
    "compile": ({"train.compile": True}, "torch.compile of the networks (compiled during the warm-up)"),
    "channels_last": ({"train.channels_last": True}, "networks and image batches in channels-last memory format "
                      "(against the hand-written loop in that format)"),
    "bf16+channels_last": ({"train.amp": "bf16", "train.channels_last": True}, "bf16 autocast in channels-last format"),
    # For recipes that turn on lazy regularization or channels-last themselves (r3gan-mnist):
    # what each saves, against the same recipe without it.
    "every_step": ({"train.regularize_every": 1}, "the recipe with its penalties in every step (no lazy regularization)"),
    "contiguous": ({"train.channels_last": False}, "the recipe in the ordinary (contiguous) memory format"),
}
# A channels-last variant: the variant it is otherwise the same as, which it is also reported against.
SAME_WITHOUT_CHANNELS_LAST = {"channels_last": "fp32", "bf16+channels_last": "bf16"}
HAND = "hand"
HAND_CHANNELS_LAST = "hand channels_last"

CASES = {
    # name: (recipe, overrides, what it stresses)
    "mlp-grid": ("gan-grid", {}, "small MLPs on 2D points: overhead-bound"),
    # The hand loop uses the non-saturating loss: the recipe is pinned to it, so both do the same work.
    "dcgan-mnist": ("dcgan-mnist", {"loss.name": "non-saturating"}, "DCGAN on 28x28 MNIST: compute-bound"),
}


def case(name: str) -> tuple[str, dict[str, object], str]:
    """(recipe, overrides, what it stresses) of a case: one of CASES, or a built-in recipe as it is."""
    if name in CASES:
        return CASES[name]
    recipes = gancore.registry().recipes
    if name not in recipes:
        raise ValueError(f"unknown case {name!r}: one of {', '.join(CASES)}, or a built-in recipe's name")
    return name, {}, recipes[name].summary or name


def hand_update(recipe: Recipe) -> Callable[..., None]:
    """The hand-written update of the recipe's objective, where the loop has one; the
    networks and Adam settings are the recipe's (a scheduled value is held at the recipe's
    own value: the work of a step is the same)."""
    _, scheme, params = recipe.scheme
    loss = recipe.slots["loss"][1]
    penalties = {name: p["weight"] for _, name, p in recipe.slots.get("regularizers") or []}
    optimizers = {name for _, name, _ in recipe.optimizers.values()}
    if scheme != "adversarial" or params.get("n_critic", 1) != 1 or recipe.augments or optimizers != {"adam"}:
        raise ValueError(f"the hand-written loop is one critic and one generator step with Adam, without "
                         f"augmentation: not {recipe.scheme[1]} {params}, optimizers {sorted(optimizers)}")
    every = getattr(recipe.train, "regularize_every", 1)
    if loss == "non-saturating" and not penalties:
        return hand_written_step
    if loss == "rpgan" and set(penalties) == {"r1", "r2"} and penalties["r1"] == penalties["r2"]:
        return partial(hand_written_r3gan_step, gamma=penalties["r1"], every=every)
    raise ValueError(f"the hand-written loop writes the non-saturating loss, or rpgan with r1 and r2 of one weight "
                     f"(R3GAN): not {loss} with {penalties or 'no regularizers'}")


class HandLoop:
    """The training loop a user writes by hand (the non-saturating loss, or R3GAN's; Adam);
    ``channels_last``: networks and batches in that memory format, as PyTorch's tutorial has it."""

    def __init__(self, run: gancore.Run, channels_last: bool = False) -> None:
        reg = gancore.registry()
        r = run.recipe
        if getattr(run.scheme, "num_classes", None):
            raise ValueError("the hand-written loop is unconditional")
        self.update = hand_update(r)
        self.every = getattr(r.train, "regularize_every", 1) if isinstance(self.update, partial) else 1
        torch.manual_seed(r.train.seed)
        spec = run.spec
        self.G = reg.build("generator", r.slots["generator"][1], r.slots["generator"][2], spec=spec).to(run.device)
        self.D = reg.build("critic", r.slots["critic"][1], r.slots["critic"][2], spec=spec).to(run.device)
        self.channels_last = channels_last
        if channels_last:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        g, d = r.optimizers["generator"][2], r.optimizers["critic"][2]
        c = self.every / (self.every + 1)  # lazy regularization: StyleGAN2's adjustment of the critic's Adam
        d_lr, d_betas = (d["lr"] * c, [b**c for b in d["betas"]]) if self.every > 1 else (d["lr"], d["betas"])
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=g["lr"], betas=g["betas"], eps=g["eps"])
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=d_lr, betas=d_betas, eps=d["eps"])
        self.data = gancore.as_float(run.dataset.tensors["x"]).to(run.device)  # a hand loop holds floats
        self.bs = r.train.batch_size
        self.device = run.device
        self.perm, self.i = torch.randperm(len(self.data), device=self.device), 0
        self.steps = 0

    def step(self) -> None:
        if (self.i + 1) * self.bs > len(self.data):
            self.perm, self.i = torch.randperm(len(self.data), device=self.device), 0
        real = self.data[self.perm[self.i * self.bs : (self.i + 1) * self.bs]]
        if self.channels_last and real.dim() == 4:
            real = real.to(memory_format=torch.channels_last)
        self.i += 1
        z = torch.randn(self.bs, self.G.latent_dim, device=self.device)
        lazy = {"regularize": self.steps % self.every == 0} if self.every > 1 else {}
        self.update(self.G, self.D, self.opt_g, self.opt_d, real, z, **lazy)
        self.steps += 1

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


def channels_last(variant: str) -> bool:
    return bool(VARIANTS[variant][0].get("train.channels_last"))


def hand_of(variant: str) -> str:
    """The hand-written loop a variant is compared with: the one in its memory format."""
    return HAND_CHANNELS_LAST if channels_last(variant) else HAND


def measure(name: str, variants: list[str], rounds: int, steps: int, device: str) -> dict[str, float]:
    """Median steps per second of the hand-written loop (``hand``; ``hand channels_last``
    too where a variant is in that format) and of each variant."""
    recipe, overrides, _ = case(name)
    overrides = overrides | {"train.device": device, "train.log_every": steps}
    # out=None: no files written
    runs = {v: gancore.create_run(recipe, overrides=overrides | VARIANTS[v][0]) for v in variants}
    first = next(iter(runs.values()))
    hands = {HAND: HandLoop(first)}
    if any(channels_last(v) for v in variants):
        hands[HAND_CHANNELS_LAST] = HandLoop(first, channels_last=True)
    for hand in hands.values():
        hand.train(10)  # warm up everything (allocator, first-call costs, compilation)
    for run in runs.values():
        run.train(run.step + 10)
    speeds: dict[str, list[float]] = {k: [] for k in [*hands, *variants]}
    for _ in range(rounds):
        for k, hand in hands.items():
            speeds[k].append(timed(hand.device, partial(hand.train, steps), steps))
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
    parser.add_argument("--section", default=None, help="the docs/benchmarks.md section to write (default: speed-DEVICE)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    variants = args.variants.split(",")
    cases = args.cases.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant {unknown[0]!r}: one of {', '.join(VARIANTS)}")
    try:
        described = {name: case(name)[2] for name in cases}
    except ValueError as exc:
        parser.error(str(exc))
    hands = [HAND, *([HAND_CHANNELS_LAST] if any(channels_last(v) for v in variants) else [])]
    rows, versus = [], []
    for name in cases:
        result = measure(name, variants, args.rounds, args.steps, args.device)
        print(f"{name}: " + "; ".join(f"{k} {result[k]:.1f} it/s" for k in hands) + "; " + "; ".join(
            f"{v} {result[v]:.1f} it/s ({result[v] / result[hand_of(v)]:.2f}x)" for v in variants), flush=True)
        cells = " | ".join(f"{result[v]:.1f} (**{result[v] / result[hand_of(v)]:.2f}**)" for v in variants)
        rows.append(f"| {name} | {described[name]} | " + " | ".join(f"{result[k]:.1f}" for k in hands) + f" | {cells} |")
        versus += [f"{name} {v} {result[v] / result[base]:.2f}x {base}" for v, base in SAME_WITHOUT_CHANNELS_LAST.items()
                   if v in variants and base in variants]
    table = "\n".join([
        "| model | what it stresses | hand-written loop (steps/s) | "
        + ("hand-written loop, channels_last | " if len(hands) > 1 else "")
        + " | ".join(f"gancore {v}" for v in variants) + " |",
        "| --- | --- | ---: | " + " | ".join("---:" for _ in [*hands[1:], *variants]) + " |",
        *rows,
    ])
    legend = "; ".join(f"{v}: {VARIANTS[v][1]}" for v in variants)
    against = ("the hand-written eager fp32 loop in the variant's memory format" if len(hands) > 1
               else "the hand-written eager fp32 loop")
    same = f" Against the same variant without channels_last: {'; '.join(versus)}." if versus else ""
    body = (f"{table}\n\nSteps per second, and in bold the ratio to {against}. {legend}.{same} "
            f"Median of {args.rounds} alternating rounds of {args.steps} steps each, device {args.device}.")
    publish(args.section or f"speed-{args.device.split(':')[0]}", body, not args.no_write, args.threads)


if __name__ == "__main__":
    main()
