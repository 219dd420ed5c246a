"""The classic GAN step: one generator, one critic, any loss and regularizers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import Field
from torch import Tensor, nn

import gancore


class Adversarial(gancore.Scheme):
    """One generator and one critic: n_critic critic steps, then one generator step.

    Class-conditional when the generator has ``num_classes`` (CGAN, projection critics):
    fakes in the critic step take the real batch's labels, so classes stay balanced.

    Args:
        n_critic: critic updates per generator update (5 for WGAN and WGAN-GP).
    """

    slots = {
        "generator": gancore.Slot("generator", help="maps z (and labels) to samples"),
        "critic": gancore.Slot("critic", help="scores samples"),
        "loss": gancore.Slot("loss", default="non-saturating", help="adversarial objectives"),
        "regularizers": gancore.Slot("regularizer", many=True, required=False, help="critic penalties and constraints"),
    }
    networks = {"generator": ("generator",), "critic": ("critic",)}

    def __init__(
        self,
        *,
        generator: nn.Module,
        critic: nn.Module,
        loss: gancore.AdversarialLoss,
        regularizers: Sequence[gancore.Regularizer] = (),
        spec: gancore.DataSpec,
        n_critic: Annotated[int, Field(ge=1, le=100)] = 1,
    ) -> None:
        super().__init__()
        self.generator, self.critic = generator, critic
        self.loss, self.regularizers = loss, list(regularizers)
        self.n_critic = n_critic
        latent_dim = getattr(generator, "latent_dim", None)
        if not isinstance(latent_dim, int):
            raise ValueError("the generator needs an integer latent_dim attribute (the size of z)")
        self.latent_dim: int = latent_dim
        self.num_classes = getattr(generator, "num_classes", None) or None
        critic_classes = getattr(critic, "num_classes", None) or None
        if self.num_classes != critic_classes:
            raise ValueError(
                f"generator and critic disagree on conditioning (generator num_classes={self.num_classes}, "
                f"critic num_classes={critic_classes}); make both conditional or neither"
            )
        if self.num_classes and "label" not in spec.fields:
            raise ValueError("conditional networks need a dataset with labels")

    def train_step(self, step: gancore.Step) -> dict[str, Tensor]:
        for batch, generating in step.critic_rounds(self.n_critic):
            real = batch["x"]
            labels = batch["label"] if self.num_classes else None
            with generating:
                fake = self.generator(step.randn(real.shape[0], self.latent_dim), labels)
            logs = step.critic_update(self.loss, (self.critic, real, fake), labels=labels, regularizers=self.regularizers)
        # The last round's fakes kept their graph: the generator's update reuses them.
        gen_loss = step.generator_loss(self.loss, self.critic, fake, real, labels=labels)
        step.update("generator", gen_loss)
        return logs | {"loss_generator": gen_loss.detach()}

    def sample(self, request: gancore.SampleRequest) -> Tensor:
        # generate: the request's codes (drawn, truncated or given) through the generator
        return request.generate(self.generator, self.latent_dim)
