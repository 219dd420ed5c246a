"""gancore first-party plugin: norms.

Normalizations a network swaps by name (``norm = "spectral"``):

- activation norms, a module after each layer: ``batch``, ``instance``, ``layer``, ``none``
  (see ``activation.py``);
- weight reparametrisations, wrapping each layer: ``spectral``, ``weight``
  (see ``reparam.py``).

A per-domain batch norm (``domain-batch``) will be another ``ActivationNormalization``
subclass in its own module, registered here like the others.
"""

import gancore

from .activation import (
    ActivationNormalization,
    BatchNormalization,
    InstanceNormalization,
    LayerNormalization,
    NoNormalization,
)
from .domain_batch import DomainBatchNormalization
from .reparam import SpectralNormalization, WeightNormalization

NORMALIZATIONS = {
    "batch": BatchNormalization,
    "instance": InstanceNormalization,
    "layer": LayerNormalization,
    "none": NoNormalization,
    "spectral": SpectralNormalization,
    "weight": WeightNormalization,
    "domain-batch": DomainBatchNormalization,
}


@gancore.hookimpl
def register_parts(register):
    for name, factory in NORMALIZATIONS.items():
        register("normalization", name, factory)


__all__ = [
    "ActivationNormalization",
    "BatchNormalization",
    "InstanceNormalization",
    "LayerNormalization",
    "NoNormalization",
    "SpectralNormalization",
    "WeightNormalization",
]
