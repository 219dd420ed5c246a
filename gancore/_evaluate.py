"""Evaluating a run: generated samples against real data, with registered metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ._errors import GancoreError
from ._parts import LatentGenerator

if TYPE_CHECKING:
    from ._run import Run

SAMPLE_CHUNK = 500  # samples generated at once: bounds memory, keeps the device busy


def metric_spec(item: Any) -> tuple[str, dict[str, Any]]:
    """``"fid"`` or ``{name = "modes", benchmark = "grid"}`` -> (name, params)."""
    if isinstance(item, str):
        return item, {}
    if isinstance(item, dict) and isinstance(item.get("name"), str):
        params = dict(item)
        return params.pop("name"), params
    raise GancoreError(f"eval.metrics: expected a metric name or a table with a name, got {item!r}")


def latent_generator(scheme: Any, metric: str, device: torch.device) -> LatentGenerator:
    """The scheme's unconditional generator of latent codes, for a metric that needs it."""
    network = getattr(scheme, "generator", None)
    latent_dim = getattr(network, "latent_dim", None)
    if not isinstance(network, torch.nn.Module) or not isinstance(latent_dim, int) or getattr(scheme, "num_classes", None):
        raise GancoreError(f"metric {metric!r} needs an unconditional generator of latent codes (a scheme's "
                           "`generator` with an integer latent_dim); this run has none")
    return LatentGenerator(network, latent_dim, device)


@torch.no_grad()
def evaluate(run: "Run", metrics: list[Any], num_samples: int) -> dict[str, float]:
    """Every metric on ``num_samples`` generated samples and as many real ones."""
    if not metrics:
        return {}
    built = []
    for item in metrics:
        name, params = metric_spec(item)
        built.append(run.registry.build("metric", name, params))
    data = run.dataset.tensors
    n = min(num_samples, len(run.dataset))
    # A fixed subset of the real data, the same at every evaluation of this run.
    pick = torch.randperm(len(run.dataset), generator=torch.Generator().manual_seed(run.recipe.train.seed))[:n]
    real = {k: v[pick].to(run.device) for k, v in data.items()}
    conditional = bool(getattr(run.scheme, "num_classes", None)) and "label" in real
    chunks, labels = [], []
    for start in range(0, n, SAMPLE_CHUNK):
        size = min(SAMPLE_CHUNK, n - start)
        lab = real["label"][start : start + size] if conditional else None
        chunks.append(run.sample(size, labels=lab, seed=run.recipe.train.seed + 1 + start))
        if lab is not None:
            labels.append(lab)
    fake = {"x": torch.cat(chunks)}
    if labels:
        fake["label"] = torch.cat(labels)
    out: dict[str, float] = {}
    for (name, _), metric in zip(map(metric_spec, metrics), built):
        try:
            if getattr(metric, "needs_generator", False):
                with run.averaged() as scheme:
                    values = metric.compute(real, fake, generator=latent_generator(scheme, name, run.device))
            else:
                values = metric.compute(real, fake)
        except ValueError as exc:  # the metric cannot score this data (wrong shape, too few samples)
            raise GancoreError(f"metric {name!r} cannot score this run's samples: {exc}") from None
        for key, value in values.items():
            out[key] = float(value)
    return out
