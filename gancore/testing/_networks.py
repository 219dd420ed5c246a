"""The contracts of modules a run trains with: generators and critics on a given data
spec, and augmentations, which the training step applies before every critic call."""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from .._parts import Augment, DataSpec
from .._random import Random
from ._contract import expect, fail

BATCH = 4


def _labels(net: nn.Module, n: int) -> Tensor | None:
    classes = getattr(net, "num_classes", None)
    return None if not classes else torch.randint(0, classes, (n,))


def _call(net: nn.Module, x: Tensor, labels: Tensor | None) -> Tensor:
    out: Tensor = net(x) if labels is None else net(x, labels)
    return out


def check_gradients(net: nn.Module, label: str) -> None:
    """Every trainable parameter got a finite gradient from the last backward."""
    params = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    expect(params, label, "has no trainable parameters")
    missing = [n for n, p in params if p.grad is None]
    expect(not missing, label, f"backward reaches no gradient to {', '.join(missing[:3])}"
           f"{' and others' if len(missing) > 3 else ''}: every parameter must take part in the forward pass")
    bad = [n for n, p in params if p.grad is not None and not torch.isfinite(p.grad).all()]  # missing ones failed just above
    expect(not bad, label, f"non-finite gradients in {', '.join(bad[:3])}")


def _generated(gen: nn.Module, spec: DataSpec, label: str, n: int) -> Tensor:
    latent = getattr(gen, "latent_dim", None)
    if latent is not None:
        expect(isinstance(latent, int) and latent > 0, label, f"latent_dim must be a positive int, not {latent!r}")
        z = torch.randn(n, latent)
    else:  # image-to-image: the input is data of the spec's shape
        z = torch.rand(n, *spec.shape) * 2 - 1
    out = _call(gen, z, _labels(gen, n))
    expect(isinstance(out, Tensor), label, f"returned {type(out).__name__}, not a tensor")
    expect(out.shape[0] == n, label, f"returned {out.shape[0]} samples for a batch of {n}")
    if latent is not None:
        expect(tuple(out.shape[1:]) == tuple(spec.shape), label,
               f"samples have shape {tuple(out.shape[1:])}, but the data's are {tuple(spec.shape)}")
    else:
        expect(out.dim() >= 4 and tuple(out.shape[-3:]) == tuple(spec.shape[-3:]), label,
               f"outputs have shape {tuple(out.shape[1:])}, not images of the data's {tuple(spec.shape[-3:])}")
    expect(torch.isfinite(out).all(), label, "samples are not finite")
    if len(spec.shape) >= 3:
        expect(out.abs().max() <= 1.0 + 1e-6, label, "image samples leave [-1, 1] (the data's range)")
    return out


def check_generator(gen: nn.Module, spec: DataSpec, *, label: str = "generator") -> None:
    """A built generator: ``gen(z[, labels])`` gives samples of the data's shape in its
    range, finite, with gradients to every parameter; it runs in eval mode too."""
    expect(isinstance(gen, nn.Module), label, f"is a {type(gen).__name__}, not a torch.nn.Module")
    classes = getattr(gen, "num_classes", None)
    expect(classes is None or (isinstance(classes, int) and classes > 0), label,
           f"num_classes must be None or a positive int, not {classes!r}")
    gen.train()
    out = _generated(gen, spec, label, BATCH)
    (out * torch.randn_like(out)).sum().backward()
    check_gradients(gen, label)
    gen.eval()  # running statistics, fixed spectral estimates
    with torch.no_grad():
        _generated(gen, spec, f"{label} (eval mode)", BATCH)
    gen.train()


def _scores(critic: nn.Module, x: Tensor, label: str) -> Tensor:
    pack = getattr(critic, "pack", 1)
    scores = _call(critic, x, _labels(critic, x.shape[0]))
    expect(isinstance(scores, Tensor) and scores.is_floating_point(), label, "scores must be a floating tensor")
    rows = x.shape[0] // pack
    shape = tuple(scores.shape)
    if scores.dim() == 2 and shape[1] == 1:
        fail(label, f"returned scores of shape {shape} for a batch of {x.shape[0]}: a critic returns (N,) scores "
             "(squeeze the last dimension), or (N, P) with one per patch")
    expect(scores.dim() in (1, 2) and shape[0] == rows, label,
           f"returned scores of shape {shape} for a batch of {x.shape[0]}"
           f"{f' (pack {pack})' if pack != 1 else ''}: a critic returns ({rows},) scores, or ({rows}, P) per patch")
    expect(torch.isfinite(scores).all(), label, "scores are not finite")
    return scores


def check_critic(critic: nn.Module, spec: DataSpec, *, label: str = "critic") -> None:
    """A built critic: ``critic(x[, labels])`` gives one raw score per (packed) sample,
    ``(N,)`` or ``(N, P)`` per patch, for any batch size; finite; differentiable twice in
    its input (gradient penalties); with gradients to every parameter; eval mode runs."""
    expect(isinstance(critic, nn.Module), label, f"is a {type(critic).__name__}, not a torch.nn.Module")
    pack = getattr(critic, "pack", 1)
    expect(isinstance(pack, int) and pack >= 1, label, f"pack must be a positive int, not {pack!r}")
    critic.train()
    for n in (BATCH * pack, 2 * BATCH * pack):  # scores follow the batch, not a fixed size
        x = (torch.rand(n, *spec.shape) * 2 - 1).requires_grad_()
        scores = _scores(critic, x, label)
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    expect(torch.isfinite(grad).all() and grad.abs().sum() > 0, label, "the scores' input gradient is zero or not finite")
    (scores.sum() + grad.pow(2).sum() * 1e-3).backward()
    check_gradients(critic, label)
    critic.eval()
    with torch.no_grad():
        _scores(critic, torch.rand(BATCH * pack, *spec.shape) * 2 - 1, f"{label} (eval mode)")
    critic.train()


def check_augment(augment: Augment, spec: DataSpec, *, label: str = "augment", random: Random | None = None) -> None:
    """On a batch of ``spec``'s samples: the same shape and dtype out, finite, the input
    left as it was, differentiable (the generator learns through it), repeatable under the
    same seed, and not the identity, at once or once its critic overfits (an adaptive
    augmentation starts as the identity; the kit shows it positive scores until it acts).
    Its state survives ``state_dict`` / ``load_state_dict``; ``logs`` are 0-d tensors.
    ``random`` is the ``gancore.Random`` the augmentation was built with, when it takes one:
    its draws must come from it alone, so a run repeats whatever torch's own generator holds."""
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

    def rewind() -> None:
        if random is not None and random.generator is not None:
            random.generator.manual_seed(0)

    rewind()
    torch.manual_seed(1)
    out = run(x)
    expect(isinstance(out, torch.Tensor) and out.shape == x.shape and out.dtype == x.dtype, label,
           f"returned {getattr(out, 'shape', type(out).__name__)} for a batch of shape {tuple(x.shape)}: "
           "an augmentation keeps the batch's shape and dtype")
    expect(torch.equal(x.detach(), before), label, "changed its input in place; return a new tensor")
    expect(bool(torch.isfinite(out).all()), label, "returned non-finite values")
    rewind()
    torch.manual_seed(1 if random is None else 7)  # with a Random of its own, torch's generator must not matter
    expect(torch.equal(run(x), out), label, "is not repeatable: draw randomness from the gancore.Random it is given "
           "(a parameter typed gancore.Random)")
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
    rewind()  # a copy's own generator (if it has one) starts where the original's is rewound to
    fresh = copy.deepcopy(augment)
    state = augment.state_dict()
    try:
        fresh.load_state_dict(state)
    except Exception as exc:
        fail(label, f"does not load its own state_dict: {type(exc).__name__}: {exc}")
    rewind()
    torch.manual_seed(2)
    a = run(x)
    rewind()
    torch.manual_seed(2)
    expect(torch.equal(fresh(x), a), label, "a copy loaded from its state_dict augments differently: keep state in buffers")
