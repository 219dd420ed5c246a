"""An optimizer's ``implementation``: which of torch's kernels its update runs with.

Not every torch optimizer has every kernel (RMSprop has no fused one), so each
optimizer's parameter admits only its own, and a recipe asking for another is refused
with the rest of its errors, before anything is built.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BeforeValidator, Field
from pydantic.fields import FieldInfo

WithFused = Literal["default", "for-loop", "foreach", "fused"]
WithoutFused = Literal["default", "for-loop", "foreach"]
WITH_FUSED: tuple[str, ...] = get_args(WithFused)
WITHOUT_FUSED: tuple[str, ...] = get_args(WithoutFused)


def available_for(optimizer: str, available: tuple[str, ...]) -> BeforeValidator:
    """The check of ``optimizer``'s ``implementation`` parameter: one of ``available``.
    Use: ``Annotated[WithFused, available_for("adam", WITH_FUSED), described(WITH_FUSED)]``."""

    def check(value: Any) -> Any:
        # Before the Literal's own check, so the message says what this optimizer lacks.
        if isinstance(value, str) and value not in available:
            raise ValueError(f"implementation {value!r} is not available for {optimizer} (available: {', '.join(available)})")
        return value

    return BeforeValidator(check)


def described(available: tuple[str, ...]) -> FieldInfo:
    """The description of an ``implementation`` parameter."""
    description: FieldInfo = Field(description="optimizer kernels: default (torch decides), " + ", ".join(available[1:]))
    return description


def kernel_options(implementation: str) -> dict[str, Any]:
    """The torch keyword arguments of an implementation; ``default`` lets torch choose
    (foreach on CUDA, the for-loop on the CPU)."""
    if implementation == "foreach":
        return {"foreach": True}
    if implementation == "fused":
        return {"fused": True}
    if implementation == "for-loop":
        return {"foreach": False}
    return {}
