"""pix2pix and CycleGAN on MNIST: do translated digits keep their class?

Trains the built-in ``pix2pix-mnist`` and ``cyclegan-mnist`` recipes (or reads finished
runs with ``--pix2pix-run`` / ``--cyclegan-run``), then translates the 2000 held-out
images of the bundled split (never seen in training) and classifies every output with
the MNIST feature network:

- pix2pix, edges -> digit: the output's predicted class against the source digit's label;
- CycleGAN, A -> B and B -> A: the same, for each direction (inverted outputs are
  inverted back before they are classified, as the classifier reads white-on-black).

Reference rows give the classifier's accuracy on the real images of each domain (its
ceiling there) and on the raw inputs (what a translator that does nothing would score).
Writes the table to docs/results/translation.md.

    python benchmarks/translation.py --out runs/translation
    python benchmarks/translation.py --pix2pix-run runs/translation/pix2pix-mnist --cyclegan-run runs/translation/cyclegan-mnist
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

import gancore
from gancore import Run

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import (  # noqa: E402
    add_results_options, command_line, held_out_tensors, in_chunks, train_printing_losses, write_results,
)

TARGET = 0.90
CHUNK = 500  # images translated at once


@dataclass
class Result:
    system: str
    run: Path
    steps: int
    seconds: float
    rows: list[tuple[str, float, str]] = field(default_factory=list)  # (what, value, note)
    headline: dict[str, float] = field(default_factory=dict)  # the figures held against the target


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--systems", nargs="+", choices=["pix2pix", "cyclegan"], default=["pix2pix", "cyclegan"])
    p.add_argument("--out", type=Path, default=Path("runs/translation"), help="parent folder of the runs when training")
    p.add_argument("--pix2pix-run", type=Path, help="measure this finished pix2pix run instead of training")
    p.add_argument("--cyclegan-run", type=Path, nargs="+", help="measure these finished CycleGAN runs instead of training")
    p.add_argument("--domains", nargs="+", choices=["thick", "inverted"], default=["thick", "inverted"],
                   help="CycleGAN's domain B for the runs it trains (one run each)")
    add_results_options(p, "translation.md", "override for both recipes")
    return p.parse_args(argv)


def get_run(recipe: str, given: Path | None, args: argparse.Namespace, extra: list[str] = [], tag: str = "") -> Run:
    if given is not None:
        return Run.load(given, device="cpu")
    out = args.out / (f"{recipe}-{tag}" if tag else recipe)
    run = Run.create(recipe, overrides=["train.device=cpu", *extra, *args.overrides], out=out)
    train_printing_losses(run, recipe)
    return run


def kept(classify, images: Tensor, labels: Tensor) -> float:
    return (in_chunks(classify, images, CHUNK).argmax(1) == labels).float().mean().item()


@torch.no_grad()
def measure_pix2pix(run: Run, classify) -> Result:
    data = held_out_tensors(run)
    with run.averaged() as scheme:  # the EMA generator where the run keeps one
        output = in_chunks(scheme.translate, data["source"], CHUNK)
    result = Result("pix2pix", run.out, run.step, run.seconds)
    accuracy = kept(classify, output, data["label"])
    result.headline["edges -> digit"] = accuracy
    result.rows += [
        ("edges -> digit: class kept", accuracy, f"{len(output)} held-out edge maps"),
        ("L1 to the true digit", (output - data["x"]).abs().mean().item(), "pixels in [-1, 1]"),
        ("reference: real digits", kept(classify, data["x"], data["label"]), "classifier ceiling"),
        ("reference: edge maps as they are", kept(classify, data["source"], data["label"]), "no translation"),
    ]
    return result


@torch.no_grad()
def measure_cyclegan(run: Run, classify) -> Result:
    data = held_out_tensors(run)
    inverted = run.recipe.data[2].get("domain_b") == "inverted"
    read_b = (lambda x: classify(-x)) if inverted else classify  # B images as the classifier reads them
    with run.averaged() as scheme:  # the EMA generators where the run keeps them
        ab = in_chunks(scheme.translate_ab, data["a"], CHUNK)
        ba = in_chunks(scheme.translate_ba, data["b"], CHUNK)
        aba = in_chunks(scheme.translate_ba, ab, CHUNK)
    domain = "inverted" if inverted else "thick"
    result = Result(f"cyclegan ({domain})", run.out, run.step, run.seconds)
    acc_ab, acc_ba = kept(read_b, ab, data["label_a"]), kept(classify, ba, data["label_b"])
    result.headline |= {"A -> B": acc_ab, "B -> A": acc_ba}
    result.rows += [
        (f"A -> B (plain -> {domain}): class kept", acc_ab, f"{len(ab)} held-out plain digits"),
        (f"B -> A ({domain} -> plain): class kept", acc_ba, f"{len(ba)} held-out {domain} digits"),
        ("A -> B -> A: class kept", kept(classify, aba, data["label_a"]), "round trip"),
        ("A -> B: mean pixel value", ab.mean().item(), f"real B {data['b'].mean():.3f}, real A {data['a'].mean():.3f}"),
        ("B -> A: mean pixel value", ba.mean().item(), f"real A {data['a'].mean():.3f}, real B {data['b'].mean():.3f}"),
        ("A -> B -> A: L1 to the original", (aba - data["a"]).abs().mean().item(), "pixels in [-1, 1]"),
        ("reference: real A digits", kept(classify, data["a"], data["label_a"]), "classifier ceiling on A"),
        ("reference: real B digits", kept(read_b, data["b"], data["label_b"]), "classifier ceiling on B"),
        ("reference: A digits read as B", kept(read_b, data["a"], data["label_a"]), "no translation A -> B"),
        ("reference: B digits read as A", kept(classify, data["b"], data["label_b"]), "no translation B -> A"),
    ]
    return result


def table(results: list[Result]) -> str:
    lines = ["| system | measure | value | note |", "|---|---|---|---|"]
    for r in results:
        for what, value, note in r.rows:
            shown = f"{value:.1%}" if "kept" in what or "reference" in what else f"{value:.3f}"
            lines.append(f"| {r.system} | {what} | {shown} | {note} |")
    return "\n".join(lines)


def verdict(results: list[Result]) -> str:
    parts = []
    for r in results:
        for what, value in r.headline.items():
            parts.append(f"{r.system} {what}: {value:.1%} ({'meets' if value >= TARGET else 'misses'} the {TARGET:.0%} target)")
    return "; ".join(parts)


def machine() -> str:
    return f"{platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores, {torch.get_num_threads()} torch thread(s)"


def write(results: list[Result], command: str, path: Path) -> str:
    runs = "\n".join(
        f"- {r.system}: {r.steps} steps in {r.seconds / 60:.1f} min of training (run `{r.run}`)" for r in results
    )
    text = f"""# Translation results (pix2pix, CycleGAN)

Do translated MNIST digits keep their class? Each output of the held-out images (the
last 2000 of the bundled 10k split, never used in training) is classified by the MNIST
feature network and compared with the label of the digit it came from. Target: at
least {TARGET:.0%}.

{table(results)}

{verdict(results)}.

Reading the table: the classifier already reads thick digits as their class (97%), so for
the thick domain "class kept" alone cannot tell a translation from doing nothing; the
mean pixel values show that the outputs did move to the other domain (thicker strokes
mean more ink). The inverted domain is the stringent check: there, untranslated images
are read correctly only about 20% of the time.

{runs}

Trained and measured by `python benchmarks/translation.py --out runs/translation`; add
`--pix2pix-run DIR` and `--cyclegan-run DIR [DIR ...]` to measure finished runs instead.
The 2-core CPU was shared with other jobs (load average {os.getloadavg()[0]:.1f} when this
was written), so the training times are upper bounds.

Command: `{command}`
Date: {datetime.date.today().isoformat()}
Machine: {machine()}, Python {platform.python_version()}, PyTorch {torch.__version__}
"""
    write_results(path, text)
    return text


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    features = gancore.build("features", "mnist")
    results = []
    if "pix2pix" in args.systems:
        results.append(measure_pix2pix(get_run("pix2pix-mnist", args.pix2pix_run, args), features.logits))
    if "cyclegan" in args.systems:
        if args.cyclegan_run:
            runs = [get_run("cyclegan-mnist", path, args) for path in args.cyclegan_run]
        else:
            runs = [get_run("cyclegan-mnist", None, args, [f"data.domain_b={d}"], d) for d in args.domains]
        results += [measure_cyclegan(run, features.logits) for run in runs]
    print(table(results))
    print(verdict(results))
    if not args.no_write:
        write(results, command_line(__file__, argv), args.results)


if __name__ == "__main__":
    main()
