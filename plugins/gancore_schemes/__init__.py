"""gancore first-party plugin: training schemes."""

import gancore

from .adversarial import Adversarial


@gancore.hookimpl
def register_parts(register):
    register("scheme", "adversarial", Adversarial)
