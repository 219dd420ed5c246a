"""A history of generated images for the critic (Shrivastava et al. 2017; CycleGAN).

Showing the critic a mix of current and older fakes keeps it from chasing only the
generator's latest output, which damps oscillation. The rule, per image in order: while
the pool is filling, store the image and return it; once full, with probability 1/2
return a random stored image and put the new one in its place, otherwise return the new
image.

The pool lives in registered buffers (the images and the fill count), so checkpoints hold
it, and it draws from the global torch RNG, which checkpoints also hold: a resumed run
sees the same history as a straight one. A batch is handled with tensor operations only
(no host sync), with exactly the result of applying the rule image by image.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class HistoryPool(nn.Module):
    """``pool(fakes)`` returns as many images, some replaced by older fakes."""

    # Buffers, registered in __init__.
    images: Tensor
    count: Tensor

    def __init__(self, size: int, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, *shape))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def forward(self, fakes: Tensor) -> Tensor:
        if self.size == 0:
            return fakes
        n, device = fakes.shape[0], fakes.device
        fakes = fakes.detach().to(self.images.dtype)
        # Draws of the same size every call, so the RNG stream does not depend on the fill.
        take_old = torch.rand(n, device=device) < 0.5
        slot = torch.randint(0, self.size, (n,), device=device)

        order = torch.arange(n, device=device)
        position = self.count + order
        filling = position < self.size  # a prefix of the batch: all filling precedes all swapping
        swap = take_old & ~filling

        # One spare row past the end receives the writes of images that are not stored.
        spare = torch.full_like(order, self.size)
        pool = torch.cat([self.images, self.images.new_zeros(1, *self.images.shape[1:])])
        pool.index_copy_(0, torch.where(filling, position, spare), fakes)

        # Swapping image j returns what slot[j] holds when its turn comes: the latest
        # earlier swapper into the same slot, if any, else the slot's content after filling.
        same_slot = (slot[:, None] == slot[None, :]) & swap[None, :] & (order[None, :] < order[:, None])
        latest_earlier = torch.where(same_slot, order[None, :], -1).amax(dim=1)
        from_batch = latest_earlier >= 0
        old = torch.where(_expand(from_batch, fakes), fakes[latest_earlier.clamp(min=0)], pool[slot])
        out = torch.where(_expand(swap, fakes), old, fakes)

        # The last swapper into a slot is the one whose image stays there.
        later_same = (slot[:, None] == slot[None, :]) & swap[None, :] & (order[None, :] > order[:, None])
        stays = swap & ~later_same.any(dim=1)
        pool.index_copy_(0, torch.where(stays, slot, spare), fakes)

        self.images.copy_(pool[: self.size])
        self.count.copy_((self.count + n).clamp(max=self.size))
        return out


def _expand(mask: Tensor, like: Tensor) -> Tensor:
    """A per-image mask (N,) broadcast over the image dimensions of ``like``."""
    return mask.view(-1, *([1] * (like.dim() - 1))).expand_as(like)
