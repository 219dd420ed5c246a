"""How much memory a recipe's networks will take, known before any of it is allocated.

Each generator and critic is first built on PyTorch's ``meta`` device, where tensors have
shapes but no storage, so a width or depth that no memory holds is refused with one line
("critic: 4.1e+12 parameters, about 66000 GB to train") instead of failing deep inside an
allocator. A network that cannot be built on ``meta`` is simply not estimated.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from ._errors import GancoreError
from ._registry import Registry

# float32 weights, their gradients and Adam's two moments
BYTES_PER_PARAMETER = 16
NETWORK_KINDS = ("generator", "critic")


def _is_network_kind(registry: Registry, kind: str) -> bool:
    """The core's network kinds, and a plugin's kind whose interface is a torch module."""
    if kind in NETWORK_KINDS:
        return True
    interface = getattr(registry.kinds.get(kind), "interface", None)
    return isinstance(interface, type) and issubclass(interface, nn.Module)


def memory_bytes(device: torch.device) -> int | None:
    """The memory of the training device: the GPU's, or the machine's for the CPU."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def parameters_on_meta(registry: Registry, kind: str, name: str, params: dict[str, Any], spec: Any) -> int | None:
    try:
        with torch.device("meta"):
            network = registry.build(kind, name, params, spec=spec)
    except GancoreError:
        raise
    except (OverflowError, MemoryError) as exc:
        raise GancoreError(f"cannot build {kind} {name!r}: {type(exc).__name__}: {exc}") from None
    except Exception:  # noqa: BLE001 - meta cannot build everything; the real build will say what is wrong
        return None
    if not isinstance(network, nn.Module):
        return None
    return sum(p.numel() for p in network.parameters())


def check_networks(registry: Registry, slots: dict[str, Any], spec: Any, device: torch.device) -> None:
    """Refuse networks whose training state would not fit in the device's memory."""
    available = memory_bytes(device)
    total = 0
    for slot, value in slots.items():
        if not isinstance(value, tuple) or not _is_network_kind(registry, value[0]):
            continue
        kind, name, params = value
        count = parameters_on_meta(registry, kind, name, params, spec)
        if count is None:
            continue
        total += count
        if available is not None and count * BYTES_PER_PARAMETER > available:
            raise GancoreError(
                f"{slot}: {count:.2g} parameters, about {count * BYTES_PER_PARAMETER / 1e9:.3g} GB to train "
                f"(weights, gradients, Adam's moments): more than this machine's {available / 1e9:.3g} GB"
            )
    if available is not None and total * BYTES_PER_PARAMETER > available:
        raise GancoreError(f"the networks have {total:.2g} parameters together, about "
                           f"{total * BYTES_PER_PARAMETER / 1e9:.3g} GB to train: more than {available / 1e9:.3g} GB")
