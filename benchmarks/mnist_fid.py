"""FID (in the MNIST feature space) against wall-clock time for the built-in MNIST recipes,
next to the hand-written DCGAN loop a user writes for MNIST, each trained for the same time
on the same data and machine.

The hand-written loop is the PyTorch DCGAN example's loop at 28 x 28: a generator of
transposed convolutions (z of 100, 256 -> 128 channels, batch norm), a critic of strided
convolutions with LeakyReLU and batch norm (64 -> 128 channels), BCE, Adam(2e-4, betas
0.5/0.999), batch 64.

Every model trains on the bundled MNIST test split and is scored the same way: FID between
N generated samples and N held-out images of the MNIST train split (``--mnist-root``), at
the end of each time slice.

    python benchmarks/mnist_fid.py [--minutes 10] [--slices 5] [--recipes a,b] [--num 5000] [--jobs 2]
                                   [--seeds 3] [--section mnist-fid]

A recipe may carry overrides, ``--recipes r3gan-mnist,r3gan-mnist+train.regularize_every=1``.
With ``--seeds N`` every recipe trains N times (train.seed 0 .. N-1) and each cell is the
mean ± standard error; the hand-written loop trains once (seed 0).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gancore  # noqa: E402
from _hand_loop import hand_written_step  # noqa: E402
from _mnist import add_reference_option, fid, held_out_images, sample_run, train_recipe_for  # noqa: E402
from _report import add_worker_options, in_workers, mean_se, publish, workers_note  # noqa: E402
from gancore._recipe import DEFAULT_RECIPE  # noqa: E402

CONDITIONAL = {"cgan-mnist", "cdcgan-mnist"}
MNIST_RECIPES = [
    "gan-mnist", "cdcgan-mnist", "dcgan-mnist", "dcgan-mnist-wn", "dcgan-mnist-sn", "wgan-mnist",
    "wgan-gp-mnist",
]


class ExampleGenerator(nn.Module):
    """The PyTorch DCGAN example's generator, sized for 28x28: z -> 7x7 -> 14x14 -> 28x28."""

    def __init__(self, nz: int = 100, ngf: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 4, 7, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, 1, 4, 2, 1, bias=False), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])


class ExampleCritic(nn.Module):
    """The example's discriminator at 28x28: 28 -> 14 -> 7, then a 7x7 convolution to one logit."""

    def __init__(self, ndf: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 7, 1, 0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)


def _init(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class ExampleLoop:
    """The loop a user writes for MNIST from the PyTorch DCGAN example: BCE, Adam(2e-4,
    betas 0.5/0.999), one critic and one generator step per batch of 64."""

    def __init__(self, data: torch.Tensor, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.data = data
        self.G, self.D = ExampleGenerator(), ExampleCritic()
        self.G.apply(_init)
        self.D.apply(_init)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.bs, self.steps = 64, 0

    def train_for(self, seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            real = self.data[torch.randint(len(self.data), (self.bs,))]
            hand_written_step(self.G, self.D, self.opt_g, self.opt_d, real, torch.randn(self.bs, 100))
            self.steps += 1

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        self.G.eval()
        out = torch.cat([self.G(torch.randn(min(500, n - i), 100)) for i in range(0, n, 500)])
        self.G.train()
        return out


HAND_LOOP = "hand-written DCGAN loop (the PyTorch example at 28x28)"


def measure(model: str, minutes: float, slices: int, num: int, threads: int, root: Path,
            seed: int = 0) -> tuple[str, list[float], int]:
    """Train one model (a recipe name, or HAND_LOOP) for ``minutes``, measuring FID after each
    of ``slices`` equal slices; returns its row: the model, the FIDs and the steps taken."""
    torch.set_num_threads(threads)
    real_eval, _ = held_out_images(root, num)
    slice_s = minutes * 60 / slices
    fids = []
    if model == HAND_LOOP:
        loop = ExampleLoop(gancore.as_float(gancore.build("dataset", "mnist").tensors["x"]))
        for _ in range(slices):
            loop.train_for(slice_s)
            fids.append(fid(real_eval, loop.sample(num)))
        return model, fids, loop.steps
    # "recipe+key=value+...": the recipe with overrides (a variant, such as another regularize_every)
    name, *changes = model.split("+")
    overrides = {"train.device": "cpu", "train.steps": 10**7, "train.log_every": 10**6, "train.seed": seed}
    run = gancore.create_run(name, overrides=[*(f"{k}={v}" for k, v in overrides.items()), *changes])
    for _ in range(slices):
        train_recipe_for(run, slice_s)
        fids.append(fid(real_eval, sample_run(run, num)))
    return model, fids, run.step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="training time of each model")
    parser.add_argument("--slices", type=int, default=5, help="FID measured after each of this many slices")
    parser.add_argument("--recipes", default=",".join(MNIST_RECIPES))
    parser.add_argument("--num", type=int, default=5000, help="samples for each FID")
    parser.add_argument("--seeds", type=int, default=1, help="runs of each recipe (train.seed 0 .. N-1)")
    parser.add_argument("--section", default="mnist-fid", help="the docs/benchmarks.md section to write")
    add_worker_options(parser, "model")
    add_reference_option(parser)
    args = parser.parse_args()
    _, reference = held_out_images(args.mnist_root, args.num)  # a missing folder fails before any training
    models = [HAND_LOOP, *args.recipes.split(",")]
    work = [(m, args.minutes, args.slices, args.num, args.threads, args.mnist_root, seed)
            for m in models for seed in range(1 if m == HAND_LOOP else args.seeds)]
    runs: dict[str, list[tuple[list[float], int]]] = {}
    for model, fids, steps in in_workers(measure, work, args.jobs):
        print(model, [round(f, 2) for f in fids], f"{steps} steps", flush=True)
        runs.setdefault(model, []).append((fids, steps))
    # Each model's mean FID per slice and mean steps.
    results = {m: ([statistics.fmean(r[0][i] for r in rs) for i in range(args.slices)],
                   round(statistics.fmean(r[1] for r in rs))) for m, rs in runs.items()}
    rows = []
    for model in models:
        label = model if model == HAND_LOOP else f"gancore `{model}`"
        cells = [mean_se([r[0][i] for r in runs[model]]) if len(runs[model]) > 1 else f"{results[model][0][i]:.2f}"
                 for i in range(args.slices)]
        rows.append(f"| {label} | " + " | ".join(cells) + f" | {results[model][1]} |")
    hand = results[HAND_LOOP][0]
    columns = [f"{(i + 1) * args.minutes / args.slices:g} min" for i in range(args.slices)]
    header = "| model | " + " | ".join(f"FID at {c}" for c in columns) + " | steps |"
    table = "\n".join([header, "| --- |" + " ---: |" * (len(columns) + 1), *rows])
    verdicts = []
    unconditional = [m for m in args.recipes.split(",") if m not in CONDITIONAL]
    if unconditional:
        best_name = min(unconditional, key=lambda m: results[m][0][-1])
        best = results[best_name][0][-1]
        verdicts.append(
            f"Best unconditional gancore FID at {args.minutes:g} min: {best:.2f} (`{best_name}`); the hand-written "
            f"loop: {hand[-1]:.2f} (ratio {best / hand[-1]:.3f}; the target is at most 0.2: "
            f"{'met' if best <= hand[-1] / 5 else 'not met'}).")
    if DEFAULT_RECIPE in results:
        beats = all(f < h for f, h in zip(results[DEFAULT_RECIPE][0], hand))
        verdicts.append(f"The default recipe `{DEFAULT_RECIPE}` beats the loop at every time slice: {'yes' if beats else 'no'}.")
    runs_note = (f"each recipe's cells are the mean ± standard error of {args.seeds} runs (train.seed 0 .. "
                 f"{args.seeds - 1}), its steps their mean; the hand-written loop ran once; " if args.seeds > 1 else "")
    body = (f"{table}\n\n" + "  \n".join(verdicts) + f"  \nFID of {args.num} samples against {reference}, in the "
            f"MNIST feature space (lower is better); every model trains on the bundled test split; {runs_note}"
            + workers_note(args, "model"))
    publish(args.section, body, not args.no_write, args.threads)


if __name__ == "__main__":
    main()
