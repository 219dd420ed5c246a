"""Contracts of the data side: datasets, feature spaces and metrics."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from .._evaluate import Features, LatentGenerator, Metric, searches_latents
from .._parts import DataSpec, Dataset, as_float
from ._contract import expect


def check_dataset(data: Dataset, *, label: str = "dataset") -> None:
    """Named tensors of one length: ``x`` uint8 images (0..255) or floating and finite
    (images and image sequences in [-1, 1]), labels int64 in ``[0, num_classes)``,
    mixture modes matching ``x``."""
    expect(isinstance(data, Dataset), label, f"is a {type(data).__name__}, not a gancore.Dataset")
    expect(len(data) > 0, label, "holds no samples")
    x = data.tensors["x"]
    expect(x.is_floating_point() or (x.dtype == torch.uint8 and x.dim() >= 4), label,
           f"x is {x.dtype}: images are uint8 or floating point, other data floating point")
    x = as_float(x)
    expect(torch.isfinite(x).all(), label, "x holds non-finite values")
    if x.dim() >= 4:  # images N x C x H x W, or sequences of them
        low, high = float(x.min()), float(x.max())
        expect(-1.0 - 1e-6 <= low and high <= 1.0 + 1e-6, label, f"images span [{low:.3g}, {high:.3g}], not [-1, 1]")
    for name, t in data.tensors.items():
        if name == "label" or name.startswith("label_"):
            expect(t.dtype == torch.int64 and t.dim() == 1, label, f"{name} must be int64 of shape (N,), is {t.dtype} {tuple(t.shape)}")
            if data.num_classes is not None:
                expect(int(t.min()) >= 0 and int(t.max()) < data.num_classes, label,
                       f"{name} leaves [0, {data.num_classes}) (num_classes)")
        elif t.is_floating_point():
            expect(torch.isfinite(t).all(), label, f"{name} holds non-finite values")
    if data.num_classes is not None:
        expect("label" in data.tensors, label, "num_classes is set but there is no 'label' tensor")
    if data.modes is not None:
        expect(data.modes.dim() == 2 and data.modes.shape[1:] == x.shape[1:], label,
               f"modes of shape {tuple(data.modes.shape)} do not match samples of shape {tuple(x.shape[1:])}")
        expect(data.mode_std is not None and data.mode_std > 0, label, "modes need a positive mode_std")


def check_features(features: Features, spec: DataSpec, *, label: str = "features") -> None:
    """``features(x)`` is N x D, finite, deterministic, each row depending on its own
    sample only; a classifier's ``logits`` are N x K; ``differentiable_features``, where
    offered, keeps the gradient to ``x``."""
    expect(isinstance(features, Features), label, f"is a {type(features).__name__}, not a gancore.Features")
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, *spec.shape, generator=g) * 2 - 1
    f = features.features(x)
    expect(isinstance(f, Tensor) and f.dim() == 2 and f.shape[0] == 6, label,
           f"features(x) must be N x D, got {tuple(f.shape) if isinstance(f, Tensor) else type(f).__name__}")
    expect(torch.isfinite(f).all(), label, "features are not finite")
    expect(torch.equal(f, features.features(x)), label, "features of the same samples differ between calls")
    expect(torch.allclose(features.features(x[:2]), f[:2], atol=1e-4, rtol=1e-4), label,
           "a sample's features depend on the rest of its batch")
    try:
        logits = features.logits(x)
    except NotImplementedError:
        logits = None
    if logits is not None:
        expect(logits.dim() == 2 and logits.shape[0] == 6 and torch.isfinite(logits).all(), label,
               f"logits must be finite N x K, got {tuple(logits.shape)}")
    x = x.clone().requires_grad_()
    try:
        d = features.differentiable_features(x)
    except NotImplementedError:
        return
    (grad,) = torch.autograd.grad(d.sum(), x, allow_unused=True)
    expect(grad is not None and grad.abs().sum() > 0, label, "differentiable_features keeps no gradient to x")


def _noise_like(real: Mapping[str, Tensor], num_classes: int | None, g: torch.Generator) -> dict[str, Tensor]:
    x = real["x"]
    if x.dim() >= 4:
        noise = torch.rand(x.shape, generator=g) * 2 - 1
    else:  # points: uniform over the data's bounding box
        low, high = x.min(0).values, x.max(0).values
        noise = low + (high - low) * torch.rand(x.shape, generator=g)
    out = {"x": noise}
    if "label" in real:
        out["label"] = torch.randint(0, num_classes or int(real["label"].max()) + 1, real["label"].shape, generator=g)
    return out


class _Span(nn.Module):
    """A linear generator whose outputs are the combinations of a few given samples."""

    def __init__(self, samples: Tensor) -> None:
        super().__init__()
        self.shape = tuple(samples.shape[1:])
        self.basis = nn.Parameter(samples.flatten(1).clone())

    def forward(self, z: Tensor) -> Tensor:
        return (z @ self.basis).view(z.shape[0], *self.shape)


def _spanning(samples: Tensor, k: int = 64) -> LatentGenerator:
    return LatentGenerator(_Span(samples[:k]), min(k, samples.shape[0]), torch.device("cpu"))


def check_metric(metric: Metric, data: Dataset, *, label: str = "metric", n: int = 500) -> None:
    """On two disjoint halves of real data the metric reads at least as well as on real
    data against noise, on every value it gives a direction for, and strictly better on
    one; every value is a finite float. A metric that ``needs_generator`` gets, with the
    real half, a generator spanning real samples, and with the noise one spanning noise."""
    expect(isinstance(metric, Metric), label, f"is a {type(metric).__name__}, not a gancore.Metric")
    n = min(n, len(data) // 2)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))
    halves = [{k: as_float(t[order[i * n:(i + 1) * n]]) for k, t in data.tensors.items() if k in ("x", "label")}
              for i in (0, 1)]
    noise = _noise_like(halves[1], data.num_classes, torch.Generator().manual_seed(1))
    if searches_latents(metric):
        same = metric.compute(halves[0], halves[1], generator=_spanning(halves[1]["x"]))
        different = metric.compute(halves[0], noise, generator=_spanning(noise["x"]))
    else:
        same, different = metric.compute(halves[0], halves[1]), metric.compute(halves[0], noise)
    expect(isinstance(same, Mapping) and same, label, "compute returned no values")
    for key, value in {**same, **different}.items():
        expect(isinstance(value, float) and value == value and abs(value) != float("inf"), label,
               f"{key} = {value!r} is not a finite float")
    directions = {k: up for k, up in metric.higher_is_better.items() if k in same}
    expect(directions, label, "higher_is_better names none of the values compute returns")
    better = False
    for key, up in directions.items():
        a, b = same[key], different[key]
        expect(a >= b if up else a <= b, label,
               f"{key} reads better against noise ({b:.4g}) than between two halves of real data ({a:.4g})")
        better = better or a != b
    expect(better, label, "cannot tell real data from noise: every value is the same for both")
