"""gancore first-party plugin: nets.

Generators and critics following gancore's network convention: ``generator(z, labels)``
with ``latent_dim`` and ``num_classes``; ``critic(x, labels)`` returning raw scores of
shape (N // pack,), with ``num_classes`` and ``pack``. Every network takes a ``norm``
by name, so one architecture runs with batch, layer, spectral or weight normalization.
Unconditional networks ignore labels passed to them; conditional ones require them.
"""

import gancore

from .dcgan import DCGANCritic, DCGANGenerator
from .mlp import MLPCritic, MLPGenerator
from .r3gan import R3GANCritic, R3GANGenerator
from .sngan import SNGANCritic, SNGANGenerator


@gancore.hookimpl
def register_parts(register):
    register("generator", "mlp", MLPGenerator)
    register("generator", "dcgan", DCGANGenerator)
    register("generator", "sngan", SNGANGenerator)
    register("generator", "r3gan", R3GANGenerator)
    register("critic", "mlp", MLPCritic)
    register("critic", "dcgan", DCGANCritic)
    register("critic", "sngan", SNGANCritic)
    register("critic", "r3gan", R3GANCritic)


__all__ = [
    "DCGANCritic", "DCGANGenerator", "MLPCritic", "MLPGenerator", "R3GANCritic", "R3GANGenerator", "SNGANCritic",
    "SNGANGenerator",
]
