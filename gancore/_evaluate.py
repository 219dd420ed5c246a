"""Evaluating a run: the interfaces of metrics and feature spaces, and scoring generated
samples against real data with registered metrics."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Protocol, TypeGuard

import torch
from torch import Tensor, nn

from ._errors import GancoreError, RecipeWarning
from ._parts import DataSpec, as_float

class Metric:
    """A sample-quality measure. ``compute`` receives real and generated data (dicts of
    tensors with at least ``x``, and ``label`` where there is one) and returns named
    floats. ``higher_is_better`` says how to read each value.

    A metric that needs the generator itself, not only its samples (one that searches the
    latent space for codes reproducing given images), sets ``needs_generator = True`` and
    is called as ``compute(real, fake, generator=...)`` with a ``gancore.LatentGenerator``.
    One whose real side is stored with it sets ``needs_real = False`` and gets an empty
    ``real``: a run is then measured without its training data.
    """

    higher_is_better: ClassVar[Mapping[str, bool]] = {}
    needs_generator: ClassVar[bool] = False
    # False where the real side is stored with the metric (FID against reference
    # statistics): then ``real`` is empty and the run's data is not read.
    needs_real: bool = True

    @classmethod
    def applies_to(cls, spec: DataSpec) -> bool:
        """Whether ``gancore eval`` runs this metric by default on data of this shape."""
        return False

    def compute(self, real: Mapping[str, Tensor], fake: Mapping[str, Tensor]) -> dict[str, float]:
        raise NotImplementedError

    def feature_space_for(self, x: Tensor) -> tuple[str, Features] | None:
        """The registered name and the object of the feature space this metric embeds
        samples like ``x`` in, or None for a metric that uses none. ``gancore report``
        searches a run's nearest training images in it, so that its sheet and the run's
        metrics see the same distances."""
        return None


class GeneratorMetric(Protocol):
    """How a metric with ``needs_generator = True`` is called: ``Metric.compute`` plus the
    trained generator."""

    def compute(self, real: Mapping[str, Tensor], fake: Mapping[str, Tensor], *,
                generator: LatentGenerator) -> dict[str, float]: ...


def searches_latents(metric: Metric) -> TypeGuard[GeneratorMetric]:
    """Whether ``metric`` declares ``needs_generator``, and so takes ``generator=``."""
    return bool(getattr(metric, "needs_generator", False))


class Features:
    """A fixed feature space for metrics (kind ``features``): ``features(x)`` maps a batch
    of samples to N x D features; a classifier also offers ``logits(x)`` (N x classes).
    Both run without gradients on ``x``'s device. A feature space that losses may train
    through (a perceptual loss) also offers ``differentiable_features(x)``: the same
    features with the graph back to ``x`` kept, and the network itself frozen."""

    def features(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def logits(self, x: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} is not a classifier")

    def differentiable_features(self, x: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} gives no differentiable features")


class LatentGenerator:
    """A trained generator as a metric that optimises latent codes sees it:
    ``generator(z)`` maps ``N x latent_dim`` codes to samples, differentiable in ``z``,
    with the network in eval mode and its weights left untouched (no gradient is kept for
    them). ``device`` is where codes must live. The engine gives the averaged (EMA)
    network when the run keeps one, as for sampling."""

    def __init__(self, network: nn.Module, latent_dim: int, device: torch.device) -> None:
        self.network, self.latent_dim, self.device = network, latent_dim, device

    def __call__(self, z: Tensor) -> Tensor:
        weights = [p for p in self.network.parameters() if p.requires_grad]
        for p in weights:
            p.requires_grad_(False)
        try:
            with torch.enable_grad():
                samples: Tensor = self.network(z)
                return samples
        finally:
            for p in weights:
                p.requires_grad_(True)


SAMPLE_CHUNK = 500  # samples generated at once: bounds memory, keeps the device busy


def metric_spec(item: Any) -> tuple[str, dict[str, Any]]:
    """``"fid"`` or ``{name = "modes", benchmark = "grid"}`` -> (name, params)."""
    if isinstance(item, str):
        return item, {}
    if isinstance(item, dict) and isinstance(item.get("name"), str):
        params = dict(item)
        return params.pop("name"), params
    raise GancoreError(f"eval.metrics: expected a metric name or a table with a name, got {item!r}")


def applicable_metrics(registry: Any, spec: DataSpec) -> list[str]:
    """Every registered metric that says it applies to data of this shape: what an
    evaluation runs when no metric is named."""
    return [e.name for e in registry.entries("metric") if getattr(e.factory, "applies_to", lambda s: False)(spec)]


def metric_specs(registry: Any, metrics: Sequence[Any], features: Any = None) -> list[tuple[str, dict[str, Any]]]:
    """Each metric as (name, params), with ``features`` (the evaluation's feature space: a
    name or a table) given to every metric that takes a feature space and names none."""
    out = []
    for item in metrics:
        name, params = metric_spec(item)
        if features is not None and "features" not in params and "features" in registry.get("metric", name).params.model_fields:
            params["features"] = features
        out.append((name, params))
    return out


def best_value(registry: Any, metrics: Sequence[Any], best: str | None) -> tuple[str, bool] | None:
    """The logged value that picks the best checkpoint, and whether higher is better: the
    recipe's ``eval.best``; by default ``fid`` when one of the metrics gives it; none for
    ``best = ""``. A name no metric gives is refused."""
    directions: dict[str, bool] = {}
    for item in metrics:
        name = metric_spec(item)[0]
        directions |= dict(getattr(registry.get("metric", name).factory, "higher_is_better", {}))
    if best == "":
        return None
    if best is None:
        return ("fid", False) if "fid" in directions else None
    if best not in directions:
        given = ", ".join(sorted(directions)) or "none: eval.metrics is empty"
        raise GancoreError(f"eval.best: no metric gives {best!r} (the metrics give {given})")
    return best, directions[best]


class EvaluationCostWarning(RecipeWarning):
    """Evaluating during training costs more than the training between two evaluations."""


def warn_if_costly(last: tuple[float, float] | None, trained: float, seconds: float) -> tuple[float, float]:
    """After an evaluation that took ``seconds`` at ``trained`` seconds of training: warn
    (once per process) when it cost more than the training since the one before, which
    the recipe's ``[eval]`` did not ask for. The first evaluation is not judged: it also
    embeds the real images, which later ones reuse. Returns the new ``last``."""
    global _warned_cost
    if last is not None and not _warned_cost:
        between = trained - last[0] - last[1]  # the run's clock counted the previous evaluation too
        if seconds > between:
            _warned_cost = True
            warnings.warn(f"eval: an evaluation took {seconds:.1f} s, more than the {between:.1f} s of training since the "
                          "one before; raise eval.every or lower eval.num_samples", EvaluationCostWarning, stacklevel=2)
    return trained, seconds


_warned_cost = False


def latent_generator(scheme: Any, metric: str, device: torch.device) -> LatentGenerator:
    """The scheme's unconditional generator of latent codes, for a metric that needs it."""
    network = getattr(scheme, "generator", None)
    latent_dim = getattr(network, "latent_dim", None)
    if not isinstance(network, torch.nn.Module) or not isinstance(latent_dim, int) or getattr(scheme, "num_classes", None):
        raise GancoreError(f"metric {metric!r} needs an unconditional generator of latent codes (a scheme's "
                           "`generator` with an integer latent_dim); this run has none")
    return LatentGenerator(network, latent_dim, device)


def real_subset(tensors: Mapping[str, Tensor], n: int, seed: int, device: torch.device) -> dict[str, Tensor]:
    """A fixed subset of ``n`` real items, the same at every evaluation of a run, as
    batches give them (uint8 images as floats in [-1, 1])."""
    size = next(iter(tensors.values())).shape[0]
    pick = torch.randperm(size, generator=torch.Generator().manual_seed(seed))[:n]
    return {k: as_float(v[pick].to(device)) for k, v in tensors.items()}


def generated_like(real: Mapping[str, Tensor], wanted: int, conditional: bool, seed: int,
                   draw: Callable[..., tuple[Tensor, Tensor | None]]) -> dict[str, Tensor]:
    """As many generated samples as ``real`` has (``wanted`` when it is empty), drawn in
    chunks with ``draw(n, labels=..., seed=...)`` (``Run.sample_with_labels``); a
    conditional model draws the real labels, or without real data the classes it picks."""
    n = real["x"].shape[0] if real else wanted
    chunks, drawn = [], []
    for start in range(0, n, SAMPLE_CHUNK):
        labels = real["label"][start : start + SAMPLE_CHUNK] if conditional and real else None
        x, classes = draw(min(SAMPLE_CHUNK, n - start), labels=labels, seed=seed + 1 + start)
        chunks.append(x)
        drawn.append(classes)
    fake = {"x": torch.cat(chunks)}
    if conditional:
        fake["label"] = real["label"] if real else torch.cat([c for c in drawn if c is not None])
    return fake


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
