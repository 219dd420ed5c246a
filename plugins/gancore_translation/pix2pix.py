"""pix2pix (Isola et al. 2017): paired image-to-image translation with a conditional GAN.

The generator maps a source image to an output; the critic scores (source, image) pairs,
so it judges whether the output fits its source, not just whether it looks real; and an
L1 term ties the output to the true target, leaving the adversarial term the sharpness
that L1 alone blurs away.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import torch
from pydantic import Field
from torch import Tensor, nn

import gancore

from .side_by_side import PairedSampling


class Pix2Pix(PairedSampling, gancore.Scheme):
    """pix2pix: translate data's source field into x, with a (paired) critic and an L1 term.

    The critic sees (source, image) pairs when it was built with ``paired = true`` (the
    patchgan critic), else the images alone. Sample grids show source | output | target.

    Args:
        l1_weight: weight of the reconstruction term next to the adversarial one (pix2pix: 100)
    """

    slots = {
        "generator": gancore.Slot("generator", default="unet", help="translates source images"),
        "critic": gancore.Slot("critic", default="patchgan", help="scores (source, image) pairs, or images"),
        "loss": gancore.Slot("loss", default="non-saturating", help="adversarial objectives"),
        "reconstruction": gancore.Slot("image-loss", default="l1", help="distance of the output to the target"),
    }
    groups = ("generator", "critic")
    ema_networks = ("generator",)
    needs_data_to_sample = True

    def __init__(
        self,
        *,
        generator: nn.Module,
        critic: nn.Module,
        loss: gancore.AdversarialLoss,
        reconstruction: gancore.ImageLoss,
        spec: gancore.DataSpec,
        l1_weight: Annotated[float, Field(ge=0.0)] = 100.0,
    ) -> None:
        super().__init__()
        if "source" not in spec.fields:
            raise ValueError(f"pix2pix needs paired data with a 'source' field; the data has {sorted(spec.fields)}")
        self.generator, self.critic = generator, critic
        self.loss, self.reconstruction = loss, reconstruction
        self.l1_weight = l1_weight
        self.paired = bool(getattr(critic, "paired", False))
        self.num_classes = None  # translation is conditioned on the source image, not a label

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"generator": list(self.generator.parameters()), "critic": list(self.critic.parameters())}

    def _judge(self, source: Tensor, image: Tensor) -> Tensor:
        return self.critic(torch.cat([source, image], dim=1) if self.paired else image)

    def train_step(
        self, batches: gancore.Batches, optimizers: Mapping[str, torch.optim.Optimizer], step: int
    ) -> dict[str, Tensor]:
        batch = batches.next()
        source, real = batch["source"], batch["x"]
        fake = self.generator(source)

        real_scores = self._judge(source, real)
        fake_scores = self._judge(source, fake.detach())
        critic_loss = self.loss.critic(real_scores, fake_scores)
        gancore.optimizer_step(optimizers["critic"], critic_loss)

        with gancore.frozen(self.critic):
            real_scores_g = None
            if self.loss.needs_real_in_generator_step:
                with torch.no_grad():
                    real_scores_g = self._judge(source, real)
            adversarial = self.loss.generator(self._judge(source, fake), real_scores_g)
            reconstruction = self.reconstruction(fake, real)
            gancore.optimizer_step(optimizers["generator"], adversarial + self.l1_weight * reconstruction)

        return {
            "loss_critic": critic_loss.detach(),
            "loss_generator": adversarial.detach(),
            "loss_reconstruction": reconstruction.detach(),
            "score_real": real_scores.detach().mean(),
            "score_fake": fake_scores.detach().mean(),
        }
