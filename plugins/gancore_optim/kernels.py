"""An optimizer's ``implementation``: which of torch's kernels its update runs with.

Not every torch optimizer has every kernel (RMSprop has no fused one), so each
optimizer's parameter admits only its own, and a recipe asking for another is refused
with the rest of its errors, before anything is built.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

WITH_FUSED = ("default", "for-loop", "foreach", "fused")
WITHOUT_FUSED = ("default", "for-loop", "foreach")


def choice(optimizer: str, available: tuple[str, ...]) -> Any:
    """The type of ``optimizer``'s ``implementation`` parameter: one of ``available``."""

    def check(value: Any) -> Any:
        # Before the Literal's own check, so the message says what this optimizer lacks.
        if isinstance(value, str) and value not in available:
            raise ValueError(f"implementation {value!r} is not available for {optimizer} (available: {', '.join(available)})")
        return value

    description = "optimizer kernels: default (torch decides), " + ", ".join(available[1:])
    return Annotated[Literal[available], BeforeValidator(check), Field(description=description)]


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
