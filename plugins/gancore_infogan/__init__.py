"""gancore first-party plugin: InfoGAN (Chen et al. 2016).

- generator ``infogan``: the paper's MNIST generator, input ``[z | one-hot | continuous]``;
- critic ``infogan``: the paper's discriminator, exposing its shared body (``features``);
- scheme ``infogan``: the GAN step plus the mutual-information term on G and the Q head,
  which the scheme owns and runs on the critic's body features;
- recipe ``infogan-mnist``: 10 categories and 2 continuous codes on the bundled MNIST.
"""

import gancore
from _gancore_support.recipes import register_recipe_folder

from .agreement import CodeAgreement, code_agreement, measure_code_agreement
from .codes import LatentCodes, LatentLayout
from .information import InformationTerms, QOutput, information_loss
from .networks import InfoGANCritic, InfoGANGenerator, QHead
from .scheme import InfoGAN


@gancore.hookimpl
def register_parts(register):
    register("generator", "infogan", InfoGANGenerator)
    register("critic", "infogan", InfoGANCritic)
    register("scheme", "infogan", InfoGAN)


@gancore.hookimpl
def register_recipes(register):
    register_recipe_folder(register, __name__)


__all__ = [
    "CodeAgreement",
    "InfoGAN",
    "InfoGANCritic",
    "InfoGANGenerator",
    "InformationTerms",
    "LatentCodes",
    "LatentLayout",
    "QHead",
    "QOutput",
    "code_agreement",
    "information_loss",
    "measure_code_agreement",
]
