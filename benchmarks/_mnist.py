"""Shared by the MNIST benchmarks: the held-out reference images and how a model is scored."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import gancore

# The real MNIST files, when a copy lies beside the repository; --mnist-root names another.
BESIDE_REPO = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def add_reference_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mnist-root", type=Path, default=BESIDE_REPO,
        help="folder with the MNIST IDX files; its train split is the held-out FID reference "
             "(the recipes train on the bundled test split)",
    )


def held_out_images(root: Path, n: int) -> tuple[torch.Tensor, str]:
    """``n`` images the recipes never train on (the train split; they train on the bundled
    test split), drawn with a fixed seed, and a sentence saying what they are."""
    if not root.is_dir():
        raise SystemExit(f"error: {root} is not a folder of MNIST IDX files; pass --mnist-root")
    data = gancore.build("dataset", "mnist", {"source": "directory", "root": str(root), "split": "train"})
    images = gancore.as_float(data.tensors["x"])
    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:n]
    return images[pick], f"{n} images of the MNIST train split, which no model here trains on"


def sample_run(run: gancore.Run, n: int) -> torch.Tensor:
    """``n`` samples of a run's (averaged) generator, in fixed-seed chunks."""
    return torch.cat([run.sample(min(500, n - i), seed=1000 + i) for i in range(0, n, 500)])


def train_recipe_for(run: gancore.Run, seconds: float) -> None:
    """Train in chunks of 10 steps until ``seconds`` of wall-clock time are spent."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        run.train(run.step + 10)


def fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    return gancore.build("metric", "fid").compute({"x": real}, {"x": fake})["fid"]


def digit_report(fake: torch.Tensor, confident: float = 0.9) -> dict[str, float]:
    """What the MNIST classifier sees in the samples: the share it is confident about
    (top class probability above ``confident``), and the smallest class share."""
    logits = gancore.build("features", "mnist").logits(fake)
    probs = torch.softmax(logits.double(), dim=1)
    shares = torch.bincount(probs.argmax(1), minlength=10).double() / len(fake)
    return {
        "confident": float((probs.max(1).values > confident).double().mean()),
        "smallest_class_share": float(shares.min()),
        "classes_seen": int((shares > 0.01).sum()),
    }
