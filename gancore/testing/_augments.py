"""The contract of an augmentation: what the engine relies on when it hooks one onto a critic."""

from __future__ import annotations

import copy

import torch

from .._parts import Augment
from .._parts import DataSpec
from ._report import expect, fail


def check_augment(augment: Augment, spec: DataSpec, *, label: str = "augment") -> None:
    """On a batch of ``spec``'s samples: the same shape and dtype out, finite, the input
    left as it was, differentiable (the generator learns through it), repeatable under the
    same seed, and not the identity, at once or once its critic overfits (an adaptive
    augmentation starts as the identity; the kit shows it positive scores until it acts).
    Its state survives ``state_dict`` / ``load_state_dict``; ``logs`` are 0-d tensors."""
    expect(isinstance(augment, Augment), label, f"is a {type(augment).__name__}, not a gancore.Augment")
    augment.train()
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(8, *spec.shape, generator=g) * 2 - 1).requires_grad_()
    before = x.detach().clone()

    def run(inputs: torch.Tensor) -> torch.Tensor:
        try:
            out: torch.Tensor = augment(inputs)
            return out
        except Exception as exc:
            fail(label, f"raised {type(exc).__name__} on a batch of shape {tuple(inputs.shape)}: {exc}")

    torch.manual_seed(1)
    out = run(x)
    expect(isinstance(out, torch.Tensor) and out.shape == x.shape and out.dtype == x.dtype, label,
           f"returned {getattr(out, 'shape', type(out).__name__)} for a batch of shape {tuple(x.shape)}: "
           "an augmentation keeps the batch's shape and dtype")
    expect(torch.equal(x.detach(), before), label, "changed its input in place; return a new tensor")
    expect(bool(torch.isfinite(out).all()), label, "returned non-finite values")
    torch.manual_seed(1)
    expect(torch.equal(run(x), out), label, "is not repeatable: draw randomness with gancore.rand / randint / randn")
    changed = not torch.equal(out, x)
    for _ in range(2000):  # an adaptive augmentation may need its critic to overfit first
        if changed:
            break
        augment.observe(torch.ones(8))
        changed = not torch.equal(run(x), x)
    expect(changed, label, "left the batch unchanged, even after 2000 critic updates of all-positive real scores")
    out = run(x)
    expect(out.requires_grad, label, "the output has no gradient to the input")
    (grad,) = torch.autograd.grad(out.sum(), x)
    expect(bool(grad.abs().sum() > 0), label, "the gradient to the input is zero: the generator learns nothing through it")
    logs = augment.logs()
    expect(isinstance(logs, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor) and v.dim() == 0
                                          for k, v in logs.items()), label, "logs() must map names to 0-d tensors")
    fresh = copy.deepcopy(augment)
    state = augment.state_dict()
    try:
        fresh.load_state_dict(state)
    except Exception as exc:
        fail(label, f"does not load its own state_dict: {type(exc).__name__}: {exc}")
    torch.manual_seed(2)
    a = run(x)
    torch.manual_seed(2)
    expect(torch.equal(fresh(x), a), label, "a copy loaded from its state_dict augments differently: keep state in buffers")
