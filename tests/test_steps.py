"""The scheme-writing tools: frozen(), optimizer_step() and critic_update()."""

import pytest
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


def test_critic_update_sums_the_critics_losses_and_leaves_generators_alone():
    loss = gancore.build("loss", "hinge")
    torch.manual_seed(0)
    critics, generator = [nn.Linear(3, 1), nn.Linear(3, 1)], nn.Linear(3, 3)
    reals = [torch.randn(8, 3), torch.randn(8, 3)]
    fakes = [generator(torch.randn(8, 3)) for _ in critics]
    with torch.no_grad():
        expected_loss = sum(loss.critic(c(r), c(f)) for c, r, f in zip(critics, reals, fakes))
        expected_real = sum(c(r).mean() for c, r in zip(critics, reals)) / 2
        expected_fake = sum(c(f).mean() for c, f in zip(critics, fakes)) / 2
    # the same step written out by hand, on copies of the critics
    copies = [nn.Linear(3, 1) for _ in critics]
    for copy, critic in zip(copies, critics):
        copy.load_state_dict(critic.state_dict())
    by_hand = torch.optim.SGD([p for c in copies for p in c.parameters()], lr=0.1)
    gancore.optimizer_step(by_hand, sum(loss.critic(c(r), c(f.detach())) for c, r, f in zip(copies, reals, fakes)))

    opt = torch.optim.SGD([p for c in critics for p in c.parameters()], lr=0.1)
    logs = gancore.critic_update(loss, opt, *zip(critics, reals, fakes))
    assert logs["loss_critic"].item() == pytest.approx(expected_loss.item())
    assert logs["score_real"].item() == pytest.approx(expected_real.item())
    assert logs["score_fake"].item() == pytest.approx(expected_fake.item())
    for copy, critic in zip(copies, critics):
        assert torch.equal(copy.weight, critic.weight) and torch.equal(copy.bias, critic.bias)
    assert generator.weight.grad is None  # the fakes were detached
    with pytest.raises(ValueError, match="at least one"):
        gancore.critic_update(loss, opt)
