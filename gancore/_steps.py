"""Small tools for writing a scheme's training step, so every scheme does these alike."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from ._parts import AdversarialLoss


@contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """No parameter gradients for ``modules`` inside the block: a critic during the
    generator's update still passes gradients to its input, but computes none for its own
    weights (work a hand-written loop usually wastes)."""
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def optimizer_step(optimizer: torch.optim.Optimizer, loss: Tensor) -> None:
    """Clear the gradients, backpropagate ``loss``, and step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def critic_update(
    loss: AdversarialLoss, optimizer: torch.optim.Optimizer, *judged: tuple[nn.Module, Tensor, Tensor]
) -> dict[str, Tensor]:
    """One step for critics that each judge their own real and generated samples, given as
    ``(critic, real, fake)`` triples (the two domain critics of a translation scheme).

    The critics' losses are summed into one backward pass; ``fake`` is detached here.
    Returns the logs: ``loss_critic`` and ``score_real`` / ``score_fake``, the mean scores
    averaged over the critics.
    """
    total: Tensor | None = None
    real_means, fake_means = [], []
    for critic, real, fake in judged:
        real_scores, fake_scores = critic(real), critic(fake.detach())
        term = loss.critic(real_scores, fake_scores)
        total = term if total is None else total + term
        real_means.append(real_scores.detach().mean())
        fake_means.append(fake_scores.detach().mean())
    if total is None:
        raise ValueError("critic_update needs at least one (critic, real, fake) triple")
    optimizer_step(optimizer, total)
    return {
        "loss_critic": total.detach(),
        "score_real": torch.stack(real_means).mean(),
        "score_fake": torch.stack(fake_means).mean(),
    }
