"""Adaptive discriminator augmentation (ADA, Karras et al. 2020): each transform applies
to a sample with probability p, and p follows the critic's overfitting.

The heuristic r_t = E[sign(D(real))] is near 0 while the critic cannot tell training
images from generated ones and near 1 when it has learnt the training images by heart.
Every ``interval`` critic updates p moves by ``sign(r_t - target) * images / speed``
(images: those seen since the last move), so that r_t stays near ``target``. p, and the
sums it moves by, are buffers: the checkpoint holds them and a resume is exact.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.distributed as dist
from pydantic import Field
from torch import Tensor

import gancore

from .diffaugment import Policy, images_only
from .ops import TRANSFORMS


class ADA(gancore.Augment):
    """ADA (Karras et al. 2020): each transform applied with a probability p that follows the critic's overfitting.

    Args:
        target: the overfitting measure r_t = E[sign(D(real))] that p is steered to keep (0.6 in the paper)
        speed: images for p to move from 0 to 1 at the most (500,000 in the paper; smaller adapts faster)
        interval: critic updates between adjustments of p (4 in the paper)
        initial: p at the start of training
        maximum: the largest p (below 1 keeps leaking transforms such as flips off some samples)
        policy: the transforms, each applied to a sample with probability p: color, translation, cutout, flip
    """

    supports = staticmethod(images_only)

    # Buffers, registered in __init__.
    p: Tensor
    signs: Tensor
    seen: Tensor
    updates: Tensor

    def __init__(
        self,
        target: Annotated[float, Field(gt=0, lt=1)] = 0.6,
        speed: Annotated[int, Field(ge=1)] = 500_000,
        interval: Annotated[int, Field(ge=1, le=1000)] = 4,
        initial: Annotated[float, Field(ge=0, le=1)] = 0.0,
        maximum: Annotated[float, Field(gt=0, le=1)] = 1.0,
        policy: Policy = ["color", "translation", "cutout"],
        *,
        spec: gancore.DataSpec,
        random: gancore.Random = gancore.Random(),
    ) -> None:
        super().__init__()
        self.random = random
        if not spec.is_image:
            raise ValueError(f"ada augments images (C x H x W), got samples of shape {spec.shape}")
        if initial > maximum:
            raise ValueError(f"initial ({initial}) must not exceed maximum ({maximum})")
        self.target, self.speed, self.interval, self.maximum = target, speed, interval, maximum
        self.policy = [name for name in TRANSFORMS if name in policy]
        self.register_buffer("p", torch.tensor(float(initial)))
        # Since the last adjustment: the sum of sign(D(real)), the scores seen, the updates.
        self.register_buffer("signs", torch.tensor(0.0))
        self.register_buffer("seen", torch.tensor(0.0))
        self.register_buffer("updates", torch.tensor(0))

    def forward(self, x: Tensor) -> Tensor:
        for name in self.policy:
            apply = self.random.rand(x.shape[0], device=x.device) < self.p
            x = TRANSFORMS[name](x, self.random, apply)
        return x

    @torch.no_grad()
    def observe(self, real_scores: Tensor) -> None:
        sums = torch.stack([real_scores.float().sign().sum(), torch.tensor(float(real_scores.numel()), device=real_scores.device)])
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            dist.all_reduce(sums)  # every process steers the same p from the whole batch
        self.signs += sums[0]
        self.seen += sums[1]
        self.updates += 1
        # Adjust when due, without asking the host (no sync in the training step).
        due = self.updates >= self.interval
        r_t = self.signs / self.seen.clamp(min=1)
        moved = (self.p + torch.sign(r_t - self.target) * self.seen / self.speed).clamp(0.0, self.maximum)
        self.p.copy_(torch.where(due, moved, self.p))
        for buffer in (self.signs, self.seen):
            buffer.copy_(torch.where(due, torch.zeros_like(buffer), buffer))
        self.updates.copy_(torch.where(due, torch.zeros_like(self.updates), self.updates))

    def logs(self) -> dict[str, Tensor]:
        return {"ada_p": self.p.detach().clone()}
