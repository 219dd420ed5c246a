"""Small tools for writing a scheme's training step, so every scheme does these alike."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn


@contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """No parameter gradients for ``modules`` inside the block: a critic during the
    generator's update still passes gradients to its input, but computes none for its own
    weights (work a hand-written loop usually wastes)."""
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def optimizer_step(optimizer: torch.optim.Optimizer, loss: Tensor) -> None:
    """Clear the gradients, backpropagate ``loss``, and step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
