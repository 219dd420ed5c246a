"""Helpers the metrics share: checking inputs, embedding them in a feature space, and the
data the MNIST-based metrics run on by default."""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Mapping
from typing import Annotated, Any

import torch
from pydantic import Field
from torch import Tensor

import gancore


def samples(data: Mapping[str, Tensor], which: str, minimum: int = 2) -> Tensor:
    """The ``x`` tensor of ``data``, checked to hold at least ``minimum`` samples."""
    if "x" not in data:
        raise ValueError(f"{which} data needs an 'x' tensor")
    x = data["x"]
    if x.shape[0] < minimum:
        raise ValueError(f"{which} data has {x.shape[0]} samples; this metric needs at least {minimum}")
    return x


FeaturesParam = Annotated[
    str | dict[str, Any] | None,
    gancore.Ref("features"),
    Field(description="feature space: a name, or a table of a name and its parameters "
                      "(default: mnist for MNIST-sized grayscale images, inception for other images, the values themselves otherwise)"),
]


def data_features(x: Tensor) -> str:
    """The feature space a metric uses when none is named: the bundled MNIST network for
    the images it reads (one channel, 28 or 32 pixels), Inception-v3 for every other
    image, and the values themselves for anything that is not an image."""
    if x.dim() == 4 and x.shape[1] == 1 and tuple(x.shape[-2:]) in ((28, 28), (32, 32)):
        return "mnist"
    return "inception" if x.dim() == 4 else "identity"


class FeatureSpace:
    """A metric's feature space, built at first use: a name or a table of a name and
    parameters; None picks the data's own (``data_features``) from the samples."""

    def __init__(self, choice: str | dict[str, Any] | None, build: gancore.Build) -> None:
        self.choice, self.build = choice, build
        self._built: dict[str, Any] = {}

    def for_samples(self, x: Tensor) -> Any:
        return self.named_for_samples(x)[1]

    def named_for_samples(self, x: Tensor) -> tuple[str, Any]:
        """The registered name of the space samples like ``x`` are embedded in, and the space."""
        choice = self.choice if self.choice is not None else data_features(x)
        name, params = (choice, {}) if isinstance(choice, str) else _table(choice)
        key = repr((name, sorted(params.items())))
        if key not in self._built:
            self._built[key] = self.build("features", name, params)
        return name, self._built[key]


def _table(choice: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    params = dict(choice)
    return params.pop("name"), params


def feature_space(features: str | dict[str, Any] | None, build: gancore.Build) -> FeatureSpace:
    """The feature space a metric's ``features`` parameter names, from the registry
    (``build``) building the metric."""
    return FeatureSpace(features, build)


# Features of recent sample sets, by feature space and content: a training run's fixed real
# subset is embedded once for all its evaluations, and the generated samples of one
# evaluation once for all its metrics (FID, KID, precision/recall and IS share one pass).
_CACHE: OrderedDict[tuple[Any, ...], dict[str, Tensor]] = OrderedDict()
_CACHE_ENTRIES = 4


def fingerprint(x: Tensor) -> str:
    """A digest of a tensor's shape, type and values."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((tuple(x.shape), str(x.dtype))).encode())
    digest.update(x.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def embedded(space: Any, x: Tensor, with_logits: bool = False) -> dict[str, Tensor]:
    """``{"features": ..., "logits": ...}`` of ``x`` in ``space`` (logits when asked for or
    when the space computes both in one pass), from the cache when this space saw these
    samples recently. A space without a ``cache_key`` is not cached."""
    key = getattr(space, "cache_key", None)
    full = (key, fingerprint(x)) if key is not None else None
    if full is not None and full in _CACHE:
        entry = _CACHE[full]
        if not with_logits or "logits" in entry:
            _CACHE.move_to_end(full)
            return entry
    if hasattr(space, "features_and_logits") and (with_logits or key is not None):
        f, logits = space.features_and_logits(x)
        entry = {"features": f, "logits": logits}
    elif with_logits:
        entry = {"features": space.features(x), "logits": space.logits(x)}
    else:
        entry = {"features": space.features(x)}
    if full is not None:
        _CACHE[full] = entry
        while len(_CACHE) > _CACHE_ENTRIES:
            _CACHE.popitem(last=False)
    return entry


def embed(
    space: FeatureSpace, real: Mapping[str, Tensor], fake: Mapping[str, Tensor], minimum: int = 2
) -> tuple[Tensor, Tensor]:
    """Features of the real and the generated samples, on the same device."""
    x_real, x_fake = samples(real, "real", minimum), samples(fake, "generated", minimum)
    chosen = space.for_samples(x_real)
    f_real = embedded(chosen, x_real)["features"]
    f_fake = embedded(chosen, x_fake)["features"]
    return f_real, f_fake.to(f_real.device)


def histogram_kl_to_uniform(counts: Tensor) -> float:
    """KL(p || uniform) of the histogram ``counts`` over its bins, in nats.

    Empty bins contribute nothing (0 log 0 = 0); an all-empty histogram is infinitely far
    from uniform.
    """
    counts = counts.double()
    total = counts.sum()
    if total <= 0:
        return math.inf
    p = counts / total
    p = p[p > 0]
    return float((p * (p * counts.numel()).log()).sum())


class InFeatureSpace(gancore.Metric):
    """A metric that embeds samples in its feature space (``self.space``), which it names
    to whoever asks (a report's nearest-neighbour sheet searches the same space)."""

    space: FeatureSpace

    def feature_space_for(self, x: Tensor) -> tuple[str, gancore.Features] | None:
        return self.space.named_for_samples(x)


class ImagesByDefault(InFeatureSpace):
    """A metric in a feature space: ``gancore eval`` runs it by default on images (in the
    MNIST network's space where that network reads them, in Inception-v3's otherwise)."""

    @classmethod
    def applies_to(cls, spec: gancore.DataSpec) -> bool:
        """Runs by default on images."""
        return spec.is_image


def mnist_sized(spec: gancore.DataSpec) -> bool:
    """Single-channel 28x28 or 32x32 images: what the bundled MNIST network reads."""
    return spec.is_image and spec.shape[0] == 1 and spec.shape[1] in (28, 32)


class MnistImagesByDefault(InFeatureSpace):
    """A metric whose default classifier is the bundled MNIST network: ``gancore eval``
    runs it by default where that network reads the data."""

    @classmethod
    def applies_to(cls, spec: gancore.DataSpec) -> bool:
        """Runs by default on single-channel 28x28 or 32x32 images (the MNIST feature space)."""
        return mnist_sized(spec)
