"""InfoGAN on MNIST: does the categorical code learn the digit classes without labels?

Trains the built-in ``infogan-mnist`` recipe once per ``--seeds`` value (or reads finished
runs with ``--run``), then measures each:

- code -> digit agreement: ``--per-category`` samples of each category, classified by
  the MNIST feature network; the share whose digit is their category's digit under the
  best one-to-one category -> digit mapping (Hungarian assignment);
- Q as a classifier: Q's most likely category on the real (bundled) MNIST images, matched
  to the true labels the same way (the paper reports about 5% error on MNIST).

and writes the table to docs/results/infogan.md.

    python benchmarks/infogan.py --out runs/infogan --seeds 0 1 2
    python benchmarks/infogan.py --run runs/infogan/seed-0    # measure finished runs
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

import gancore
from gancore._run import Run
from gancore_infogan import CodeAgreement, code_agreement, measure_code_agreement

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import command_line, write_results  # noqa: E402

TARGET = 0.80
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Measured:
    run: Run
    generated: CodeAgreement
    q_real: CodeAgreement
    ema: bool
    cpu_seconds: float | None  # process CPU time of training (None for a finished run)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, nargs="+", help="measure these finished runs instead of training")
    p.add_argument("--out", type=Path, default=Path("runs/infogan"), help="folder of the runs (seed-N each)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="train one run per seed")
    p.add_argument("--recipe", default="infogan-mnist")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="recipe override (dotted.key=value)")
    p.add_argument("--per-category", type=int, default=1000, help="generated samples per category")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (the CPU is shared)")
    p.add_argument("--results", type=Path, default=ROOT / "docs/results/infogan.md", help="markdown file to write")
    p.add_argument("--no-write", action="store_true", help="print only")
    return p.parse_args(argv)


def train(args: argparse.Namespace, seed: int) -> tuple[Run, float]:
    overrides = ["train.device=cpu", f"train.seed={seed}", *args.overrides]
    run = Run.create(args.recipe, overrides=overrides, out=args.out / f"seed-{seed}")
    keep = ("step", "seconds", "loss_critic", "loss_generator", "info_categorical", "info_continuous", "q_accuracy")

    def report(row: dict) -> None:
        print(f"seed={seed} " + " ".join(f"{k}={row[k]:.4g}" if isinstance(row[k], float) else f"{k}={row[k]}"
                                         for k in keep if k in row), flush=True)

    started = time.process_time()
    run.train(report=report)
    return run, time.process_time() - started


def measure(run: Run, per_category: int, cpu_seconds: float | None) -> Measured:
    features = gancore.build("features", "mnist")
    with run.averaged() as scheme:  # samples from the EMA generator where the run keeps one
        generated = measure_code_agreement(scheme, features.logits, per_category=per_category)
    real = run.dataset.tensors
    with run.averaged(False) as scheme:  # Q is the trained critic's body and head, never an average
        read = torch.cat([scheme.q(x).logits.argmax(1) for x in real["x"].split(1000)])
    q_real = code_agreement(read, real["label"], run.scheme.layout.categories, 10)
    ema = any(int(e.n_averaged) > 0 for e in run.ema.values())
    return Measured(run, generated, q_real, ema, cpu_seconds)


def _row(m: Measured) -> str:
    t = m.run.recipe.train
    cpu = f"{m.cpu_seconds / 60:.1f} min" if m.cpu_seconds is not None else "n/a"
    return (f"| {t.seed} | {m.run.step} | {t.batch_size} | {m.run.seconds / 60:.1f} min | {cpu} "
            f"| **{m.generated.accuracy:.1%}** | {m.q_real.accuracy:.1%} |")


def _details(m: Measured) -> str:
    g = m.generated
    per = ", ".join(f"{c}->{g.mapping[c]} {g.per_category[c]:.0%}" for c in sorted(g.mapping))
    return f"- seed {m.run.recipe.train.seed} (category -> digit, share of its samples): {per}"


def write(measured: list[Measured], recipe: str, command: str, path: Path) -> str:
    scores = [m.generated.accuracy for m in measured]
    mean = statistics.fmean(scores)
    met = sum(s >= TARGET for s in scores)
    first = measured[0]
    per_category = int(first.generated.counts.sum(1)[0])
    summary = f"mean {mean:.1%} over {len(scores)} run(s); {met} of {len(scores)} reach {TARGET:.0%}"
    rows = "\n".join(_row(m) for m in measured)
    details = "\n".join(_details(m) for m in measured)
    text = f"""# InfoGAN on MNIST: categorical code vs digit class

Target: the categorical code matches the digit class at least {TARGET:.0%} of the time (best
one-to-one category -> digit mapping). Result: {summary}.

Recipe `{recipe}` (the bundled 10k MNIST images; the labels are not used in training).

| seed | steps | batch | train wall time | train CPU time | code -> digit agreement | Q as a classifier on real MNIST |
|---|---|---|---|---|---|---|
{rows}

- Code -> digit agreement: {per_category} generated samples per category{" (EMA generator)" if first.ema else ""},
  each classified by the MNIST feature network (`gancore.build("features", "mnist").logits`),
  matched by Hungarian assignment on the category x digit count table.
- Q as a classifier: Q's most likely category for each bundled MNIST image (the critic's
  body + Q head, eval mode), matched to the true labels the same way.
- Wall time is on a shared machine; CPU time (one thread) is what an idle core would take.

{details}

Command: `{command}`

Date: {datetime.date.today().isoformat()}. Machine: 2-core CPU (shared with other jobs),
torch {torch.__version__} with {torch.get_num_threads()} thread(s), Python {platform.python_version()}.
"""
    write_results(path, text)
    return text


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.run:
        jobs = [(Run.load(path, device="cpu"), None) for path in args.run]
    else:
        jobs = (train(args, seed) for seed in args.seeds)
    measured = []
    for run, cpu_seconds in jobs:
        m = measure(run, args.per_category, cpu_seconds)
        print(f"seed {run.recipe.train.seed}: code -> digit agreement {m.generated.accuracy:.4f} "
              f"(mapping {m.generated.mapping}); Q on real {m.q_real.accuracy:.4f}", flush=True)
        print(m.generated.counts, flush=True)
        measured.append(m)
    if not args.no_write:
        write(measured, args.recipe, command_line(__file__, argv), args.results)


if __name__ == "__main__":
    main()
