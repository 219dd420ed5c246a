"""InfoGAN on MNIST: does the categorical code learn the digit classes without labels?

Trains the built-in ``infogan-mnist`` recipe (or reads a finished run with ``--run``),
then measures:

- code -> digit agreement: ``--per-category`` samples of each category, classified by
  the MNIST feature network; the share whose digit is their category's digit under the
  best one-to-one category -> digit mapping (Hungarian assignment);
- Q as a classifier: Q's most likely category on the real (bundled) MNIST images, matched
  to the true labels the same way (the paper reports about 5% error on MNIST).

and writes the table to docs/results/infogan.md.

    python benchmarks/infogan.py --out runs/infogan-mnist
    python benchmarks/infogan.py --run runs/infogan-mnist     # measure a finished run
"""

from __future__ import annotations

import argparse
import datetime
import platform
import shlex
import sys
from pathlib import Path

import torch

import gancore
from gancore._run import Run
from gancore_infogan import code_agreement, measure_code_agreement

TARGET = 0.80
ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, help="measure this finished run instead of training")
    p.add_argument("--out", type=Path, default=Path("runs/infogan-mnist"), help="run directory when training")
    p.add_argument("--recipe", default="infogan-mnist")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="recipe override (dotted.key=value)")
    p.add_argument("--per-category", type=int, default=1000, help="generated samples per category")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (the CPU is shared)")
    p.add_argument("--results", type=Path, default=ROOT / "docs/results/infogan.md", help="markdown file to write")
    p.add_argument("--no-write", action="store_true", help="print only")
    return p.parse_args(argv)


def train(args: argparse.Namespace) -> Run:
    overrides = ["train.device=cpu", *args.overrides]
    run = Run.create(args.recipe, overrides=overrides, out=args.out)

    def report(row: dict) -> None:
        keep = ("step", "seconds", "loss_critic", "loss_generator", "info_categorical", "info_continuous", "q_accuracy")
        print(" ".join(f"{k}={row[k]:.4g}" if isinstance(row[k], float) else f"{k}={row[k]}" for k in keep if k in row),
              flush=True)

    return run.train(report=report)


@torch.no_grad()
def measure(run: Run, per_category: int) -> dict:
    features = gancore.build("features", "mnist")
    networks = {k: e.module for k, e in run.ema.items() if int(e.n_averaged) > 0}
    run.scheme.eval()
    for net in networks.values():
        net.eval()
    generated = measure_code_agreement(run.scheme, features.logits, per_category=per_category, networks=networks)
    real = run.dataset.tensors
    k = run.scheme.layout.categories
    read = torch.cat([run.scheme.q(x).logits.argmax(1) for x in real["x"].split(1000)])
    q_real = code_agreement(read, real["label"], k, 10)
    return {"generated": generated, "q_real": q_real, "ema": bool(networks)}


def write(run: Run, results: dict, command: str, path: Path) -> str:
    g, q = results["generated"], results["q_real"]
    t = run.recipe.train
    per = ", ".join(f"{c}->{g.mapping[c]}: {g.per_category[c]:.0%}" for c in sorted(g.mapping))
    verdict = "met" if g.accuracy >= TARGET else "NOT met"
    text = f"""# InfoGAN on MNIST: categorical code vs digit class

Target: the categorical code matches the digit class at least {TARGET:.0%} of the time
(best one-to-one category -> digit mapping). **{verdict}**: {g.accuracy:.1%}.

| recipe | steps | batch | train time | code -> digit agreement | Q on real MNIST (matched) |
|---|---|---|---|---|---|
| {run.name} | {run.step} | {t.batch_size} | {run.seconds / 60:.1f} min | **{g.accuracy:.1%}** | {q.accuracy:.1%} |

- Code -> digit agreement: {sum(g.counts.sum(1).tolist())} generated samples
  ({g.counts.sum(1)[0].item()} per category{", EMA generator" if results["ema"] else ""}), each classified by the MNIST feature
  network (`gancore.build("features", "mnist").logits`), matched by Hungarian assignment on
  the category x digit count table. Per category (category -> digit: share): {per}.
- Q on real MNIST: Q's most likely category for each of the {int(q.counts.sum())} bundled MNIST
  test images, matched to the true labels the same way (Q used as an unsupervised classifier).

Command: `{command}`

Date: {datetime.date.today().isoformat()}. Machine: 2-core CPU (shared), torch
{torch.__version__}, {torch.get_num_threads()} thread(s), Python {platform.python_version()}.
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    run = Run.load(args.run, device="cpu") if args.run else train(args)
    results = measure(run, args.per_category)
    g, q = results["generated"], results["q_real"]
    print(f"code -> digit agreement {g.accuracy:.4f} (mapping {g.mapping}); Q on real {q.accuracy:.4f}")
    print(g.counts)
    if not args.no_write:
        command = "python benchmarks/infogan.py " + shlex.join(sys.argv[1:] if argv is None else argv)
        write(run, results, command.strip(), args.results)
        print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
