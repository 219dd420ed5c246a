"""gancore first-party plugin: optim.

The ``torch.optim`` optimizers a recipe's ``[optim]`` tables name: ``adam`` (the default),
``adamw``, ``rmsprop`` and ``sgd``, each with the recipe keys it reads.
"""

import gancore

from .torch_optimizers import adam, adamw, rmsprop, sgd


@gancore.hookimpl
def register_parts(register):
    register("optimizer", "adam", adam)
    register("optimizer", "adamw", adamw)
    register("optimizer", "rmsprop", rmsprop)
    register("optimizer", "sgd", sgd)


__all__ = ["adam", "adamw", "rmsprop", "sgd"]
