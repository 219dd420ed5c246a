"""gancore.testing: the contract kit for parts, for plugin authors and for gancore itself.

As a pytest plugin (installed with gancore, through the ``pytest11`` entry point)::

    python -m pytest --gancore-plugin NAME    # every part and recipe plugin NAME registers
    python -m pytest --gancore-plugin all     # everything installed

In an author's own tests, each check takes a built part and raises ``ContractError``
(an ``AssertionError``) whose message names the part::

    from gancore.testing import check_critic, check_loss, check_part, STANDARD_SPECS

    check_loss(MyLoss())
    check_critic(MyCritic(spec=STANDARD_SPECS["mnist"]), STANDARD_SPECS["mnist"])
    check_part("loss", "my-loss")        # every case of a registered part
"""

from ._cases import Case, cases, check_part, examples
from ._data import check_dataset, check_features, check_metric
from ._networks import check_augment, check_critic, check_generator
from ._objectives import check_image_loss, check_loss, check_normalization, check_optimizer, check_regularizer
from ._runs import check_callback, check_recipe, check_scheme
from ._contract import STANDARD_SPECS, ContractError, accepts

__all__ = [
    "STANDARD_SPECS",
    "Case",
    "ContractError",
    "accepts",
    "cases",
    "check_augment",
    "check_callback",
    "check_critic",
    "check_dataset",
    "check_features",
    "check_generator",
    "check_image_loss",
    "check_loss",
    "check_metric",
    "check_normalization",
    "check_optimizer",
    "check_part",
    "check_recipe",
    "check_regularizer",
    "check_scheme",
    "examples",
]
