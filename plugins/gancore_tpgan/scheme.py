"""TP-GAN (Huang et al. 2017): paired "profile to frontal" synthesis with a weighted sum of losses.

The generator maps the data's ``source`` image to the canonical view ``x``; its objective
is the paper's synthesis loss, a weighted sum of

- pixel-wise: distance of the output to the target (L1);
- symmetry: distance of the output to its mirror image;
- adversarial: a critic's judgement of the output (the critic trains against real targets);
- identity-preserving: distance between a fixed recognition network's features of the
  output and of the target (here the MNIST feature network);
- total variation: mean difference between neighbouring output pixels.

Each term is an ``image-loss`` slot (the adversarial one a ``loss`` slot) with a weight
parameter; a term of weight 0 is not computed, and with ``adversarial_weight = 0`` the
critic is not trained at all, so the same recipe gives a plain regression baseline.
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field
from torch import Tensor, nn

import gancore
from _gancore_support.sampling import PairedSampling

Weight = Annotated[float, Field(ge=0.0)]


class TPGAN(PairedSampling, gancore.Scheme):
    """TP-GAN: map data's source to x with pixel, symmetry, adversarial, identity and total-variation terms.

    The critic sees (source, image) pairs when it was built with ``paired = true``, else
    the images alone (as in TP-GAN). Sample grids show source | output | target.

    Args:
        pixel_weight: weight of the pixel-wise distance to the target (TP-GAN: 1)
        symmetry_weight: weight of the left-right symmetry term (TP-GAN: 0.3 on faces; digits are not symmetric)
        adversarial_weight: weight of the adversarial term (TP-GAN: 1e-3)
        identity_weight: weight of the identity-preserving feature distance (TP-GAN: 3e-3)
        tv_weight: weight of the total-variation term (TP-GAN: 1e-4)
    """

    slots = {
        "generator": gancore.Slot("generator", default="tp", help="maps source images to the target view"),
        "critic": gancore.Slot("critic", default="patchgan", help="scores target-view images (or pairs)"),
        "loss": gancore.Slot("loss", default="non-saturating", help="adversarial objectives"),
        "pixel": gancore.Slot("image-loss", default="l1", help="distance of the output to the target"),
        "symmetry": gancore.Slot("image-loss", default="symmetry", help="asymmetry of the output"),
        "identity": gancore.Slot("image-loss", default="feature", help="distance of recognition features"),
        "total_variation": gancore.Slot("image-loss", default="total-variation", help="roughness of the output"),
    }
    networks = {"generator": ("generator",), "critic": ("critic",)}
    needs_data_to_sample = True

    def __init__(
        self,
        *,
        generator: nn.Module,
        critic: nn.Module,
        loss: gancore.AdversarialLoss,
        pixel: gancore.ImageLoss,
        symmetry: gancore.ImageLoss,
        identity: gancore.ImageLoss,
        total_variation: gancore.ImageLoss,
        spec: gancore.DataSpec,
        pixel_weight: Weight = 1.0,
        symmetry_weight: Weight = 0.01,
        adversarial_weight: Weight = 0.01,
        identity_weight: Weight = 0.05,
        tv_weight: Weight = 0.001,
    ) -> None:
        super().__init__()
        if "source" not in spec.fields:
            raise ValueError(f"tp-gan needs paired data with a 'source' field; the data has {sorted(spec.fields)}")
        self.generator, self.critic, self.loss = generator, critic, loss
        # (log name, image loss, weight) of every term that is on
        self.terms = [
            (name, fn, weight)
            for name, fn, weight in (
                ("pixel", pixel, pixel_weight),
                ("symmetry", symmetry, symmetry_weight),
                ("identity", identity, identity_weight),
                ("total_variation", total_variation, tv_weight),
            )
            if weight > 0
        ]
        self.adversarial_weight = adversarial_weight
        self.paired = bool(getattr(critic, "paired", False))
        self.num_classes = None  # the source image conditions the output, not a label

    def _judged(self, source: Tensor, image: Tensor) -> Tensor:
        """What the critic sees: the (source, image) pair, or the image alone."""
        return torch.cat([source, image], dim=1) if self.paired else image

    def train_step(self, step: gancore.Step) -> dict[str, Tensor]:
        batch = step.batch()
        source, real = batch["source"], batch["x"]
        fake = self.generator(source)
        logs: dict[str, Tensor] = {}
        if self.adversarial_weight > 0:
            pair_real, pair_fake = self._judged(source, real), self._judged(source, fake)
            logs |= step.critic_update(self.loss, (self.critic, pair_real, pair_fake))

        total = fake.new_zeros(())
        for name, fn, weight in self.terms:
            # Every image loss takes (output, target); symmetry and TV read the output only.
            value = fn(fake, real)
            total = total + weight * value
            logs[f"loss_{name}"] = value.detach()
        if self.adversarial_weight > 0:
            adversarial = step.generator_loss(self.loss, self.critic, pair_fake, pair_real)
            total = total + self.adversarial_weight * adversarial
            logs["loss_generator"] = adversarial.detach()
        step.update("generator", total)
        logs["loss_total"] = total.detach()
        return logs
