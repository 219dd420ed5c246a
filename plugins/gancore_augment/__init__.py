"""gancore first-party plugin: augment.

Differentiable augmentations the engine applies before every critic call
(``[[augment]]`` in a recipe): ``diffaugment`` (Zhao et al. 2020) and ``ada`` (Karras et
al. 2020), built from the per-sample transforms in ``ops.py``.
"""

import gancore

from .ada import ADA
from .diffaugment import DiffAugment


@gancore.hookimpl
def register_parts(register):
    register("augment", "diffaugment", DiffAugment)
    register("augment", "ada", ADA)
