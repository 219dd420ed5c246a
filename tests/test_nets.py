"""The first-party networks: packing, conditioning, and the DCGAN architecture rules."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import gancore
from gancore_nets.packing import pack_samples, sum_over_pack


MNIST = gancore.DataSpec((1, 28, 28), num_classes=10)
CIFAR = gancore.DataSpec((3, 32, 32), num_classes=10)
POINTS = gancore.DataSpec((2,), num_classes=4)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm, nn.LayerNorm)


def build(kind, name, params=None, spec=MNIST):
    return gancore.build(kind, name, params or {}, spec=spec)


def norms_in(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, NORMS)]


# ---------------------------------------------------------------- packing


def test_pack_samples_lays_consecutive_samples_side_by_side():
    x = torch.arange(6 * 2 * 3).view(6, 2, 3)
    packed = pack_samples(x, 3)
    assert packed.shape == (2, 6, 3)
    for j in range(2):
        for i in range(3):
            assert torch.equal(packed[j, 2 * i : 2 * i + 2], x[3 * j + i])
    assert torch.equal(sum_over_pack(torch.ones(6, 4), 3), torch.full((2, 4), 3.0))
    with pytest.raises(ValueError, match="divisible by 4"):
        pack_samples(x, 4)


@pytest.mark.parametrize("name, spec", [("mlp", POINTS), ("mlp", MNIST), ("dcgan", MNIST)])
def test_packed_critic_scores_each_pack_from_its_own_samples(name, spec):
    torch.manual_seed(0)
    critic = build("critic", name, {"pack": 3, "norm": "none"}, spec).eval()
    x = torch.randn(6, *spec.shape)
    scores = critic(x)
    assert scores.shape == (2,)
    changed = x.clone()
    changed[4] += 1.0  # a sample of the second pack
    new = critic(changed)
    assert torch.allclose(new[0], scores[0], atol=1e-6) and (new[1] - scores[1]).abs() > 1e-5
    # Packing is order-aware within a pack: the critic sees which sample is where.
    swapped = x[[1, 0, 2, 3, 4, 5]]
    assert (critic(swapped)[0] - scores[0]).abs() > 1e-5
    with pytest.raises(ValueError, match="divisible"):
        critic(x[:5])


def test_dcgan_critic_stacks_packs_along_channels():
    critic = build("critic", "dcgan", {"pack": 4, "conditional": "concat", "embed_dim": 3}, CIFAR)
    assert critic.input[0].in_channels == 4 * (3 + 3)


# ---------------------------------------------------------------- conditioning


@pytest.mark.parametrize("name, spec", [("mlp", POINTS), ("mlp", CIFAR), ("dcgan", CIFAR)])
@pytest.mark.parametrize("conditional", ["projection", "concat"])
def test_conditional_critic_uses_labels(name, spec, conditional):
    torch.manual_seed(0)
    critic = build("critic", name, {"conditional": conditional, "pack": 2}, spec).eval()
    assert critic.num_classes == spec.num_classes
    x = torch.randn(8, *spec.shape)
    labels = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    scores = critic(x, labels)
    other = labels.clone()
    other[3] = 0  # the second sample of pack 1: every sample's label counts
    new = critic(x, other)
    assert (new[1] - scores[1]).abs() > 1e-5
    assert torch.allclose(new[[0, 2, 3]], scores[[0, 2, 3]], atol=1e-6)
    with pytest.raises(ValueError, match="labels"):
        critic(x)


def test_projection_is_psi_plus_label_embedding_dot_features():
    torch.manual_seed(0)
    critic = build("critic", "mlp", {"conditional": "projection", "layers": 2, "hidden": 8}, POINTS)
    x, labels = torch.randn(5, 2), torch.tensor([0, 1, 2, 3, 1])
    h = critic.body(x)
    expected = critic.psi(h).squeeze(1) + (critic.projection.embed.weight[labels] * h).sum(1)
    assert torch.allclose(critic(x, labels), expected, atol=1e-6)


@pytest.mark.parametrize("name, spec", [("mlp", POINTS), ("mlp", MNIST), ("dcgan", MNIST)])
def test_conditional_generator_changes_output_with_labels(name, spec):
    torch.manual_seed(0)
    gen = build("generator", name, {"conditional": True}, spec).eval()
    assert gen.num_classes == spec.num_classes
    z = torch.randn(1, gen.latent_dim).expand(4, -1)  # one code, four labels
    out = gen(z, torch.arange(4))
    for i in range(1, 4):
        assert not torch.allclose(out[0], out[i], atol=1e-4)
    assert torch.allclose(gen(z, torch.zeros(4, dtype=torch.long))[1], out[0], atol=1e-6)
    with pytest.raises(ValueError, match="labels"):
        gen(z)


@pytest.mark.parametrize("kind, name, params", [
    ("generator", "mlp", {"conditional": True}),
    ("generator", "dcgan", {"conditional": True}),
    ("critic", "mlp", {"conditional": "concat"}),
    ("critic", "dcgan", {"conditional": "projection"}),
])
def test_conditioning_needs_classes(kind, name, params):
    with pytest.raises(gancore.GancoreError, match="num_classes"):
        build(kind, name, params, gancore.DataSpec((1, 28, 28)))


# ---------------------------------------------------------------- outputs


def test_mlp_generator_output_layer_depends_on_the_data():
    points = build("generator", "mlp", {}, POINTS)
    assert not any(isinstance(m, nn.Tanh) for m in points.modules())
    with torch.no_grad():
        points.output[0].bias.fill_(5.0)  # a linear output is not bounded
    assert points(torch.randn(3, 64)).min() > 1.0
    images = build("generator", "mlp", {}, MNIST)
    assert isinstance(images.output[-1], nn.Tanh)


def test_mlp_generator_activation_and_norm():
    gen = build("generator", "mlp", {"activation": "leaky_relu", "norm": "batch", "layers": 2})
    assert sum(isinstance(m, nn.LeakyReLU) for m in gen.modules()) == 2
    assert len(norms_in(gen.body)) == 2 and not norms_in(gen.output)


def test_mlp_critic_has_no_norm_on_its_input_layer_and_applies_dropout():
    critic = build("critic", "mlp", {"norm": "layer", "layers": 3, "dropout": 0.5})
    assert isinstance(critic.body[1], nn.Identity) and len(norms_in(critic)) == 2
    assert sum(isinstance(m, nn.Dropout) for m in critic.modules()) == 3
    x = torch.randn(4, 1, 28, 28)
    critic.train()
    assert not torch.equal(critic(x), critic(x))
    critic.eval()
    assert torch.equal(critic(x), critic(x))


# ---------------------------------------------------------------- DCGAN


@pytest.mark.parametrize("side, blocks", [(28, 2), (32, 3), (64, 4)])
def test_dcgan_norm_placement(side, blocks):
    spec = gancore.DataSpec((3, side, side))
    gen = build("generator", "dcgan", {"width": 8, "latent_dim": 10}, spec)
    assert gen(torch.randn(2, 10)).shape == (2, 3, side, side)
    # G: a norm after every layer but the output layer, which ends in tanh.
    assert len(norms_in(gen.body)) == blocks and not norms_in(gen.output)
    assert isinstance(gen.output[-1], nn.Tanh) and isinstance(gen.output[0], nn.ConvTranspose2d)
    critic = build("critic", "dcgan", {"width": 8}, spec)
    assert critic(torch.randn(2, 3, side, side)).shape == (2,)
    # D: no norm on the input layer, one after every further convolution.
    assert not norms_in(critic.input) and isinstance(critic.input[1], nn.LeakyReLU)
    assert len(norms_in(critic.body)) == blocks - 1
    assert not any(isinstance(m, nn.Sigmoid) for m in critic.modules())


@pytest.mark.parametrize("spec", [gancore.DataSpec((1, 30, 30)), gancore.DataSpec((1, 32, 16)), POINTS])
@pytest.mark.parametrize("kind", ["generator", "critic"])
def test_dcgan_rejects_unsupported_shapes(kind, spec):
    with pytest.raises(gancore.GancoreError, match="dcgan"):
        build(kind, "dcgan", {}, spec)


def test_dcgan_init():
    torch.manual_seed(0)
    gen = build("generator", "dcgan", {}, CIFAR)
    conv = gen.body[4].weight
    assert conv.std().item() == pytest.approx(0.02, rel=0.05) and abs(conv.mean().item()) < 1e-3
    bn = norms_in(gen)[0]
    assert bn.weight.mean().item() == pytest.approx(1.0, abs=0.01)
    assert bn.weight.std().item() == pytest.approx(0.02, rel=0.3) and torch.all(bn.bias == 0)
    default = build("generator", "dcgan", {"init": "default"}, CIFAR)
    assert torch.all(norms_in(default)[0].weight == 1)
    assert default.body[0].weight.std().item() > 0.05  # Linear(100, .): U(+-1/sqrt(100))
    assert gen.body[0].weight.std().item() == pytest.approx(0.02, rel=0.05)


@pytest.mark.parametrize("norm, key", [("spectral", "original"), ("weight", "original0")])
def test_dcgan_weight_norm_swap_wraps_every_layer(norm, key):
    critic = build("critic", "dcgan", {"norm": norm, "conditional": "projection"}, MNIST)
    weighted = [m for m in critic.modules() if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding))]
    assert len(weighted) == 4  # input conv, one inner conv, psi, projection embedding
    for module in weighted:
        assert hasattr(module.parametrizations.weight, key)
    assert not norms_in(critic)
    gen = build("generator", "dcgan", {"norm": norm}, MNIST)
    layers = [m for m in gen.modules() if isinstance(m, (nn.Linear, nn.ConvTranspose2d))]
    assert len(layers) == 3 and all(hasattr(m, "parametrizations") for m in layers)
    # Without an activation norm after them, the layers keep their biases.
    assert all(m.bias is not None for m in layers)
    assert build("generator", "dcgan", {}, MNIST).body[0].bias is None  # batch norm shifts instead


def test_spectral_critic_deep_copies_for_ema():
    critic = build("critic", "dcgan", {"norm": "spectral", "width": 8}, MNIST).eval()
    twin = copy.deepcopy(critic)
    x = torch.randn(2, 1, 28, 28)
    assert torch.allclose(twin(x), critic(x), atol=1e-6)
