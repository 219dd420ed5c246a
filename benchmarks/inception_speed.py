"""Images per second of the `inception` features on the CPU, against the same network run
the plain way.

gancore's `InceptionFeatures` (BatchNorm folded into the convs, channels-last memory) and
the reference of the test suite (tests/inception_reference.py: the network as functions of
the state dict, conv then eval-mode BatchNorm, NCHW, pytorch-fid's input path) extract pool3
features of the same random uint8 images with the same weights, alternating in rounds in
one process so that the machine's state affects both alike; the median speed of each is
reported. Without --weights the weights are random, in the published layout: the speed
does not depend on their values.

    python benchmarks/inception_speed.py [--rounds 3] [--images 200] [--batch-size 50] [--size 32] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import ROOT, publish  # noqa: E402

PROJECTED = 10_000  # images of a usual FID evaluation


def reference_module():
    """tests/inception_reference.py, imported by path (the tests folder joins sys.path only
    when the benchmark runs)."""
    folder = str(ROOT / "tests")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    import inception_reference

    return inception_reference


def timed(extract: Callable[[Tensor], Tensor], x: Tensor) -> float:
    started = time.perf_counter()
    extract(x)
    return len(x) / (time.perf_counter() - started)


def measure(weights: Path, args: argparse.Namespace) -> dict[str, float]:
    """Median images per second of each way, and their largest feature difference."""
    reference = reference_module()
    from gancore_metrics.inception import InceptionFeatures
    from gancore_metrics.inception_weights import InceptionWeightsWarning

    warnings.simplefilter("ignore", InceptionWeightsWarning)  # random weights are not the published file
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (args.images, 3, args.size, args.size), dtype=torch.uint8, generator=g)
    ours = InceptionFeatures(weights=str(weights), batch_size=args.batch_size)
    state = reference.load_state(weights)
    ways: dict[str, Callable[[Tensor], Tensor]] = {
        "gancore": ours.features,
        "reference": lambda images: reference.reference(state, images, args.batch_size)[0],
    }
    # warm-up: loading, first-call costs; and both give the same features
    first = x[: args.batch_size]
    diff = (ways["gancore"](first) - ways["reference"](first)).abs().max().item()
    speeds: dict[str, list[float]] = {name: [] for name in ways}
    for r in range(args.rounds):
        order = list(ways) if r % 2 == 0 else list(reversed(ways))
        for name in order:
            speeds[name].append(timed(ways[name], x))
        print(f"round {r + 1}: " + ", ".join(f"{n} {speeds[n][-1]:.1f} images/s" for n in ways), flush=True)
    return {name: statistics.median(s) for name, s in speeds.items()} | {"diff": diff}


def minutes(images_per_s: float) -> str:
    return f"{PROJECTED / images_per_s / 60:.1f} min"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=200, help="images per round and side")
    parser.add_argument("--batch-size", type=int, default=50, help="images per forward pass (both sides)")
    parser.add_argument("--size", type=int, default=32, help="side of the input images (resized to 299)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--weights", type=Path, help="a weights file (default: random weights in the published layout)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        if args.weights is None:
            weights = reference_module().write_weights(Path(folder) / "random-inception.pth")
        else:
            weights = args.weights
        result = measure(weights, args)
    ours, plain = result["gancore"], result["reference"]
    table = "\n".join([
        f"| implementation | images/s | time for {PROJECTED:,} images |",
        "| --- | ---: | ---: |",
        f"| gancore `InceptionFeatures` (BN folded, channels-last) | {ours:.1f} | {minutes(ours)} |",
        f"| reference (conv + eval BatchNorm, NCHW) | {plain:.1f} | {minutes(plain)} |",
        f"| ratio gancore / reference | **{ours / plain:.2f}** | |",
    ])
    source = "random weights in the published layout" if args.weights is None else f"weights {args.weights.name}"
    body = (f"{table}\n\nMedian of {args.rounds} alternating rounds of {args.images} random uint8 "
            f"{args.size} x {args.size} images each (resized to 299 x 299), batches of {args.batch_size}, "
            f"{source}; the two agree to {result['diff']:.1e} (largest absolute feature difference).")
    publish("inception-speed", body, not args.no_write, args.threads)


if __name__ == "__main__":
    main()
