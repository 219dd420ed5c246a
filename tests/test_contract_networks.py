"""The network contract, checked on every registered generator and critic.

A new network plugin is tested by being registered: each one is built for a few data
specs (skipped where it rejects the spec with a ValueError), conditional and not where it
offers the choice, and with every registered normalization where it takes a ``norm``.
"""

from __future__ import annotations

import typing

import pytest
import torch

import gancore


N = 4
SPECS = {
    "mnist": gancore.DataSpec((1, 28, 28), num_classes=10),
    "cifar": gancore.DataSpec((3, 32, 32), num_classes=10),
    "points": gancore.DataSpec((2,), num_classes=10),
}


def _fields(kind: str, name: str):
    return gancore.registry().get(kind, name).params.model_fields


def _conditional_choices(kind: str, name: str) -> list:
    """The values of a part's ``conditional`` parameter (bool or Literal), or [None]."""
    field = _fields(kind, name).get("conditional")
    if field is None:
        return [None]
    if field.annotation is bool:
        return [False, True]
    if typing.get_origin(field.annotation) is typing.Literal:
        return list(typing.get_args(field.annotation))
    return [None]


def _norm_params(kind: str, name: str) -> list[str]:
    return [
        field_name
        for field_name, field in _fields(kind, name).items()
        if any(isinstance(m, gancore.Ref) and m.kind == "normalization" for m in field.metadata)
    ]


def _cases(kind: str):
    for entry in gancore.registry().entries(kind):
        for spec_id in SPECS:
            for cond in _conditional_choices(kind, entry.name):
                yield pytest.param(entry.name, spec_id, cond, id=f"{entry.name}-{spec_id}-cond={cond}")


def _norm_cases():
    norms = gancore.registry().names("normalization")
    for kind in ("generator", "critic"):
        for entry in gancore.registry().entries(kind):
            for param in _norm_params(kind, entry.name):
                for spec_id in ("mnist", "points"):  # the cifar size adds no new layer type
                    for norm in norms:
                        yield pytest.param(
                            kind, entry.name, spec_id, {param: norm}, id=f"{kind}-{entry.name}-{spec_id}-{param}={norm}"
                        )


def build(kind: str, name: str, spec_id: str, params: dict):
    """Build, or skip when the part rejects this combination with a ValueError."""
    try:
        return gancore.build(kind, name, params, spec=SPECS[spec_id])
    except gancore.GancoreError as exc:
        if isinstance(exc.__cause__, ValueError):
            pytest.skip(f"{kind} {name} rejects {spec_id} {params}: {exc.__cause__}")
        raise


def _params(cond) -> dict:
    return {} if cond is None else {"conditional": cond}


def _labels(net) -> torch.Tensor | None:
    return None if net.num_classes is None else torch.randint(0, net.num_classes, (N,))


def _is_conditional(cond) -> bool:
    return cond not in (None, False, "none")


def assert_finite_grads(net: torch.nn.Module) -> None:
    params = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    assert params, "a network without trainable parameters"
    for pname, p in params:
        assert p.grad is not None, f"{pname} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{pname} has non-finite gradients"


def run_generator(gen, spec: gancore.DataSpec) -> torch.Tensor:
    latent = getattr(gen, "latent_dim", None)
    z = torch.randn(N, latent) if latent is not None else torch.rand(N, *spec.shape) * 2 - 1
    out = gen(z, _labels(gen)) if gen.num_classes is not None else gen(z)
    assert out.shape[0] == N
    if latent is not None:
        assert out.shape == (N, *spec.shape)
        if spec.is_image:
            assert out.abs().max() <= 1.0
    assert torch.isfinite(out).all()
    return out


def run_critic(critic, spec: gancore.DataSpec, batch: int = N) -> torch.Tensor:
    x = (torch.rand(batch, *spec.shape) * 2 - 1).requires_grad_()
    labels = None if critic.num_classes is None else torch.randint(0, critic.num_classes, (batch,))
    scores = critic(x, labels)
    # One score per (packed) sample; a PatchGAN keeps a score per patch after that.
    assert scores.shape[0] == batch // critic.pack
    assert torch.isfinite(scores).all()
    # Gradient penalties differentiate the input gradient again: check both orders.
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    return scores + grad.pow(2).sum() * 1e-3


@pytest.mark.parametrize("name, spec_id, cond", list(_cases("generator")))
def test_generator_contract(name, spec_id, cond):
    torch.manual_seed(0)
    gen = build("generator", name, spec_id, _params(cond))
    assert isinstance(gen, torch.nn.Module)
    if hasattr(gen, "latent_dim"):
        assert isinstance(gen.latent_dim, int) and gen.latent_dim > 0
    assert gen.num_classes == (10 if _is_conditional(cond) else None)
    out = run_generator(gen, SPECS[spec_id])
    (out * torch.randn_like(out)).sum().backward()
    assert_finite_grads(gen)


@pytest.mark.parametrize("name, spec_id, cond", list(_cases("critic")))
def test_critic_contract(name, spec_id, cond):
    torch.manual_seed(0)
    critic = build("critic", name, spec_id, _params(cond))
    assert isinstance(critic, torch.nn.Module)
    assert critic.pack == 1
    assert critic.num_classes == (10 if _is_conditional(cond) else None)
    run_critic(critic, SPECS[spec_id]).sum().backward()
    assert_finite_grads(critic)


@pytest.mark.parametrize(
    "name, spec_id",
    [(e.name, s) for e in gancore.registry().entries("critic") if "pack" in _fields("critic", e.name) for s in SPECS],
)
def test_packed_critic_contract(name, spec_id):
    critic = build("critic", name, spec_id, {"pack": 2})
    assert critic.pack == 2
    run_critic(critic, SPECS[spec_id], batch=2 * N).sum().backward()
    assert_finite_grads(critic)


@pytest.mark.parametrize("kind, name, spec_id, params", list(_norm_cases()))
def test_every_normalization_on_every_network(kind, name, spec_id, params):
    torch.manual_seed(0)
    net = build(kind, name, spec_id, params)
    spec = SPECS[spec_id]
    out = run_generator(net, spec) if kind == "generator" else run_critic(net, spec)
    (out * torch.randn_like(out)).sum().backward()
    assert_finite_grads(net)
    net.eval()  # eval mode (running statistics, fixed spectral estimates) must run too
    with torch.no_grad():
        if kind == "generator":
            run_generator(net, spec)
        else:
            scores = net(torch.rand(N, *spec.shape) * 2 - 1, _labels(net))
            assert scores.shape[0] == N // getattr(net, "pack", 1) and torch.isfinite(scores).all()


@pytest.mark.parametrize("kind", ["generator", "critic"])
def test_every_network_builds_for_some_spec(kind):
    """Guards the skips above: a part that rejected every spec would pass unnoticed."""
    for entry in gancore.registry().entries(kind):
        built = []
        for spec in SPECS.values():
            try:
                built.append(gancore.build(kind, entry.name, {}, spec=spec))
            except gancore.GancoreError as exc:
                assert isinstance(exc.__cause__, ValueError), exc
        assert built, f"{kind} {entry.name} builds for none of {list(SPECS)}"
