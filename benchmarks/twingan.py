"""Twin-GAN on MNIST: do cross-domain translations keep their digit?

Trains the built-in ``twingan-mnist`` recipe (or reads finished runs with ``--run``, which
may be repeated to tabulate several), then translates the held-out images of the run's
``mnist-unpaired`` data (the last 2000 of the bundled split, never trained on) in both
directions and classifies every translation with the MNIST feature network
(``gancore.build("features", "mnist").logits``). A translation keeps its class when the
classifier's digit is its source image's label. The classifier knows plain digits only:
domain-B images are shown to it unstyled (negated for inverted digits, unchanged for thick
ones); its accuracy on the real held-out images of each domain is the measure's ceiling.

    python benchmarks/twingan.py --out runs/twingan-mnist
    python benchmarks/twingan.py --out runs/twingan-inverted --set data.domain_b=inverted --no-write
    python benchmarks/twingan.py --run runs/twingan-mnist --run runs/twingan-inverted
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
from pathlib import Path

import torch

import gancore
from gancore._run import Run
from gancore_twingan import class_kept
from gancore_twingan.evaluation import UNSTYLE_B

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import command_line, held_out_tensors, write_results  # noqa: E402

TARGET = 0.90
ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, action="append", default=[],
                   help="measure this finished run (repeatable; the first one is held to the target)")
    p.add_argument("--out", type=Path, default=Path("runs/twingan-mnist"), help="run directory when training")
    p.add_argument("--recipe", default="twingan-mnist")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="recipe override (dotted.key=value)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (the CPU is shared)")
    p.add_argument("--no-ema", action="store_true", help="measure the raw generator even when the run keeps an EMA copy")
    p.add_argument("--results", type=Path, default=ROOT / "docs/results/twingan.md", help="markdown file to write")
    p.add_argument("--no-write", action="store_true", help="print only")
    return p.parse_args(argv)


def train(args: argparse.Namespace) -> Run:
    run = Run.create(args.recipe, overrides=["train.device=cpu", *args.overrides], out=args.out)
    keep = ("step", "seconds", "loss_critic", "loss_generator", "loss_reconstruction", "loss_cycle")

    def report(row: dict) -> None:
        print(" ".join(f"{k}={row[k]:.4g}" if isinstance(row[k], float) else f"{k}={row[k]}" for k in keep if k in row),
              flush=True)

    return run.train(report=report)


def held_out_data(run: Run) -> tuple[dict[str, torch.Tensor], str]:
    """The held-out images of the run's own unpaired data (same domain B and size)."""
    _, name, params = run.recipe.data
    if name != "mnist-unpaired":
        raise SystemExit(f"the benchmark measures runs on mnist-unpaired data, not {name!r}")
    return held_out_tensors(run), params["domain_b"]


def measure(run: Run, use_ema: bool) -> dict:
    data, domain_b = held_out_data(run)
    logits = gancore.build("features", "mnist").logits
    with run.averaged(use_ema) as scheme:
        kept = class_kept(scheme, data, logits, unstyle_b=UNSTYLE_B[domain_b])
    # averaged() swaps in only the EMA copies that have started; the write-up says whether one did.
    ema = use_ema and any(int(e.n_averaged) > 0 for e in run.ema.values())
    return {"run": run, "kept": kept, "domain_b": domain_b, "ema": ema}


def _flat(doc: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def changes(run: Run, recipe: str = "twingan-mnist") -> str:
    """The run's settings that differ from the built-in recipe (``--set`` style)."""
    base = _flat(Run.create(recipe, device="cpu").recipe.resolved())
    mine = _flat(run.recipe.resolved())
    diff = [f"{k}={v}" for k, v in mine.items() if base.get(k) != v and k != "train.device"]
    return ", ".join(f"`{d}`" for d in diff) or "none"


def write(rows: list[dict], command: str, path: Path) -> str:
    # The target is the built-in recipe's (the first run); further runs are variations.
    worst = min(rows[0]["kept"].a_to_b, rows[0]["kept"].b_to_a)
    verdict = "met" if worst >= TARGET else "NOT met"
    table = []
    for r in rows:
        run, k = r["run"], r["kept"]
        t = run.recipe.train
        table.append(
            f"| {run.name} | plain <-> {r['domain_b']} | {changes(run)} | {run.step} | {t.batch_size} | {run.seconds / 60:.1f} min "
            f"| **{k.a_to_b:.1%}** | **{k.b_to_a:.1%}** | {k.both:.1%} | {k.real_a:.1%} / {k.real_b:.1%} |"
        )
    count = rows[0]["kept"].count_a + rows[0]["kept"].count_b
    text = f"""# Twin-GAN on MNIST: do translations keep their digit?

Target: cross-domain translations keep their class (MNIST classifier's digit = the
source image's label) at least {TARGET:.0%} of the time, in each direction. **{verdict}**
for `{rows[0]["run"].name}` (lowest direction: {worst:.1%}).

| run | domains | changes from the recipe | steps | batch | train time | a -> B kept | b -> A kept | both | classifier on real a / b |
|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(table)}

- Data: `mnist-unpaired` (plain digits a; thickened (3x3 dilation) or inverted digits b, from
  disjoint halves of the images). Trained on `subset = "train"` (the first 8000 images of the
  bundled 10k MNIST test split); measured on the {count} `held-out` images (the last 2000:
  1000 per domain), never seen in training.
- Measure: each held-out image is translated to the other domain by the trained generator
  (eval mode: running batch-norm statistics{", EMA copy" if rows[0]["ema"] else ""}) and classified by
  `gancore.build("features", "mnist").logits`, which was trained on plain white-on-black
  digits. b -> A outputs are plain digits and are classified as they are. a -> B outputs
  are shown to the classifier unstyled: negated for inverted digits, unchanged for thick
  ones (the classifier reads real thick digits about as well as plain ones; see the last
  column, the classifier's accuracy on the real held-out images of each domain, unstyled
  the same way, which bounds the measure).
- The labels (`label_a`, `label_b`) are used only here, never in training.
- Train time is wall-clock time on the shared 2-core machine, as the run recorded it
  (load average while measuring: {os.getloadavg()[0]:.1f}); see docs/systems/twingan.md for
  the time per step on an idle core. Runs are trained with
  `python benchmarks/twingan.py --out DIR [--set KEY=VALUE ...]`.

Command: `{command}`

Date: {datetime.date.today().isoformat()}. Machine: 2-core CPU (shared with other jobs), torch
{torch.__version__}, {torch.get_num_threads()} thread(s), Python {platform.python_version()}.
"""
    write_results(path, text)
    return text


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    runs = [Run.load(p, device="cpu") for p in args.run] if args.run else [train(args)]
    rows = [measure(run, not args.no_ema) for run in runs]
    for r in rows:
        k = r["kept"]
        print(f"{r['run'].name} ({r['domain_b']}): a->B kept {k.a_to_b:.4f}, b->A kept {k.b_to_a:.4f}, "
              f"both {k.both:.4f}; classifier on real a {k.real_a:.4f}, real b {k.real_b:.4f}")
    if not args.no_write:
        write(rows, command_line(__file__, argv), args.results)


if __name__ == "__main__":
    main()
