"""CycleGAN (Zhu et al. 2017): unpaired translation between two image domains.

Two generators (A -> B and B -> A) and two critics, one per domain. With no pairs to
compare against, each translation must survive the round trip back (the cycle term), and
a generator given an image already in its target domain should leave it alone (the
identity term, which keeps colours and intensities from drifting). The critics see fakes
through a history pool, a mix of current and older outputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import torch
from pydantic import Field
from torch import Tensor, nn

import gancore

from .pool import HistoryPool
from .side_by_side import side_by_side

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
    groups = ("generator", "critic")
    ema_networks = ("generator_ab", "generator_ba")
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
        pool_size: Annotated[int, Field(ge=0)] = 50,
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

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        return {
            "generator": [*self.generator_ab.parameters(), *self.generator_ba.parameters()],
            "critic": [*self.critic_a.parameters(), *self.critic_b.parameters()],
        }

    def _adversarial(self, critic: nn.Module, fake: Tensor, real: Tensor) -> Tensor:
        real_scores = None
        if self.loss.needs_real_in_generator_step:
            with torch.no_grad():
                real_scores = critic(real)
        return self.loss.generator(critic(fake), real_scores)

    def train_step(
        self, batches: gancore.Batches, optimizers: Mapping[str, torch.optim.Optimizer], step: int
    ) -> dict[str, Tensor]:
        batch = batches.next()
        real_a, real_b = batch["a"], batch["b"]
        logs: dict[str, Tensor] = {}

        # Generators first (as CycleGAN does), with the critics' weights frozen.
        with gancore.frozen(self.critic_a, self.critic_b):
            fake_b = self.generator_ab(real_a)
            fake_a = self.generator_ba(real_b)
            adversarial = self._adversarial(self.critic_b, fake_b, real_b) + self._adversarial(self.critic_a, fake_a, real_a)
            cycle = self.cycle(self.generator_ba(fake_b), real_a) + self.cycle(self.generator_ab(fake_a), real_b)
            total = adversarial + self.cycle_weight * cycle
            if self.identity_weight > 0:
                identity = self.identity(self.generator_ab(real_b), real_b) + self.identity(self.generator_ba(real_a), real_a)
                total = total + self.identity_weight * identity
                logs["loss_identity"] = identity.detach()
            gancore.optimizer_step(optimizers["generator"], total)

        # Critics, on fakes drawn through the history pools.
        pooled_a, pooled_b = self.pool_a(fake_a), self.pool_b(fake_b)
        logs |= gancore.critic_update(
            self.loss, optimizers["critic"], (self.critic_a, real_a, pooled_a), (self.critic_b, real_b, pooled_b)
        )
        logs["loss_generator"] = adversarial.detach()
        logs["loss_cycle"] = cycle.detach()
        return logs

    @torch.no_grad()
    def translate_ab(self, a: Tensor, networks: Mapping[str, nn.Module] | None = None) -> Tensor:
        """Domain A images to domain B (the EMA copy when ``networks`` has one)."""
        return self.network("generator_ab", networks)(a)

    @torch.no_grad()
    def translate_ba(self, b: Tensor, networks: Mapping[str, nn.Module] | None = None) -> Tensor:
        """Domain B images to domain A (the EMA copy when ``networks`` has one)."""
        return self.network("generator_ba", networks)(b)

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
        """``n`` round trips, each original | translation | reconstruction side by side."""
        if batch is None:
            raise ValueError("cyclegan samples by translating data: pass batch (a dict with a and b)")
        device = next(self.generator_ab.parameters()).device
        a = batch["a"][: (n + 1) // 2].to(device)
        b = batch["b"][: n // 2].to(device)
        ab = self.translate_ab(a, networks)
        ba = self.translate_ba(b, networks)
        a_rows = side_by_side(a, ab, self.translate_ba(ab, networks))
        b_rows = side_by_side(b, ba, self.translate_ab(ba, networks))
        return torch.cat([a_rows, b_rows])
