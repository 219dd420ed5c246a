"""The scheme-writing tools: frozen() and optimizer_step()."""

import torch
from torch import nn

import gancore


def test_frozen_critic_passes_input_gradients_only():
    critic, x = nn.Linear(3, 1), torch.randn(4, 3, requires_grad=True)
    with gancore.frozen(critic):
        critic(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert critic.weight.grad is None
    assert all(p.requires_grad for p in critic.parameters())  # restored afterwards


def test_frozen_restores_after_an_error_and_keeps_frozen_params_frozen():
    net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    net[0].weight.requires_grad_(False)
    try:
        with gancore.frozen(net):
            raise RuntimeError
    except RuntimeError:
        pass
    assert not net[0].weight.requires_grad and net[1].weight.requires_grad


def test_optimizer_step_updates_and_clears():
    layer = nn.Linear(2, 1)
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    before = layer.weight.detach().clone()
    layer.weight.grad = torch.full_like(layer.weight, 100.0)  # stale gradient must not leak in
    loss = layer(torch.ones(1, 2)).sum()
    gancore.optimizer_step(opt, loss)
    assert torch.allclose(layer.weight.detach(), before - 0.1)
