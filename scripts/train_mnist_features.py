"""Train the MNIST feature network shipped with the metrics plugin.

Reads the real MNIST (gzip IDX files) from ``--data`` with the data plugin's reader, trains
``gancore_metrics.features.MnistNet`` on the 60k training split with random shifts of up to
2 pixels, reports the accuracy on the 10k test split, and writes the weights (safetensors)
and a small JSON record next to them.

    python scripts/train_mnist_features.py --data ../shared/data/mnist

Deterministic for a given thread count: seeds are fixed and two CPU threads are used.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

import gancore
from gancore_metrics.features import WEIGHTS_FILE, MnistNet

OUT_DIR = Path(__file__).resolve().parents[1] / "plugins" / "gancore_metrics" / "weights"
SHIFT = 2  # pixels, each direction


def load_split(root: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images N x 1 x 28 x 28 in [-1, 1] (the scaling of generated images) and labels,
    read from the IDX files by the data plugin."""
    data = gancore.build("dataset", "mnist", {"source": "directory", "root": str(root), "split": split})
    return data.tensors["x"], data.tensors["label"]


def random_shift(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Shift each image by its own (dy, dx) in [-SHIFT, SHIFT], filling with background (-1)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (SHIFT,) * 4, value=-1.0)
    dy = torch.randint(0, 2 * SHIFT + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * SHIFT + 1, (n,), generator=gen)
    rows = (torch.arange(h)[None, :] + dy[:, None])[:, :, None]  # n x h x 1
    cols = (torch.arange(w)[None, :] + dx[:, None])[:, None, :]  # n x 1 x w
    return padded[torch.arange(n)[:, None, None], 0, rows, cols].unsqueeze(1)


@torch.no_grad()
def accuracy(net: MnistNet, x: torch.Tensor, y: torch.Tensor) -> float:
    net.eval()
    correct = sum(int((net(xb).argmax(1) == yb).sum()) for xb, yb in zip(x.split(1000), y.split(1000)))
    return correct / len(y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    x_train, y_train = load_split(args.data, "train")
    x_test, y_test = load_split(args.data, "test")

    net = MnistNet()
    steps_per_epoch = len(y_train) // args.batch_size
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch)

    start = time.perf_counter()
    for epoch in range(args.epochs):
        net.train()
        order = torch.randperm(len(y_train), generator=gen)
        total = 0.0
        for i in range(steps_per_epoch):
            idx = order[i * args.batch_size : (i + 1) * args.batch_size]
            loss = F.cross_entropy(net(random_shift(x_train[idx], gen)), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        acc = accuracy(net, x_test, y_test)
        elapsed = time.perf_counter() - start
        print(f"epoch {epoch + 1}/{args.epochs}  loss {total / steps_per_epoch:.4f}  "
              f"test accuracy {acc:.4f}  ({elapsed:.0f} s)", flush=True)

    acc = accuracy(net, x_test, y_test)
    seconds = time.perf_counter() - start
    print(f"test accuracy: {acc:.4f}  (training time {seconds:.0f} s on {args.threads} threads)")

    args.out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(args.out / WEIGHTS_FILE))
    record = {
        "accuracy": round(acc, 4),
        "test_split": "MNIST t10k (10000 images)",
        "epochs": args.epochs,
        "training_seconds": round(seconds),
        "threads": args.threads,
        "command": shlex.join(["python", "scripts/train_mnist_features.py", *sys.argv[1:]]),
    }
    (args.out / "mnist_features.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out / WEIGHTS_FILE}")


if __name__ == "__main__":
    main()
