"""The SN-GAN / BigGAN ResNet networks: shapes, conditioning, self-attention, the specs they
accept, spectral norm by default, and a tiny GAN that learns."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

import gancore
from gancore_nets.sngan import (
    ConditionalBatchNorm2d,
    DownBlock,
    SelfAttention,
    SNGANCritic,
    SNGANGenerator,
    UpBlock,
)

CIFAR = gancore.DataSpec((3, 32, 32), num_classes=10)
TINY = {"width": 8}


def build(kind, params=None, spec=CIFAR):
    return gancore.build(kind, "sngan", params or {}, spec=spec)


def square(channels: int, side: int, num_classes: int | None = None) -> gancore.DataSpec:
    return gancore.DataSpec((channels, side, side), num_classes=num_classes)


def of_type(module: nn.Module, kind: type) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, kind)]


# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize("side, blocks", [(32, 3), (64, 4)])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_output_shapes(side, blocks, channels):
    torch.manual_seed(0)
    spec = square(channels, side)
    gen = build("generator", TINY | {"latent_dim": 16}, spec)
    assert gen.latent_dim == 16 and gen.num_classes is None
    assert len(of_type(gen, UpBlock)) == blocks
    out = gen(torch.randn(5, 16))
    assert out.shape == (5, channels, side, side) and out.abs().max() <= 1.0
    critic = build("critic", TINY, spec)
    assert len(of_type(critic, DownBlock)) == blocks
    assert critic(out).shape == (5,)
    assert critic(torch.randn(1, channels, side, side)).shape == (1,)


def test_channels_are_width_up_to_32_and_halved_at_64():
    gen = build("generator", {"width": 16}, square(3, 64))
    assert [b.conv2.out_channels for b in of_type(gen, UpBlock)] == [16, 16, 16, 8]
    assert gen.project.out_features == 16 * 4 * 4 and gen.output.in_channels == 8
    critic = build("critic", {"width": 16}, square(3, 64))
    assert [b.conv2.out_channels for b in of_type(critic, DownBlock)] == [8, 16, 16, 16]
    assert critic.psi.in_features == 16
    cifar = build("critic", {"width": 16})
    assert [b.conv2.out_channels for b in of_type(cifar, DownBlock)] == [16, 16, 16]


def test_critic_structure_first_block_reads_the_image_and_pack_stacks_channels():
    critic = build("critic", TINY | {"norm": "batch"})
    first, *rest = of_type(critic, DownBlock)
    assert first.first and isinstance(first.norm1, nn.Identity)
    assert not any(b.first for b in rest)
    # An activation norm before every 3x3 convolution but the one reading the image.
    assert len(of_type(critic, nn.BatchNorm2d)) == 2 * 3 - 1
    packed = build("critic", TINY | {"pack": 2})
    assert packed.blocks[0].conv1.in_channels == 6
    assert packed(torch.randn(4, 3, 32, 32)).shape == (2,)


def test_generator_structure():
    gen = build("generator", TINY)
    assert len(of_type(gen, nn.BatchNorm2d)) == 2 * 3 + 1  # two per block, one before the output conv
    assert gen.output.kernel_size == (3, 3)
    # The batch norm after the first conv shifts, so that conv has no bias; the others keep theirs.
    block = of_type(gen, UpBlock)[0]
    assert block.conv1.bias is None and block.conv2.bias is not None and block.shortcut.kernel_size == (1, 1)
    none = build("generator", TINY | {"norm": "none"})
    assert of_type(none, UpBlock)[0].conv1.bias is not None and not of_type(none, nn.BatchNorm2d)


# ---------------------------------------------------------------- conditioning


def test_conditional_generator_and_projection_critic_use_labels():
    torch.manual_seed(0)
    gen = build("generator", TINY | {"conditional": True, "latent_dim": 16}).eval()
    critic = build("critic", TINY | {"conditional": "projection"}).eval()
    assert gen.num_classes == critic.num_classes == 10
    cbns = of_type(gen, ConditionalBatchNorm2d)
    assert len(cbns) == 2 * 3 and len(of_type(gen, nn.BatchNorm2d)) == 2 * 3 + 1
    assert all(torch.all(c.gain.weight == 1) and torch.all(c.bias.weight == 0) for c in cbns)
    assert all(c.bn.weight is None for c in cbns)  # the affine comes from the labels only

    z = torch.randn(1, 16).expand(4, -1)  # one code, four labels
    labels = torch.arange(4)
    # Gains 1 and biases 0 for every class: at first the labels change nothing.
    assert torch.allclose(gen(z, labels)[0], gen(z, labels)[1], atol=1e-6)
    with torch.no_grad():
        for c in cbns:
            c.gain.weight.normal_(1.0, 0.3)
            c.bias.weight.normal_(0.0, 0.3)
    out = gen(z, labels)
    assert out.shape == (4, 3, 32, 32)
    for i in range(1, 4):
        assert not torch.allclose(out[0], out[i], atol=1e-4)
    assert torch.allclose(gen(z, torch.zeros(4, dtype=torch.long))[1], out[0], atol=1e-6)

    scores = critic(out, labels)
    assert scores.shape == (4,)
    other = labels.clone()
    other[2] = 7
    changed = critic(out, other)
    assert (changed[2] - scores[2]).abs() > 1e-6
    assert torch.allclose(changed[[0, 1, 3]], scores[[0, 1, 3]], atol=1e-6)
    with pytest.raises(ValueError, match="labels"):
        gen(z)
    with pytest.raises(ValueError, match="labels"):
        critic(out)


def test_unconditional_networks_ignore_labels():
    torch.manual_seed(0)
    gen, critic = build("generator", TINY).eval(), build("critic", TINY).eval()
    z = torch.randn(3, 128)
    assert torch.equal(gen(z), gen(z, torch.tensor([0, 1, 2])))
    x = torch.randn(3, 3, 32, 32)
    assert torch.equal(critic(x), critic(x, torch.tensor([0, 1, 2])))


def test_conditioning_needs_classes_and_a_conditional_generator_needs_batch_norm():
    unlabelled = square(3, 32)
    with pytest.raises(gancore.GancoreError, match="num_classes"):
        build("generator", {"conditional": True}, unlabelled)
    with pytest.raises(gancore.GancoreError, match="num_classes"):
        build("critic", {"conditional": "projection"}, unlabelled)
    for norm in ("spectral", "layer", "none"):
        with pytest.raises(gancore.GancoreError, match="needs norm 'batch'"):
            build("generator", {"conditional": True, "norm": norm})
        build("generator", TINY | {"norm": norm})  # unconditional: any norm


# ---------------------------------------------------------------- self-attention


def _without_attention(net: nn.Module) -> nn.Module:
    plain = copy.deepcopy(net)
    for i, block in enumerate(plain.blocks):
        if isinstance(block, SelfAttention):
            plain.blocks[i] = nn.Identity()
    return plain


@pytest.mark.parametrize("kind, attention, channels", [
    ("generator", 16, 8), ("generator", 32, 8), ("critic", 8, 8), ("critic", 16, 8),
])
def test_self_attention_starts_as_the_identity_but_learns(kind, attention, channels):
    torch.manual_seed(0)
    net = build(kind, TINY | {"attention": attention}).eval()
    (attn,) = of_type(net, SelfAttention)
    assert attn.gamma.item() == 0.0
    own = sum(p.numel() for p in attn.parameters())
    assert own > 1 and sum(p.numel() for p in net.parameters()) == (
        sum(p.numel() for p in build(kind, TINY).parameters()) + own)
    x = torch.randn(2, 128) if kind == "generator" else torch.randn(2, 3, 32, 32)
    plain = _without_attention(net)
    assert torch.allclose(net(x), plain(x), atol=1e-6)
    # It sits at the asked resolution.
    seen = []
    attn.register_forward_hook(lambda m, inp, out: seen.append(tuple(inp[0].shape[1:])))
    net(x)
    assert seen == [(channels, attention, attention)]
    # Its parameters take part: a gradient to gamma, and with gamma != 0 the output moves.
    net.train()
    net(x).sum().backward()
    assert attn.gamma.grad is not None and attn.gamma.grad.abs() > 0
    with torch.no_grad():
        attn.gamma.fill_(1.0)
    net.eval()
    assert not torch.allclose(net(x), plain(x), atol=1e-4)


@pytest.mark.parametrize("kind, spec, attention, valid", [
    ("generator", CIFAR, 4, "8, 16, 32"),
    ("generator", CIFAR, 64, "8, 16, 32"),
    ("generator", square(3, 64), 12, "8, 16, 32, 64"),
    ("critic", CIFAR, 32, "16, 8, 4"),
    ("critic", square(3, 64), 64, "32, 16, 8, 4"),
])
def test_attention_at_a_resolution_the_network_lacks_is_refused(kind, spec, attention, valid):
    with pytest.raises(gancore.GancoreError, match=f"0 \\(none\\) or one of {valid} \\(.*\\), got {attention}"):
        build(kind, {"attention": attention}, spec)
    factory = SNGANGenerator if kind == "generator" else SNGANCritic
    with pytest.raises(ValueError, match=f"cannot insert self-attention at {attention}x{attention}"):
        factory(spec=spec, attention=attention)


# ---------------------------------------------------------------- specs


@pytest.mark.parametrize("spec", [square(1, 28), square(3, 48), square(3, 16), square(3, 128),
                                  gancore.DataSpec((3, 32, 64)), gancore.DataSpec((2,)),
                                  gancore.DataSpec((3, 1, 32, 32))])
@pytest.mark.parametrize("kind", ["generator", "critic"])
def test_unsupported_specs_are_refused(kind, spec):
    factory = SNGANGenerator if kind == "generator" else SNGANCritic
    assert not factory.supports(spec)
    with pytest.raises(gancore.GancoreError, match="sngan"):
        build(kind, {}, spec)


@pytest.mark.parametrize("spec", [square(1, 32), square(3, 32), square(4, 64), CIFAR])
def test_supported_specs(spec):
    assert SNGANGenerator.supports(spec) and SNGANCritic.supports(spec)


# ---------------------------------------------------------------- normalization


def _spectral(module: nn.Module) -> bool:
    return parametrize.is_parametrized(module, "weight") and any(
        "spectral" in type(p).__name__.lower() for p in module.parametrizations.weight)


def test_critic_is_spectrally_normalized_by_default():
    critic = build("critic", {"conditional": "projection", "attention": 16})
    weighted = [m for m in critic.modules() if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding))]
    # Three blocks of three convs, four attention convs, psi and the projection embedding.
    assert len(weighted) == 3 * 3 + 4 + 2
    assert all(_spectral(m) for m in weighted)
    assert not of_type(critic, nn.modules.batchnorm._NormBase)
    # The weights the critic uses have spectral norm about 1 (power iteration, advanced
    # on every training forward pass).
    critic.train()
    for _ in range(30):
        critic(torch.randn(2, 3, 32, 32), torch.tensor([0, 1]))
    for module in (critic.psi, critic.blocks[0].conv2, critic.blocks[-1].shortcut):
        sigma = torch.linalg.matrix_norm(module.weight.flatten(1), ord=2).item()
        assert sigma == pytest.approx(1.0, rel=0.05), module


def test_generator_is_batch_normalized_by_default_and_takes_spectral_by_name():
    gen = build("generator")
    assert not any(parametrize.is_parametrized(m) for m in gen.modules())
    assert of_type(gen, nn.BatchNorm2d)
    sn = build("generator", TINY | {"norm": "spectral", "attention": 8})
    weighted = [m for m in sn.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert weighted and all(_spectral(m) for m in weighted)
    assert not of_type(sn, nn.BatchNorm2d)


def test_dcgan_init_option():
    torch.manual_seed(0)
    gen = build("generator", {"init": "dcgan"})
    conv = of_type(gen, UpBlock)[-1].conv2.weight
    assert conv.std().item() == pytest.approx(0.02, rel=0.05)
    assert build("generator").project.weight.std().item() > 0.05  # Linear(128, .): U(+-1/sqrt(128))


def test_every_parameter_is_documented():
    for kind in ("generator", "critic"):
        fields = gancore.registry().get(kind, "sngan").params.model_fields
        assert fields and all(f.description for f in fields.values()), kind


# ---------------------------------------------------------------- learning


def test_a_tiny_gan_learns_on_a_fixed_batch():
    torch.manual_seed(0)
    gen = build("generator", {"width": 16, "latent_dim": 16})
    critic = build("critic", {"width": 16})
    loss = gancore.build("loss", "hinge")
    g_opt = torch.optim.Adam(gen.parameters(), 2e-4, betas=(0.0, 0.9))
    d_opt = torch.optim.Adam(critic.parameters(), 2e-4, betas=(0.0, 0.9))
    # Real data: smooth gradients, unlike the generator's first samples.
    ramp = torch.linspace(-1, 1, 32)
    real = (ramp[None, None, :, None] * torch.linspace(0.2, 1, 16)[:, None, None, None]).expand(16, 3, 32, 32)
    z = torch.randn(16, 16)
    g_before = [p.detach().clone() for p in gen.parameters()]

    def critic_loss() -> torch.Tensor:
        return loss.critic(critic(real), critic(gen(z).detach()))

    losses = []
    for _ in range(15):
        d = critic_loss()
        d_opt.zero_grad()
        d.backward()
        d_opt.step()
        losses.append(d.item())
        g = loss.generator(critic(gen(z)))
        g_opt.zero_grad()
        g.backward()
        g_opt.step()
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.8 * losses[0], losses  # the critic learns to tell real from fake
    assert any(not torch.equal(a, b) for a, b in zip(g_before, gen.parameters()))
