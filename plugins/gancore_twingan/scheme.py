"""Twin-GAN (Li 2018): unpaired translation with one encoder and one decoder shared by two domains.

Domain A is the data's field ``a`` and domain B its field ``b``. The generator's
convolutions are shared; its per-domain batch norms decide which domain it reads
(``encode(x, domain)``) and which it renders (``decode(h, domain)``). One generator step
adds four terms:

- reconstruction in each domain: a -> latent -> A is pulled to a by the image loss
  (L1) and judged by critic A, likewise for b with critic B;
- translation: a -> latent -> B is judged by critic B, b -> latent -> A by critic A;
- cycle consistency: a -> B -> A comes back to a, b -> A -> B to b (L1).

Each critic then scores its domain's real images against both kinds of fakes it has
seen (reconstructions and translations).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Annotated, Protocol

import torch
from pydantic import Field
from torch import Tensor, nn

import gancore

if TYPE_CHECKING:
    from typing_extensions import TypeIs

Weight = Annotated[float, Field(ge=0.0)]
DOMAIN_A, DOMAIN_B = 0, 1


class _EncoderDecoder(Protocol):
    """What the scheme calls on its generator besides the module itself (the ``twin``
    generator's methods; under DDP its wrapper passes them on)."""

    def encode(self, x: Tensor, domain: int) -> Tensor: ...

    def decode(self, h: Tensor, domain: int) -> Tensor: ...

    def translate(self, x: Tensor, source: int, target: int) -> Tensor: ...


def _encodes_and_decodes(generator: object) -> TypeIs[_EncoderDecoder]:
    """Whether ``generator`` has the ``encode``, ``decode`` (training) and ``translate``
    (sampling) methods the scheme calls: a generator without one fails here, not at the
    first sample grid."""
    return all(callable(getattr(generator, name, None)) for name in ("encode", "decode", "translate"))


class TwinGAN(gancore.Scheme):
    """Twin-GAN: shared encoder/decoder switched between domains a and b by per-domain batch norms.

    Sample grids show, per row, a | a->B | b | b->A.

    Args:
        reconstruction_weight: weight of the image loss between each domain's reconstruction and its input
        cycle_weight: weight of the cycle terms a -> B -> A vs a and b -> A -> B vs b
        translation_gan_weight: weight of the critics' verdict on the cross-domain translations
        reconstruction_gan_weight: weight of the critics' verdict on the same-domain reconstructions
    """

    slots = {
        "generator": gancore.Slot("generator", default="twin", help="shared encoder/decoder with encode(x, d) and decode(h, d)"),
        "critic_a": gancore.Slot("critic", default="dcgan", help="scores domain A images"),
        "critic_b": gancore.Slot("critic", default="dcgan", help="scores domain B images"),
        "loss": gancore.Slot("loss", default="least-squares", help="adversarial objectives"),
        "reconstruction": gancore.Slot("image-loss", default="l1", help="distance of a same-domain reconstruction to its input"),
        "cycle": gancore.Slot("image-loss", default="cycle", help="distance of a round trip to the original"),
    }
    networks = {"generator": ("generator",), "critic": ("critic_a", "critic_b")}
    needs_data_to_sample = True

    def __init__(
        self,
        *,
        generator: nn.Module,
        critic_a: nn.Module,
        critic_b: nn.Module,
        loss: gancore.AdversarialLoss,
        reconstruction: gancore.ImageLoss,
        cycle: gancore.ImageLoss,
        spec: gancore.DataSpec,
        reconstruction_weight: Weight = 10.0,
        cycle_weight: Weight = 10.0,
        translation_gan_weight: Weight = 1.0,
        reconstruction_gan_weight: Weight = 1.0,
    ) -> None:
        super().__init__()
        missing = {"a", "b"} - set(spec.fields)
        if missing:
            raise ValueError(f"twin-gan needs unpaired data with fields 'a' and 'b'; the data has {sorted(spec.fields)}")
        if tuple(spec.fields["a"]) != tuple(spec.fields["b"]):
            raise ValueError(f"twin-gan shares one decoder between the domains, so a and b need one shape "
                             f"(a: {tuple(spec.fields['a'])}, b: {tuple(spec.fields['b'])})")
        if not _encodes_and_decodes(generator):
            raise ValueError("the twin-gan generator needs encode(x, domain), decode(h, domain) and "
                             "translate(x, source, target) methods (use the 'twin' generator)")
        if getattr(generator, "domains", 2) < 2:
            raise ValueError("the twin-gan generator needs at least two domains")
        self.generator, self.critic_a, self.critic_b = generator, critic_a, critic_b
        self.loss, self.reconstruction, self.cycle = loss, reconstruction, cycle
        self.reconstruction_weight, self.cycle_weight = reconstruction_weight, cycle_weight
        self.translation_gan_weight, self.reconstruction_gan_weight = translation_gan_weight, reconstruction_gan_weight
        self.num_classes = None

    def train_step(self, step: gancore.Step) -> dict[str, Tensor]:
        batch = step.batch()
        a, b = batch["a"], batch["b"]
        G, fool = self.generator, partial(step.generator_loss, self.loss)

        # Generator step. Each encode/decode runs on one domain's batch alone, so every
        # domain's batch norms see only their own domain.
        h_a, h_b = G.encode(a, DOMAIN_A), G.encode(b, DOMAIN_B)
        rec_a, rec_b = G.decode(h_a, DOMAIN_A), G.decode(h_b, DOMAIN_B)
        ab, ba = G.decode(h_a, DOMAIN_B), G.decode(h_b, DOMAIN_A)
        aba = G.decode(G.encode(ab, DOMAIN_B), DOMAIN_A)
        bab = G.decode(G.encode(ba, DOMAIN_A), DOMAIN_B)

        reconstruction = self.reconstruction(rec_a, a) + self.reconstruction(rec_b, b)
        cycle = self.cycle(aba, a) + self.cycle(bab, b)
        gan_translation = fool(self.critic_b, ab, b) + fool(self.critic_a, ba, a)
        gan_reconstruction = fool(self.critic_a, rec_a, a) + fool(self.critic_b, rec_b, b)
        step.update(
            "generator",
            self.reconstruction_weight * reconstruction
            + self.cycle_weight * cycle
            + self.translation_gan_weight * gan_translation
            + self.reconstruction_gan_weight * gan_reconstruction,
        )

        # Critic step: each domain's real images against its reconstructions and translations.
        logs = step.critic_update(
            self.loss, (self.critic_a, a, torch.cat([rec_a, ba])), (self.critic_b, b, torch.cat([rec_b, ab]))
        )
        return logs | {
            "loss_generator": gan_translation.detach(),
            "loss_gan_reconstruction": gan_reconstruction.detach(),
            "loss_reconstruction": reconstruction.detach(),
            "loss_cycle": cycle.detach(),
        }

    # -- using the trained generator ----------------------------------------------------

    @torch.no_grad()
    def translate_ab(self, a: Tensor) -> Tensor:
        """Domain A images to domain B."""
        return self.generator.translate(a, DOMAIN_A, DOMAIN_B)

    @torch.no_grad()
    def translate_ba(self, b: Tensor) -> Tensor:
        """Domain B images to domain A."""
        return self.generator.translate(b, DOMAIN_B, DOMAIN_A)

    def sample(self, request: gancore.SampleRequest) -> Tensor:
        """``n`` tiles, each a | a->B | b | b->A side by side (N x C x H x 4W)."""
        a, b = request.source("a", "b")
        return torch.cat([a, self.translate_ab(a), b, self.translate_ba(b)], dim=-1).float()
