"""gancore first-party plugin: tpgan.

TP-GAN (Huang et al. 2017), paired synthesis of a canonical view: the ``tp-gan`` scheme,
the two-pathway ``tp`` generator (a global encoder-decoder and local ones on fixed boxes),
offline ``mnist-rotated`` data (a rotated digit -> the upright one), and the
``tpgan-mnist`` recipe. Its image losses come from the translation plugin by name.
"""

import gancore
from _gancore_support.recipes import register_recipe_folder

from .boxes import Box, patch_boxes
from .data import mnist_rotated, rotate
from .generator import TwoPathwayGenerator
from .scheme import TPGAN


@gancore.hookimpl
def register_parts(register):
    register("generator", "tp", TwoPathwayGenerator)
    register("dataset", "mnist-rotated", mnist_rotated)
    register("scheme", "tp-gan", TPGAN)


@gancore.hookimpl
def register_recipes(register):
    register_recipe_folder(register, __name__)


__all__ = ["Box", "TPGAN", "TwoPathwayGenerator", "mnist_rotated", "patch_boxes", "rotate"]
