"""gancore first-party plugin: data.

Datasets held in memory as CPU tensors (the engine moves them to the device once):
the PacGAN 2D mixtures ``ring`` and ``grid``, ``mnist``, ``stacked-mnist``, ``colored-mnist``
(RGB, offline), ``image-folder``, and ``cifar10`` and ``cifar100`` (from the official binary
archives). Image datasets other than the MNIST family hold uint8 images.
"""

import gancore

from .cifar import cifar10, cifar100
from .colored import colored_mnist
from .image_folder import image_folder
from .mixtures import grid, grid_modes, grid_std, mixture_modes, ring, ring_modes, ring_std
from .mnist import mnist
from .stacked import stacked_mnist


@gancore.hookimpl
def register_parts(register):
    register("dataset", "ring", ring)
    register("dataset", "grid", grid)
    register("dataset", "mnist", mnist)
    register("dataset", "stacked-mnist", stacked_mnist)
    register("dataset", "colored-mnist", colored_mnist)
    register("dataset", "image-folder", image_folder)
    register("dataset", "cifar10", cifar10)
    register("dataset", "cifar100", cifar100)


__all__ = [
    "cifar10",
    "cifar100",
    "colored_mnist",
    "grid",
    "grid_modes",
    "grid_std",
    "image_folder",
    "mixture_modes",
    "mnist",
    "register_parts",
    "ring",
    "ring_modes",
    "ring_std",
    "stacked_mnist",
]
