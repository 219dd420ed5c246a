"""Evaluating a run: generated samples against real data, with registered metrics."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from ._errors import GancoreError
from ._parts import LatentGenerator, Metric, searches_latents

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


def real_subset(tensors: Mapping[str, Tensor], n: int, seed: int, device: torch.device) -> dict[str, Tensor]:
    """A fixed subset of ``n`` real items, the same at every evaluation of a run."""
    size = next(iter(tensors.values())).shape[0]
    pick = torch.randperm(size, generator=torch.Generator().manual_seed(seed))[:n]
    return {k: v[pick].to(device) for k, v in tensors.items()}


def score(metrics: Sequence[tuple[str, Metric]], real: Mapping[str, Tensor], fake: Mapping[str, Tensor],
          generator: Callable[[str], LatentGenerator]) -> dict[str, float]:
    """Every built metric (name, metric) on real and generated data; ``generator(name)``
    gives the trained generator to a metric that needs it."""
    out: dict[str, float] = {}
    for name, metric in metrics:
        try:
            if searches_latents(metric):
                values = metric.compute(real, fake, generator=generator(name))
            else:
                values = metric.compute(real, fake)
        except ValueError as exc:  # the metric cannot score this data (wrong shape, too few samples)
            raise GancoreError(f"metric {name!r} cannot score this run's samples: {exc}") from None
        for key, value in values.items():
            out[key] = float(value)
    return out
