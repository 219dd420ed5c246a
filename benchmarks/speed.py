"""Speed of `gancore train` against a hand-written loop with the same models.

Both train the same networks (built from the registry with the recipe's parameters) on the
same in-memory data with the same optimizer settings. The hand-written loop is the one a
user writes from the PyTorch DCGAN example: index a batch, one critic step on real and
detached fake, one generator step reusing the fake. Both run in one process, alternating
in rounds, so that the machine's state affects them alike; the ratio of median speeds is
reported.

    python benchmarks/speed.py [--rounds 5] [--steps 100] [--threads 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gancore  # noqa: E402
from _report import stamp, write_section  # noqa: E402

CASES = {
    # name: (recipe, overrides, what it stresses)
    "mlp-grid": ("gan-grid", {}, "small MLPs on 2D points: overhead-bound"),
    "dcgan-mnist": ("dcgan-mnist", {}, "DCGAN on 28x28 MNIST: compute-bound"),
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
        g, d = r.optim["generator"], r.optim["critic"]
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=g.lr, betas=g.betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=d.lr, betas=d.betas)
        self.data = run.dataset.tensors["x"].to(run.device)
        self.bs = r.train.batch_size
        self.device = run.device
        self.perm, self.i = torch.randperm(len(self.data), device=self.device), 0

    def step(self) -> None:
        if (self.i + 1) * self.bs > len(self.data):
            self.perm, self.i = torch.randperm(len(self.data), device=self.device), 0
        real = self.data[self.perm[self.i * self.bs : (self.i + 1) * self.bs]]
        self.i += 1
        z = torch.randn(self.bs, self.G.latent_dim, device=self.device)
        fake = self.G(z)
        d_real, d_fake = self.D(real), self.D(fake.detach())
        loss_d = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) + \
            F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
        self.opt_d.zero_grad()
        loss_d.backward()
        self.opt_d.step()
        d_fake = self.D(fake)
        loss_g = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
        self.opt_g.zero_grad()
        loss_g.backward()
        self.opt_g.step()

    def train(self, steps: int) -> None:
        for _ in range(steps):
            self.step()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(name: str, rounds: int, steps: int, device: str) -> dict[str, float]:
    recipe, overrides, _ = CASES[name]
    overrides = overrides | {"train.device": device, "train.log_every": steps}
    run = gancore.create_run(recipe, overrides=overrides)  # out=None: no files written
    hand = HandLoop(run)
    run.train(run.step + 10)  # warm up both (allocator, first-call costs)
    hand.train(10)
    ours, theirs = [], []
    for _ in range(rounds):
        sync(run.device)
        t = time.perf_counter()
        run.train(run.step + steps)
        sync(run.device)
        ours.append(steps / (time.perf_counter() - t))
        t = time.perf_counter()
        hand.train(steps)
        sync(run.device)
        theirs.append(steps / (time.perf_counter() - t))
    a, b = statistics.median(ours), statistics.median(theirs)
    return {"gancore": a, "hand": b, "ratio": a / b}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100, help="steps per round and side")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.cases.split(","):
        result = measure(name, args.rounds, args.steps, args.device)
        print(f"{name}: gancore {result['gancore']:.1f} it/s, hand-written {result['hand']:.1f} it/s, "
              f"ratio {result['ratio']:.3f}", flush=True)
        rows.append(f"| {name} | {CASES[name][2]} | {result['gancore']:.1f} | {result['hand']:.1f} | **{result['ratio']:.2f}** |")
    table = "\n".join([
        "| model | what it stresses | gancore train (steps/s) | hand-written loop (steps/s) | ratio |",
        "| --- | --- | ---: | ---: | ---: |",
        *rows,
    ])
    body = f"{table}\n\nMedian of {args.rounds} alternating rounds of {args.steps} steps each, device {args.device}.  \n{stamp()}"
    print(body)
    if not args.no_write:
        write_section(f"speed-{args.device.split(':')[0]}", body)


if __name__ == "__main__":
    main()
