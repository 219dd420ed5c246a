"""gancore first-party plugin: Twin-GAN (Li 2018), unpaired translation with shared weights.

- generator ``twin``: one encoder and one decoder shared by the domains, switched between
  them by per-domain batch norms (the ``domain-batch`` normalization of ``gancore_norms``);
- scheme ``twin-gan``: reconstruction, translation and cycle terms over the data's
  unpaired fields ``a`` and ``b``, with one critic per domain;
- recipe ``twingan-mnist``: plain <-> thick MNIST digits from disjoint halves of the
  bundled test split (``mnist-unpaired``);
- ``class_kept``: the share of translations the MNIST classifier still reads as the
  source digit (the benchmark's measure).
"""

import gancore
from _gancore_support.recipes import register_recipe_folder

from .evaluation import ClassKept, class_kept
from .networks import ResidualBlock, TwinGenerator
from .scheme import DOMAIN_A, DOMAIN_B, TwinGAN


@gancore.hookimpl
def register_parts(register):
    register("generator", "twin", TwinGenerator)
    register("scheme", "twin-gan", TwinGAN)


@gancore.hookimpl
def register_recipes(register):
    register_recipe_folder(register, __name__)


__all__ = ["DOMAIN_A", "DOMAIN_B", "ClassKept", "ResidualBlock", "TwinGAN", "TwinGenerator", "class_kept"]
