"""Mixed precision: which dtype autocast uses, and whether this device has it.

Autocast covers the forward passes of a training step only; the update handle runs every
backward pass and optimizer step outside it. fp16 adds loss scaling (one GradScaler per
optimizer group, in ``_updates``); bf16 has float32's range and needs none.
"""

from __future__ import annotations

import contextlib
from typing import ContextManager

import torch

from ._errors import GancoreError

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(amp: str, device: torch.device) -> None:
    """One clear error when this device cannot run the precision the recipe asks for."""
    if amp == "off":
        return
    dtype = DTYPES[amp]
    if not torch.amp.is_autocast_available(device.type):
        raise GancoreError(f"train.amp = {amp!r}: autocast is not available on {device.type}")
    if device.type == "cuda" and amp == "bf16" and not torch.cuda.is_bf16_supported(including_emulation=False):
        raise GancoreError("train.amp = 'bf16': this GPU has no bfloat16 support; use train.amp = 'fp16'")
    try:  # the CPU build decides what autocast may use: ask it rather than guess
        with torch.autocast(device.type, dtype=dtype):
            a = torch.ones(2, 2, device=device)
            (a @ a).sum()
    except RuntimeError as exc:
        raise GancoreError(f"train.amp = {amp!r} is not supported on {device}: {str(exc).splitlines()[0]}") from None


def autocast(amp: str, device: torch.device) -> ContextManager[object]:
    """The context a training step's forward passes run in."""
    if amp == "off":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=DTYPES[amp])


def no_autocast(device: torch.device) -> ContextManager[object]:
    """Leave autocast for a backward pass or an optimizer step."""
    return torch.autocast(device.type, enabled=False)
