"""The GAN updates a user writes by hand (from the PyTorch DCGAN example; R3GAN's from its
authors' code), shared by the hand-written loops that benchmarks/mnist_fid.py and
benchmarks/speed.py measure gancore against."""

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


def hand_written_r3gan_step(G: nn.Module, D: nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                            real: torch.Tensor, z: torch.Tensor, gamma: float, every: int = 1,
                            regularize: bool = True) -> None:
    """R3GAN's update (Huang et al. 2024) as its authors' code writes it: the relativistic
    pairing loss, with R1 and R2 (gamma / 2 times the mean squared gradient norm on real and
    on generated samples) differentiated from the same critic passes as the loss; then one
    generator step reusing the fake, against the critic's scores of the real batch.

    With lazy regularization (``every`` = k > 1, StyleGAN2's loop): the critic's update
    without the penalties and, where ``regularize`` (every k-th step), one more update of k
    times the penalties, on critic passes of their own (``opt_d`` then has StyleGAN2's
    adjusted rate and betas)."""
    fake = G(z)
    if every == 1:
        real_in, fake_in = real.detach().requires_grad_(True), fake.detach().requires_grad_(True)
        d_real, d_fake = D(real_in), D(fake_in)
        loss_d = F.softplus(d_fake - d_real).mean() + 0.5 * gamma * _penalties(d_real, d_fake, real_in, fake_in)
    else:
        d_real, d_fake = D(real), D(fake.detach())
        loss_d = F.softplus(d_fake - d_real).mean()
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    if every > 1 and regularize:
        real_in, fake_in = real.detach().requires_grad_(True), fake.detach().requires_grad_(True)
        loss_reg = every * 0.5 * gamma * _penalties(D(real_in), D(fake_in), real_in, fake_in)
        opt_d.zero_grad()
        loss_reg.backward()
        opt_d.step()
    with torch.no_grad():
        d_real = D(real)
    d_fake = D(fake)
    loss_g = F.softplus(d_real - d_fake).mean()
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()


def _penalties(d_real: torch.Tensor, d_fake: torch.Tensor, real_in: torch.Tensor, fake_in: torch.Tensor) -> torch.Tensor:
    """R1 + R2 without gamma / 2: the mean squared norms of the critic's input gradients,
    kept differentiable (one backward pass for both)."""
    grad_real, grad_fake = torch.autograd.grad((d_real.sum(), d_fake.sum()), (real_in, fake_in), create_graph=True)
    return grad_real.square().flatten(1).sum(1).mean() + grad_fake.square().flatten(1).sum(1).mean()
