"""The data specs networks are built for, and how a part says which of them it accepts."""

from __future__ import annotations

from typing import Any

from .._parts import DataSpec


def _spec(shape: tuple[int, ...], num_classes: int | None = 10) -> DataSpec:
    fields = {"x": shape, **({"label": ()} if num_classes else {})}
    return DataSpec(shape, num_classes=num_classes, fields=fields)


STANDARD_SPECS: dict[str, DataSpec] = {
    "points": _spec((2,)),
    "mnist": _spec((1, 28, 28)),
    "cifar": _spec((3, 32, 32)),
    "frames": _spec((3, 1, 28, 28)),  # sequences of 3 frames: video data
}
"""Every network, feature space and metric is checked on each of these it accepts."""


def accepts(factory: Any, spec: DataSpec) -> bool:
    """Whether a part's factory says it builds for ``spec``.

    A factory declares the data it works on with ``supports(spec) -> bool`` (a static or
    class method, or a function attribute). One that does not is expected to build for
    every standard spec: the kit then reports a refusal as a broken contract.
    """
    supports = getattr(factory, "supports", None)
    if supports is None:
        return True
    return bool(supports(spec))
