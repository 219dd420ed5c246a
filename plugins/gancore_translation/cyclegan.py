"""CycleGAN (Zhu et al. 2017): unpaired translation between two image domains.

Two generators (A -> B and B -> A) and two critics, one per domain. With no pairs to
compare against, each translation must survive the round trip back (the cycle term), and
a generator given an image already in its target domain should leave it alone (the
identity term, which keeps colours and intensities from drifting). The critics see fakes
through a history pool, a mix of current and older outputs.
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field
from torch import Tensor, nn

import gancore

from .pool import HistoryPool

Weight = Annotated[float, Field(ge=0.0)]


class CycleGAN(gancore.Scheme):
    """CycleGAN: translate between the data's unpaired fields a and b with cycle and identity terms.

    Sample grids show a | G_ab(a) | G_ba(G_ab(a)) in their first half and
    b | G_ba(b) | G_ab(G_ba(b)) in their second.

    Args:
        cycle_weight: weight of the cycle-consistency terms (CycleGAN: 10)
        identity_weight: weight of the identity terms (CycleGAN: half the cycle weight; 0 turns them off)
        pool_size: fakes each critic's history pool keeps (CycleGAN: 50; 0 shows only the latest)
    """

    slots = {
        "generator_ab": gancore.Slot("generator", default="resnet", help="translates domain A to domain B"),
        "generator_ba": gancore.Slot("generator", default="resnet", help="translates domain B to domain A"),
        "critic_a": gancore.Slot("critic", default="patchgan", help="scores domain A images"),
        "critic_b": gancore.Slot("critic", default="patchgan", help="scores domain B images"),
        "loss": gancore.Slot("loss", default="least-squares", help="adversarial objectives"),
        "cycle": gancore.Slot("image-loss", default="cycle", help="distance of a round trip to the original"),
        "identity": gancore.Slot("image-loss", default="identity", help="distance of G(y) to y for y in G's target domain"),
    }
    networks = {"generator": ("generator_ab", "generator_ba"), "critic": ("critic_a", "critic_b")}
    needs_data_to_sample = True

    def __init__(
        self,
        *,
        generator_ab: nn.Module,
        generator_ba: nn.Module,
        critic_a: nn.Module,
        critic_b: nn.Module,
        loss: gancore.AdversarialLoss,
        cycle: gancore.ImageLoss,
        identity: gancore.ImageLoss,
        spec: gancore.DataSpec,
        cycle_weight: Weight = 10.0,
        identity_weight: Weight = 5.0,
        pool_size: Annotated[int, Field(ge=0, le=10_000)] = 50,
    ) -> None:
        super().__init__()
        missing = {"a", "b"} - set(spec.fields)
        if missing:
            raise ValueError(f"cyclegan needs unpaired data with fields 'a' and 'b'; the data has {sorted(spec.fields)}")
        shape_a, shape_b = tuple(spec.fields["a"]), tuple(spec.fields["b"])
        if identity_weight > 0 and shape_a[:1] != shape_b[:1]:
            raise ValueError(
                f"the identity terms feed each generator images of the other domain, which needs equal channels "
                f"(a: {shape_a}, b: {shape_b}); set identity_weight = 0"
            )
        self.generator_ab, self.generator_ba = generator_ab, generator_ba
        self.critic_a, self.critic_b = critic_a, critic_b
        self.loss, self.cycle, self.identity = loss, cycle, identity
        self.cycle_weight, self.identity_weight = cycle_weight, identity_weight
        self.pool_a = HistoryPool(pool_size, shape_a)
        self.pool_b = HistoryPool(pool_size, shape_b)
        self.num_classes = None

    def train_step(self, step: gancore.Step) -> dict[str, Tensor]:
        batch = step.batch()
        real_a, real_b = batch["a"], batch["b"]
        logs: dict[str, Tensor] = {}

        # Generators first, as CycleGAN does.
        fake_b = self.generator_ab(real_a)
        fake_a = self.generator_ba(real_b)
        adversarial = step.generator_loss(self.loss, self.critic_b, fake_b, real_b) + step.generator_loss(
            self.loss, self.critic_a, fake_a, real_a
        )
        cycle = self.cycle(self.generator_ba(fake_b), real_a) + self.cycle(self.generator_ab(fake_a), real_b)
        total = adversarial + self.cycle_weight * cycle
        if self.identity_weight > 0:
            identity = self.identity(self.generator_ab(real_b), real_b) + self.identity(self.generator_ba(real_a), real_a)
            total = total + self.identity_weight * identity
            logs["loss_identity"] = identity.detach()
        step.update("generator", total)

        # Critics, on fakes drawn through the history pools.
        pooled_a, pooled_b = self.pool_a(fake_a), self.pool_b(fake_b)
        logs |= step.critic_update(self.loss, (self.critic_a, real_a, pooled_a), (self.critic_b, real_b, pooled_b))
        return logs | {"loss_generator": adversarial.detach(), "loss_cycle": cycle.detach()}

    @torch.no_grad()
    def translate_ab(self, a: Tensor) -> Tensor:
        """Domain A images to domain B."""
        return self.generator_ab(a)

    @torch.no_grad()
    def translate_ba(self, b: Tensor) -> Tensor:
        """Domain B images to domain A."""
        return self.generator_ba(b)

    def sample(self, request: gancore.SampleRequest) -> Tensor:
        """``n`` round trips, each original | translation | reconstruction side by side."""
        a, b = request.source("a", "b")
        a, b = a[: (request.n + 1) // 2], b[: request.n // 2]
        ab, ba = self.translate_ab(a), self.translate_ba(b)
        a_rows = gancore.side_by_side(a, ab, self.translate_ba(ab))
        b_rows = gancore.side_by_side(b, ba, self.translate_ab(ba))
        return torch.cat([a_rows, b_rows])
