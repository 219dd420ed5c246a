"""Finding the latent codes a trained generator reproduces given images with: gradient
descent on the codes alone (Adam, from several random starts at once), the closest
reconstruction of each image kept. The ``reconstruction`` metric scores a generator with
it; ``gancore project`` saves the codes, to sample and edit from."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ._evaluate import LatentGenerator


@dataclass(frozen=True)
class Projection:
    """Per image: the best code found (``codes``, N x latent_dim, on the CPU) and the
    squared distance of its reconstruction to the image, summed over pixels
    (``distances``, N)."""

    codes: Tensor
    distances: Tensor


def project(generator: LatentGenerator, images: Tensor, *, steps: int, restarts: int, lr: float,
            random: torch.Generator) -> Projection:
    """Codes for ``images`` (N x sample shape, in the generator's range): ``restarts``
    starting codes per image drawn from ``random`` (standard normal, on the CPU, so the
    same on every device), each optimised for ``steps`` Adam steps of learning rate ``lr``
    on its own squared distance to its image; the closest of each image's codes counts.
    The generator's weights are left untouched."""
    n, k = images.shape[0], restarts
    target = images.to(generator.device).repeat(k, *([1] * (images.dim() - 1)))  # restart-major
    z = torch.randn(k * n, generator.latent_dim, generator=random).to(generator.device).requires_grad_()
    optimizer = torch.optim.Adam([z], lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            # Each code's own distance: summing them keeps every code's gradient its own.
            # Only the codes are optimised, never a weight: a search, not a training update.
            distance = (generator(z) - target).pow(2).flatten(1).sum(1)
            (z.grad,) = torch.autograd.grad(distance.sum(), z)
            optimizer.step()
    with torch.no_grad():
        final = (generator(z.detach()) - target).pow(2).flatten(1).sum(1).view(k, n)
    best, which = final.min(0)
    codes = z.detach().view(k, n, -1)[which, torch.arange(n, device=which.device)]
    return Projection(codes.cpu(), best.cpu())
