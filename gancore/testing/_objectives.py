"""Contracts of the objectives: adversarial losses, regularizers, image losses, normalizations."""

from __future__ import annotations

import copy as copy_module
from collections.abc import Callable

import torch
from torch import Tensor, nn

from .._parts import AdversarialLoss, DataSpec, ImageLoss, Normalization, Regularizer
from ._networks import check_gradients
from ._contract import accepts, expect


def _scalar(value: object, label: str, what: str) -> Tensor:
    expect(isinstance(value, Tensor), label, f"{what} returned {type(value).__name__}, not a tensor")
    assert isinstance(value, Tensor)
    expect(value.dim() == 0, label, f"{what} returned shape {tuple(value.shape)}, not a scalar: average over the batch")
    expect(torch.isfinite(value), label, f"{what} is not finite")
    return value


def _scores(n: int, generator: torch.Generator) -> Tensor:
    # Scores near 0.25, where every common loss is strictly monotone in each score
    # (inside the hinge margins, below the least-squares targets).
    return (0.25 + 0.05 * torch.randn(n, generator=generator, dtype=torch.float64)).requires_grad_()


def check_loss(loss: AdversarialLoss, *, label: str = "loss") -> None:
    """Scalar, finite objectives for real and fake scores of one length, which is what
    every scheme passes (a packed critic gives fewer of both); the critic's falls as real
    scores rise and fake scores fall, the generator's falls as fake scores rise."""
    expect(isinstance(loss, AdversarialLoss), label, f"is a {type(loss).__name__}, not a gancore.AdversarialLoss")
    g = torch.Generator().manual_seed(0)
    for n_real, n_fake in ((8, 8), (4, 4)):
        real, fake = _scores(n_real, g), _scores(n_fake, g)
        d_real, d_fake = torch.autograd.grad(_scalar(loss.critic(real, fake), label, "critic(real, fake)"), (real, fake),
                                             allow_unused=True)
        expect(d_real is not None and d_real.sum() < 0, label, "the critic loss does not fall as the real scores rise")
        expect(d_fake is not None and d_fake.sum() > 0, label, "the critic loss does not fall as the fake scores fall")
        real, fake = _scores(n_real, g), _scores(n_fake, g)
        given = real if loss.needs_real_in_generator_step else None
        (d_gen,) = torch.autograd.grad(_scalar(loss.generator(fake, given), label, "generator(fake, real)"), (fake,))
        expect(d_gen.sum() < 0, label, "the generator loss does not fall as the fake scores rise")


class _PointCritic(nn.Module):
    """A small nonlinear critic over flattened samples, optionally packing ``pack`` of them."""

    def __init__(self, features: int, pack: int = 1) -> None:
        super().__init__()
        self.pack = pack
        self.net = nn.Sequential(nn.Linear(features * pack, 16), nn.Tanh(), nn.Linear(16, 1))

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        score: Tensor = self.net(x.reshape(x.shape[0] // self.pack, -1))
        return score.squeeze(1)


def check_regularizer(regularizer: Regularizer, *, label: str = "regularizer") -> None:
    """A penalty is a finite scalar whose gradient reaches the critic (points, images and
    a packed critic); a constraint changes the critic's weights in place, keeping the
    same parameter objects. A regularizer must do at least one of the two."""
    expect(isinstance(regularizer, Regularizer), label, f"is a {type(regularizer).__name__}, not a gancore.Regularizer")
    torch.manual_seed(0)
    acted = False
    cases = [(shape, pack) for shape, pack in (((2,), 1), ((1, 8, 8), 1), ((2,), 2))
             if accepts(type(regularizer), DataSpec(shape, fields={"x": shape}))]
    expect(bool(cases), label, "supports neither points nor images")
    for shape, pack in cases:
        critic = _PointCritic(int(torch.Size(shape).numel()), pack)
        real, fake = torch.randn(8, *shape), torch.randn(8, *shape)
        real_scores, fake_scores = critic(real), critic(fake)
        scored = regularizer.score_penalty(real_scores, fake_scores)
        if scored is not None:
            _scalar(scored, label, "score_penalty(real_scores, fake_scores)")
            expect(scored.requires_grad, label, "the score penalty has no gradient to the critic's scores")
            scored.backward()
            acted = True
        critic.zero_grad()
        penalty = regularizer.penalty(critic, real, fake)
        if penalty is not None:
            _scalar(penalty, label, "penalty(critic, real, fake)")
            expect(penalty.requires_grad, label, "the penalty has no gradient to the critic")
            penalty.backward()
            reached = any(p.grad is not None and p.grad.abs().sum() > 0 for p in critic.parameters())
            expect(reached, label, "the penalty's gradient reaches none of the critic's weights")
            acted = True
        before = [(p, p.detach().clone()) for p in critic.parameters()]
        with torch.no_grad():
            for p in critic.parameters():
                p.mul_(50.0)  # weights large enough for any constraint to bite
        scaled = [p.detach().clone() for p in critic.parameters()]
        returned = regularizer.after_critic_step(critic)
        expect(returned is None, label, "after_critic_step must change the critic in place and return None")
        after = list(critic.parameters())
        expect(len(after) == len(before) and all(a is b for a, (b, _) in zip(after, before)), label,
               "after_critic_step replaced the critic's parameters; constrain them in place")
        expect(all(torch.isfinite(p).all() for p in after), label, "after_critic_step left non-finite weights")
        acted = acted or any(not torch.equal(p.detach(), s) for p, s in zip(after, scaled))
    expect(acted, label, "gives no penalty and leaves the weights alone: it does nothing")


def check_image_loss(loss: ImageLoss, *, label: str = "image-loss") -> None:
    """A finite, non-negative scalar from a batch of outputs and their targets, with a
    gradient to the output (a distance, or a prior on the output alone such as total
    variation)."""
    expect(callable(loss), label, "is not callable as loss(output, target)")
    g = torch.Generator().manual_seed(0)
    target = torch.rand(4, 1, 28, 28, generator=g) * 2 - 1
    output = (torch.rand(4, 1, 28, 28, generator=g) * 2 - 1).requires_grad_()
    value = _scalar(loss(output, target), label, "loss(output, target)")
    expect(value >= 0, label, f"the distance is negative ({float(value.detach()):.4g})")
    (grad,) = torch.autograd.grad(value, output, allow_unused=True)
    expect(grad is not None and grad.abs().sum() > 0, label, "no gradient reaches the output")


class _Probe(nn.Module):
    """Conv and linear layers built through a normalization's two hooks."""

    def __init__(self, norm: Normalization) -> None:
        super().__init__()
        self.body = nn.Sequential(
            norm.wrap(nn.Conv2d(3, 8, 3, padding=1)), norm.layer(8, spatial=True), nn.LeakyReLU(0.2),
            norm.wrap(nn.ConvTranspose2d(8, 8, 4, stride=2, padding=1)), norm.layer(8, spatial=True), nn.LeakyReLU(0.2),
            nn.Flatten(), norm.wrap(nn.Linear(8 * 16 * 16, 16)), norm.layer(16, spatial=False), nn.LeakyReLU(0.2),
            nn.Linear(16, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        score: Tensor = self.body(x)
        return score


def check_normalization(norm: Normalization, *, label: str = "normalization") -> None:
    """``layer`` gives a module for flat and spatial features, ``wrap`` a layer of the same
    kind; a network built through both trains (gradients to every parameter) and runs in
    eval mode."""
    expect(isinstance(norm, Normalization), label, f"is a {type(norm).__name__}, not a gancore.Normalization")
    for features, spatial in ((8, True), (16, False)):
        layer = norm.layer(features, spatial=spatial)
        expect(isinstance(layer, nn.Module), label, f"layer({features}, spatial={spatial}) is not a torch.nn.Module")
    for make in (lambda: nn.Linear(4, 3), lambda: nn.Conv2d(2, 3, 3)):
        original = make()
        wrapped = norm.wrap(original)
        expect(isinstance(wrapped, type(original)), label,
               f"wrap({type(original).__name__}) returned a {type(wrapped).__name__}: return the layer, reparametrised")
    torch.manual_seed(0)
    probe = _Probe(norm)
    out = probe(torch.randn(4, 3, 8, 8))
    expect(out.shape == (4, 1) and torch.isfinite(out).all(), label, "a network built with it gives non-finite outputs")
    out.sum().backward()
    check_gradients(probe, label)
    probe.eval()
    with torch.no_grad():
        expect(torch.isfinite(probe(torch.randn(4, 3, 8, 8))).all(), label, "eval mode gives non-finite outputs")


def check_optimizer(make: Callable[[list[nn.Parameter]], torch.optim.Optimizer], *, label: str = "optimizer") -> None:
    """``make(parameters)`` gives a ``torch.optim.Optimizer`` over exactly those weights,
    with an ``lr`` in every group (schedules scale it); its steps lower a quadratic; and
    one restored from its ``state_dict`` takes the very step the original takes (resume)."""

    def quadratic() -> tuple[nn.Parameter, Tensor]:
        torch.manual_seed(0)
        return nn.Parameter(torch.randn(8, dtype=torch.float64) * 3), torch.randn(8, dtype=torch.float64)

    def loss(w: Tensor, target: Tensor) -> Tensor:
        return (w - target).pow(2).sum()

    w, target = quadratic()
    opt = make([w])
    expect(isinstance(opt, torch.optim.Optimizer), label, f"built a {type(opt).__name__}, not a torch.optim.Optimizer")
    owned = [p for g in opt.param_groups for p in g["params"]]
    expect(len(owned) == 1 and owned[0] is w, label, "does not optimise exactly the weights it was given")
    expect(all(isinstance(g.get("lr"), float) and g["lr"] > 0 for g in opt.param_groups), label,
           "its parameter groups need a positive float 'lr' (learning-rate schedules scale it)")
    start = float(loss(w, target).detach())
    for _ in range(20):
        opt.zero_grad()
        loss(w, target).backward()
        opt.step()
    end = float(loss(w, target).detach())  # a value to compare, not a graph: no autograd warning
    expect(end < start, label, f"20 steps did not lower a quadratic ({start:.4g} -> {end:.4g})")
    copy = nn.Parameter(w.detach().clone())
    restored = make([copy])
    restored.load_state_dict(copy_module.deepcopy(opt.state_dict()))  # as if read back from a file
    for p, o in ((w, opt), (copy, restored)):
        o.zero_grad()
        loss(p, target).backward()
        o.step()
    expect(torch.equal(w, copy), label, "an optimizer restored from its state_dict steps differently: resume would not be exact")
