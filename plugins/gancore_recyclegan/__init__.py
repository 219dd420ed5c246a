"""gancore first-party plugin: recyclegan.

Recycle-GAN (Bansal et al. 2018), unpaired translation of sequences: the ``recycle-gan``
scheme, the ``frame-predictor`` temporal predictor (of the kind ``predictor``, which this
plugin adds), ``per-frame`` adapters that run any registered image generator or critic on
every frame of a sequence, offline ``moving-mnist`` sequence data, and the
``recyclegan-mnist`` recipe.
"""

from torch import nn

import gancore
from _gancore_support.recipes import register_recipe_folder

from .data import moving_mnist
from .per_frame import PerFrameCritic, PerFrameGenerator
from .predictor import FramePredictor
from .scheme import RecycleGAN
from .sequences import next_frame_pairs


@gancore.hookimpl
def register_kinds(register):
    # Not a generator: a predictor maps past frames to the next one and is trained on
    # real sequences, so it needs no latent code and no critic.
    register("predictor", "predicts the next frame of a sequence from the frames before it", interface=nn.Module)


@gancore.hookimpl
def register_parts(register):
    register("predictor", "frame-predictor", FramePredictor)
    register("generator", "per-frame", PerFrameGenerator)
    register("critic", "per-frame", PerFrameCritic)
    register("dataset", "moving-mnist", moving_mnist)
    register("scheme", "recycle-gan", RecycleGAN)


@gancore.hookimpl
def register_recipes(register):
    register_recipe_folder(register, __name__)


__all__ = ["FramePredictor", "PerFrameCritic", "PerFrameGenerator", "RecycleGAN", "moving_mnist", "next_frame_pairs"]
