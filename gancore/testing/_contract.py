"""What every contract check shares: the data specs parts are checked on, how a part says
which of them it accepts, and how a broken contract is reported (an AssertionError whose
message starts with the part)."""

from __future__ import annotations

from typing import Any, NoReturn

from .._parts import DataSpec


class ContractError(AssertionError):
    """A part breaks its kind's contract. The message names the part first
    (``critic 'my-critic' on mnist: ...``), so a failing suite says whom to fix."""


def fail(label: str, message: str) -> NoReturn:
    raise ContractError(f"{label}: {message}")


def expect(condition: object, label: str, message: str) -> None:
    if not condition:
        fail(label, message)


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
