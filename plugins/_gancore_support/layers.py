"""Building layers with a swappable normalization and an optional DCGAN initialisation.

Networks ask a ``LayerMaker`` for their weighted layers (initialised, then wrapped by the
norm, so weight norm starts from the initialised weights) and for the activation-norm
module after them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from torch import nn

import gancore

Init = Literal["dcgan", "default"]

_WEIGHTED = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)
_NORMS = (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm, nn.GroupNorm, nn.LayerNorm)


def resolve_norm(norm: str | gancore.Normalization, build: gancore.Build | None = None) -> gancore.Normalization:
    """A registered normalization by name, or an instance used as it is. ``build`` is the
    network factory's injected ``gancore.Build``, so the name is looked up in the registry
    that builds the network; without it, in the process's."""
    if isinstance(norm, gancore.Normalization):
        return norm
    if build is None:
        build = gancore.build
    return build("normalization", norm)


def dcgan_init(module: nn.Module) -> None:
    """Radford et al. 2016: weights N(0, 0.02); norm scales N(1, 0.02); shifts and biases 0."""
    if isinstance(module, _WEIGHTED):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, _NORMS) and getattr(module, "weight", None) is not None:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def has_shift(module: nn.Module) -> bool:
    """Whether a norm module adds its own learned shift (making a bias before it redundant)."""
    return getattr(module, "bias", None) is not None


class LayerMaker:
    """Weighted layers and norm modules for one network, under one norm and one init.

    A network factory passes its injected ``build`` on, so a normalization named in the
    recipe comes from the registry building the network (see ``resolve_norm``)."""

    def __init__(
        self, norm: str | gancore.Normalization, init: Init = "default", *, build: gancore.Build | None = None
    ) -> None:
        self.norm = resolve_norm(norm, build)
        self.init = init

    def weighted(self, module: nn.Module) -> nn.Module:
        """Initialise a linear/conv/embedding layer, then let the norm wrap it."""
        if self.init == "dcgan":
            dcgan_init(module)
        return self.norm.wrap(module)

    def norm_layer(self, num_features: int, *, spatial: bool) -> nn.Module:
        module = self.norm.layer(num_features, spatial=spatial)
        if self.init == "dcgan":
            dcgan_init(module)
        return module

    def normed(
        self, layer: Callable[..., nn.Module], c_from: int, c_to: int, *args: Any, spatial: bool = True, **kwargs: Any
    ) -> list[nn.Module]:
        """``[layer(c_from, c_to, *args, **kwargs), its norm module]``, the layer weighted.
        The norm is made first so that the layer leaves out its bias where the norm adds a
        learned shift of its own."""
        after = self.norm_layer(c_to, spatial=spatial)
        return [self.weighted(layer(c_from, c_to, *args, bias=not has_shift(after), **kwargs)), after]
