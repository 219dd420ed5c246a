"""The classic GAN step: one generator, one critic, any loss and regularizers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated

import torch
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
    groups = ("generator", "critic")

    def __init__(
        self,
        *,
        generator: nn.Module,
        critic: nn.Module,
        loss: gancore.AdversarialLoss,
        regularizers: Sequence[gancore.Regularizer] = (),
        spec: gancore.DataSpec,
        n_critic: Annotated[int, Field(ge=1)] = 1,
    ) -> None:
        super().__init__()
        self.generator, self.critic = generator, critic
        self.loss, self.regularizers = loss, list(regularizers)
        self.n_critic = n_critic
        if not isinstance(getattr(generator, "latent_dim", None), int):
            raise ValueError("the generator needs an integer latent_dim attribute (the size of z)")
        self.num_classes = getattr(generator, "num_classes", None) or None
        critic_classes = getattr(critic, "num_classes", None) or None
        if self.num_classes != critic_classes:
            raise ValueError(
                f"generator and critic disagree on conditioning (generator num_classes={self.num_classes}, "
                f"critic num_classes={critic_classes}); make both conditional or neither"
            )
        if self.num_classes and "label" not in spec.fields:
            raise ValueError("conditional networks need a dataset with labels")

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"generator": list(self.generator.parameters()), "critic": list(self.critic.parameters())}

    def _latent(self, n: int, like: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return torch.randn(n, self.generator.latent_dim, device=like.device, generator=generator)

    def train_step(self, batches: gancore.Batches, optimizers: Mapping[str, torch.optim.Optimizer], step: int) -> dict[str, Tensor]:
        G, D, loss = self.generator, self.critic, self.loss
        opt_g, opt_d = optimizers["generator"], optimizers["critic"]
        logs: dict[str, Tensor] = {}
        for i in range(self.n_critic):
            batch = batches.next()
            real = batch["x"]
            labels = batch["label"] if self.num_classes else None
            z = self._latent(real.shape[0], real)
            last = i == self.n_critic - 1
            # The last critic step keeps G's graph so the generator step can reuse this
            # fake instead of running G again (as a hand-written loop would).
            with torch.set_grad_enabled(last):
                fake = G(z, labels)
            real_scores = D(real, labels)
            fake_scores = D(fake.detach(), labels)
            critic_loss = loss.critic(real_scores, fake_scores)
            total = critic_loss
            penalties = [reg.penalty(lambda x: D(x, labels), real, fake.detach()) for reg in self.regularizers]
            penalties = [p for p in penalties if p is not None]
            if penalties:
                penalty = torch.stack(penalties).sum()
                total = total + penalty
                logs["penalty"] = penalty.detach()
            gancore.optimizer_step(opt_d, total)
            for reg in self.regularizers:
                reg.after_critic_step(D)

        with gancore.frozen(D):
            fake_scores_g = D(fake, labels)
            real_scores_g = None
            if loss.needs_real_in_generator_step:
                with torch.no_grad():
                    real_scores_g = D(real, labels)
            gen_loss = loss.generator(fake_scores_g, real_scores_g)
            gancore.optimizer_step(opt_g, gen_loss)

        logs["loss_critic"] = critic_loss.detach()
        logs["loss_generator"] = gen_loss.detach()
        logs["score_real"] = real_scores.detach().mean()
        logs["score_fake"] = fake_scores.detach().mean()
        return logs

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        networks: Mapping[str, nn.Module] | None = None,
        labels: Tensor | None = None,
        batch: Mapping[str, Tensor] | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        G = self.network("generator", networks)
        device = next(G.parameters()).device
        z = torch.randn(n, G.latent_dim, generator=generator, device="cpu").to(device)
        if self.num_classes and labels is None:
            labels = torch.arange(n, device=device) % self.num_classes
        return G(z, labels.to(device) if labels is not None else None)
