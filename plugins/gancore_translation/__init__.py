"""gancore first-party plugin: translation.

Image-to-image translation: the pix2pix (paired) and CycleGAN (unpaired) schemes, the
networks they use (``unet`` and ``resnet`` generators, the ``patchgan`` critic), reusable
image losses (``l1``, ``cycle``, ``identity``, ``symmetry``, ``feature``,
``total-variation``), offline MNIST translation data, and the two built-in recipes.
"""

import gancore
from _gancore_support.recipes import register_recipe_folder

from .cyclegan import CycleGAN
from .data import mnist_edges, mnist_unpaired
from .image_losses import CycleLoss, FeatureLoss, IdentityLoss, L1Loss, SymmetryLoss, TotalVariationLoss
from .patchgan import PatchGANCritic
from .pix2pix import Pix2Pix
from .pool import HistoryPool
from .resnet import ResnetGenerator
from .unet import UNetGenerator

IMAGE_LOSSES = {
    "l1": L1Loss,
    "cycle": CycleLoss,
    "identity": IdentityLoss,
    "symmetry": SymmetryLoss,
    "feature": FeatureLoss,
    "total-variation": TotalVariationLoss,
}


@gancore.hookimpl
def register_parts(register):
    for name, factory in IMAGE_LOSSES.items():
        register("image-loss", name, factory)
    register("generator", "unet", UNetGenerator)
    register("generator", "resnet", ResnetGenerator)
    register("critic", "patchgan", PatchGANCritic)
    register("dataset", "mnist-edges", mnist_edges)
    register("dataset", "mnist-unpaired", mnist_unpaired)
    register("scheme", "pix2pix", Pix2Pix)
    register("scheme", "cyclegan", CycleGAN)


@gancore.hookimpl
def register_recipes(register):
    register_recipe_folder(register, __name__)


__all__ = [
    "CycleGAN",
    "CycleLoss",
    "FeatureLoss",
    "HistoryPool",
    "IdentityLoss",
    "L1Loss",
    "PatchGANCritic",
    "Pix2Pix",
    "ResnetGenerator",
    "SymmetryLoss",
    "TotalVariationLoss",
    "UNetGenerator",
    "mnist_edges",
    "mnist_unpaired",
]
