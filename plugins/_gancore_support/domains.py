"""Layers that keep one state per domain, switched for a whole network at once.

Twin-GAN shares its encoder and decoder between two image domains and gives each domain
its own batch-norm statistics and scale; a scheme switches every such layer of a network
with ``set_domain``. A layer takes part by subclassing ``PerDomain``, so the norms plugin
defines one and the Twin-GAN plugin switches it without importing the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


class PerDomain(nn.Module):
    """A layer with ``domains`` states, of which ``domain`` (a plain int) is in use."""

    domains: int = 1
    domain: int = 0


def domain_layers(module: nn.Module) -> list[PerDomain]:
    """Every per-domain layer inside ``module`` (itself included)."""
    return [m for m in module.modules() if isinstance(m, PerDomain)]


def set_domain(module: nn.Module, domain: int) -> int:
    """Make every per-domain layer in ``module`` use ``domain``; returns how many were switched."""
    layers = domain_layers(module)
    for layer in layers:
        if not 0 <= domain < layer.domains:
            raise ValueError(f"domain {domain} is out of range: this network's layers have {layer.domains} domains")
    for layer in layers:
        layer.domain = domain
    return len(layers)


@contextmanager
def use_domain(module: nn.Module, domain: int) -> Iterator[nn.Module]:
    """``with use_domain(net, 1): net(x)``: switch to ``domain``, and back to each layer's previous domain after."""
    layers = domain_layers(module)
    previous = [layer.domain for layer in layers]
    set_domain(module, domain)
    try:
        yield module
    finally:
        for layer, was in zip(layers, previous):
            layer.domain = was
