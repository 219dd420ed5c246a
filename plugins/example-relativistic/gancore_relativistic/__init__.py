"""A gancore plugin that adds one loss: the relativistic average GAN (RaGAN).

Jolicoeur-Martineau, "The relativistic discriminator: a key element missing from
standard GAN", 2018. The critic judges whether a real sample is more realistic than
the average fake one (and a fake less realistic than the average real one).
"""

import torch.nn.functional as F
from torch import Tensor

import gancore


class RelativisticAverageLoss(gancore.AdversarialLoss):
    """Relativistic average GAN loss (RaGAN), non-saturating form."""

    # The generator's loss compares fakes with real scores, so the scheme must
    # score a real batch in the generator step as well.
    needs_real_in_generator_step = True

    def critic(self, real: Tensor, fake: Tensor) -> Tensor:
        return self._loss(winners=real, losers=fake)

    def generator(self, fake: Tensor, real: Tensor | None = None) -> Tensor:
        if real is None:
            raise ValueError("relativistic-average needs the real scores in the generator step")
        return self._loss(winners=fake, losers=real)

    @staticmethod
    def _loss(winners: Tensor, losers: Tensor) -> Tensor:
        # BCE with logits, written stably: -log(sigmoid(s)) = softplus(-s) and
        # -log(1 - sigmoid(s)) = softplus(s).
        winner_term = F.softplus(-(winners - losers.mean())).mean()
        loser_term = F.softplus(losers - winners.mean()).mean()
        return winner_term + loser_term


@gancore.hookimpl
def register_parts(register):
    # register(kind, name, factory): the summary shown by `gancore list` is the
    # first line of the factory's docstring; its keyword parameters (none here)
    # become the recipe's parameters.
    register("loss", "relativistic-average", RelativisticAverageLoss)
