"""The model card of an export (its ``README.md``, what the Hub shows): what the generator
is, how it trained and scored, its samples, and how to load it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomli_w

from ._artifacts import read_metrics
from ._export_formats import CARD_FILE, CONFIG_FILE, ONNX_FILE, PROGRAM_FILE, SAMPLE_FILE, WEIGHTS_FILE, _atomic
from ._rundir import METRICS_FILE


def evaluation(run: Any) -> dict[str, float]:
    """The newest logged value of every metric the run's evaluations give (empty when none
    evaluated during training)."""
    keys: set[str] = set()
    for item in run.eval_metrics():
        name = item if isinstance(item, str) else item.get("name")
        if ("metric", name) in run.registry.parts:
            keys |= set(getattr(run.registry.get("metric", name).factory, "higher_is_better", {}))
    found: dict[str, float] = {}
    rows = read_metrics(run.out / METRICS_FILE) if run.out is not None else []
    for row in rows:
        if row.get("step", 0) <= run.step:
            found |= {k: v for k, v in row.items() if k in keys and isinstance(v, (int, float))}
    return found


def write_card(run: Any, folder: Path, written: list[str], *, ema: bool, repo: str | None) -> None:
    recipe = tomli_w.dumps(run.recipe.resolved()).rstrip()
    scores = evaluation(run)
    loader = f'"hub:{repo}"' if repo else f'"{folder.name}"'
    lines = [
        "---",
        "library_name: gancore",
        "tags:",
        "- gan",
        "- gancore",
        "- unconditional-image-generation" if not getattr(run.scheme, "num_classes", None) else "- class-conditional",
        "---",
        "",
        f"# {run.name}",
        "",
        f"{run.recipe.description or 'A generator trained with gancore.'}",
        "",
        f"The generator of a gancore run at training step {run.step}, "
        f"{'its exponential moving average' if ema else 'its trained weights'}.",
        "",
        f"![samples]({SAMPLE_FILE})",
        "",
        "## Metrics",
        "",
    ]
    if scores:
        lines += ["| metric | value |", "| --- | --- |", *[f"| {k} | {v:.6g} |" for k, v in sorted(scores.items())], ""]
        if run.best is not None:
            lines += [f"Best checkpoint: {run.best['metric']} = {run.best['value']:.6g} at step {run.best['step']}.", ""]
    else:
        lines += ["No evaluation was logged during training (`gancore eval RUN` measures one).", ""]
    lines += ["## Files", ""]
    what = {PROGRAM_FILE: "a `torch.export` program: needs torch only",
            WEIGHTS_FILE: f"the weights; with `{CONFIG_FILE}`, `gancore.load_generator` rebuilds the network",
            CONFIG_FILE: "the generator's registered name and parameters, and the data it makes",
            ONNX_FILE: "the graph for ONNX runtimes (inputs `z`" + (", `labels`" if getattr(run.scheme, "num_classes", None) else "") + ")"}
    lines += [f"- `{name}`: {what[name]}" for name in written if name in what]
    lines += ["", "## Use", "", "```python", "import torch", ""]
    if PROGRAM_FILE in written:
        lines += [f'program = torch.export.load("{PROGRAM_FILE}").module()',
                  f"samples = program(torch.randn(16, {run.scheme.generator.latent_dim}){', torch.arange(16) % ' + str(run.scheme.num_classes) if getattr(run.scheme, 'num_classes', None) else ''})", ""]
    if WEIGHTS_FILE in written:
        lines += ["import gancore", "", f"generator = gancore.load_generator({loader})",
                  "samples = generator(torch.randn(16, generator.latent_dim))" if not getattr(run.scheme, "num_classes", None)
                  else "samples = generator(torch.randn(16, generator.latent_dim), torch.arange(16) % generator.num_classes)"]
    lines += ["```", "", "Samples are images in [-1, 1] (N x C x H x W)." if run.spec.is_image else "", "",
              "## Recipe", "", "```toml", recipe, "```", ""]
    with _atomic(folder / CARD_FILE) as tmp:
        tmp.write_text("\n".join(lines), encoding="utf-8")
