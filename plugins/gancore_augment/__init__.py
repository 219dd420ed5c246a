"""gancore first-party plugin: augment.

Differentiable augmentations the engine applies before every critic call
(``[[augment]]`` in a recipe): ``diffaugment`` (Zhao et al. 2020), ``ada`` (Karras et
al. 2020) and ``transforms`` (ADA's at a probability the recipe sets or schedules), built
from the per-sample transforms in ``ops.py``.
"""

import gancore

from .ada import ADA
from .diffaugment import DiffAugment
from .fixed import Transforms


@gancore.hookimpl
def register_parts(register):
    register("augment", "diffaugment", DiffAugment)
    register("augment", "ada", ADA)
    register("augment", "transforms", Transforms)
