"""Building an optimizer group's optimizer from its ``[optim]`` settings."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ._errors import GancoreError

# Which torch optimizers take ``foreach=`` / ``fused=``: the recipe refuses the rest
# before anything is built.
IMPLEMENTATIONS: dict[str, tuple[str, ...]] = {
    "adam": ("default", "for-loop", "foreach", "fused"),
    "adamw": ("default", "for-loop", "foreach", "fused"),
    "sgd": ("default", "for-loop", "foreach", "fused"),
    "rmsprop": ("default", "for-loop", "foreach"),
}


def check_implementation(name: str, implementation: str) -> None:
    allowed = IMPLEMENTATIONS[name]
    if implementation not in allowed:
        raise GancoreError(
            f"implementation {implementation!r} is not available for {name} (available: {', '.join(allowed)})"
        )


def _kernel_options(implementation: str) -> dict[str, Any]:
    """``default`` lets torch choose (foreach on CUDA, for-loop on the CPU)."""
    if implementation == "foreach":
        return {"foreach": True}
    if implementation == "fused":
        return {"fused": True}
    if implementation == "for-loop":
        return {"foreach": False}
    return {}


def build_optimizer(params: list[nn.Parameter], s: Any) -> torch.optim.Optimizer:
    check_implementation(s.name, s.implementation)
    kernel = _kernel_options(s.implementation)
    if s.name == "adam":
        return torch.optim.Adam(params, lr=s.lr, betas=s.betas, eps=s.eps, weight_decay=s.weight_decay, **kernel)
    if s.name == "adamw":
        return torch.optim.AdamW(params, lr=s.lr, betas=s.betas, eps=s.eps, weight_decay=s.weight_decay, **kernel)
    if s.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=s.lr, eps=s.eps, weight_decay=s.weight_decay, momentum=s.momentum, **kernel)
    return torch.optim.SGD(params, lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay, **kernel)
