"""pix2pix (Isola et al. 2017): paired image-to-image translation with a conditional GAN.

The generator maps a source image to an output; the critic scores (source, image) pairs,
so it judges whether the output fits its source, not just whether it looks real; and an
L1 term ties the output to the true target, leaving the adversarial term the sharpness
that L1 alone blurs away.
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field
from torch import Tensor, nn

import gancore
from _gancore_support.sampling import PairedSampling


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
    networks = {"generator": ("generator",), "critic": ("critic",)}
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

    def _judged(self, source: Tensor, image: Tensor) -> Tensor:
        """What the critic sees: the (source, image) pair, or the image alone."""
        return torch.cat([source, image], dim=1) if self.paired else image

    def train_step(self, step: gancore.Step) -> dict[str, Tensor]:
        batch = step.batch()
        source, real = batch["source"], batch["x"]
        fake = self.generator(source)
        pair_real, pair_fake = self._judged(source, real), self._judged(source, fake)
        logs = step.critic_update(self.loss, (self.critic, pair_real, pair_fake))
        adversarial = step.generator_loss(self.loss, self.critic, pair_fake, pair_real)
        reconstruction = self.reconstruction(fake, real)
        step.update("generator", adversarial + self.l1_weight * reconstruction)
        return logs | {"loss_generator": adversarial.detach(), "loss_reconstruction": reconstruction.detach()}
