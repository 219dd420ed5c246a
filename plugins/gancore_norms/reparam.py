"""Weight reparametrisations: the linear/conv layer itself is wrapped, no module after it.

Both use ``torch.nn.utils.parametrizations``, so the wrapped layer keeps its type, its
``weight`` attribute and a plain ``state_dict``; the raw tensors live under
``parametrizations.weight``.
"""

from __future__ import annotations

from typing import Annotated, cast

from pydantic import Field
from torch import nn
from torch.nn.utils import parametrizations

import gancore


def _has_weight(module: nn.Module) -> bool:
    return isinstance(getattr(module, "weight", None), nn.Parameter) or (
        hasattr(module, "parametrizations") and "weight" in cast(nn.ModuleDict, module.parametrizations)
    )


class SpectralNormalization(gancore.Normalization):
    """Spectral normalization (Miyato et al. 2018): each weight divided by its largest singular value.

    The singular value is estimated by power iteration, advanced on every forward pass in
    training mode; in eval mode the stored estimate is used unchanged.
    """

    def __init__(
        self,
        n_power_iterations: Annotated[
            int, Field(ge=1, description="power-iteration steps per training forward pass")
        ] = 1,
    ) -> None:
        self.n_power_iterations = n_power_iterations

    def wrap(self, module: nn.Module) -> nn.Module:
        if not _has_weight(module):
            return module
        # dim=None lets torch pick the output dimension (1 for transposed convolutions).
        return parametrizations.spectral_norm(module, n_power_iterations=self.n_power_iterations)


class WeightNormalization(gancore.Normalization):
    """Weight normalization (Salimans & Kingma 2016): weight = g * v / ||v|| per output unit.

    The magnitude ``g`` is ``parametrizations.weight.original0`` and the direction ``v`` is
    ``original1``.
    """

    def wrap(self, module: nn.Module) -> nn.Module:
        if not _has_weight(module):
            return module
        # A transposed convolution stores its weight as (in, out, kH, kW): its output
        # units are along dim 1, everything else along dim 0.
        dim = 1 if isinstance(module, nn.modules.conv._ConvTransposeNd) else 0
        return parametrizations.weight_norm(module, dim=dim)
