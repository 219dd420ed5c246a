"""Choosing the training device."""

from __future__ import annotations

import torch

from ._errors import GancoreError


def resolve_device(name: str, *, local_rank: int | None = None) -> torch.device:
    """``auto`` is CUDA when present, else the CPU; ``cuda`` and ``cuda:N`` must exist.

    In a job of several processes (``local_rank`` given) each process takes the device of
    its local rank, ``cuda:LOCAL_RANK``, or the CPU."""
    name = name.strip().lower()
    if local_rank is not None:
        return _device_of_process(name, local_rank)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise GancoreError(f"train.device: unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise GancoreError(f"train.device: {name!r} asked for, but CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise GancoreError(f"train.device: {name!r} asked for, but this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif device.type != "cpu":
        raise GancoreError(f"train.device: {name!r} is not supported (use auto, cpu, cuda or cuda:N)")
    return device


def _device_of_process(name: str, local_rank: int) -> torch.device:
    if name in ("auto", "cuda") and torch.cuda.is_available():
        count = torch.cuda.device_count()
        if local_rank >= count:
            raise GancoreError(f"LOCAL_RANK {local_rank}: this machine has {count} CUDA device(s); start at most {count} processes per machine")
        return torch.device("cuda", local_rank)
    if name in ("auto", "cpu"):
        return torch.device("cpu")
    if name == "cuda":
        raise GancoreError("train.device: 'cuda' asked for, but CUDA is not available on this machine")
    raise GancoreError(f"train.device: {name!r}: with several processes each takes cuda:LOCAL_RANK; use auto, cuda or cpu")
