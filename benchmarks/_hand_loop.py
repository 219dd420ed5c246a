"""The GAN update a user writes by hand from the PyTorch DCGAN example, shared by the
hand-written loops that benchmarks/mnist_fid.py and benchmarks/speed.py measure gancore against."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def hand_written_step(G: nn.Module, D: nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                      real: torch.Tensor, z: torch.Tensor) -> None:
    """One critic step on ``real`` and the detached fake, then one generator step reusing the
    fake, both with the non-saturating (BCE) loss."""
    fake = G(z)
    d_real, d_fake = D(real), D(fake.detach())
    loss_d = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) + \
        F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    d_fake = D(fake)
    loss_g = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
