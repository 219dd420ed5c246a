"""gancore first-party plugin: tpgan.

TP-GAN (Huang et al. 2017), paired synthesis of a canonical view: the ``tp-gan`` scheme,
the two-pathway ``tp`` generator (a global encoder-decoder and local ones on fixed boxes),
offline ``mnist-rotated`` data (a rotated digit -> the upright one), and the
``tpgan-mnist`` recipe. Its image losses come from the translation plugin by name.
"""

from importlib.resources import files

import gancore

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
    for path in sorted(files(__name__).joinpath("recipes").iterdir(), key=lambda p: p.name):
        if path.name.endswith(".toml"):
            register(path.name.removesuffix(".toml"), path)


__all__ = ["Box", "TPGAN", "TwoPathwayGenerator", "mnist_rotated", "patch_boxes", "rotate"]
