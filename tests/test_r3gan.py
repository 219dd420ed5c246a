"""The R3GAN networks: shapes at every size, conditioning and packing, the fix-up
initialisation (zero-started branches, the L^(-1/4) factor), the low-pass resampling,
the sizes and widths refused, every normalization, and a tiny GAN that learns."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

import gancore
from gancore_nets.r3gan import (
    LEAKY_GAIN,
    DiscriminativeBasis,
    GenerativeBasis,
    InwardClamp,
    R3GANCritic,
    R3GANGenerator,
    Resample,
    ResidualBlock,
    Transition,
    fixup_gain,
)

MNIST = gancore.DataSpec((1, 28, 28), num_classes=10)
TINY = {"widths": 2, "cardinality": 2}  # 2 channels at the image's side, doubled per halving: fast at every size


def build(kind, params=None, spec=MNIST):
    return gancore.build(kind, "r3gan", params or {}, spec=spec)


def square(channels: int, side: int, num_classes: int | None = None) -> gancore.DataSpec:
    return gancore.DataSpec((channels, side, side), num_classes=num_classes)


def of_type(module: nn.Module, kind: type) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, kind)]


# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize("side, sides", [
    (28, [7, 14, 28]), (32, [4, 8, 16, 32]), (64, [4, 8, 16, 32, 64]),
    (128, [4, 8, 16, 32, 64, 128]), (256, [4, 8, 16, 32, 64, 128, 256]),
])
@pytest.mark.parametrize("channels, conditional", [(1, False), (3, True)])
def test_output_shapes_at_every_size(side, sides, channels, conditional):
    torch.manual_seed(0)
    spec = square(channels, side, num_classes=10)
    gen = build("generator", TINY | {"latent_dim": 8, "conditional": conditional}, spec)
    critic = build("critic", TINY | {"conditional": "projection" if conditional else "none"}, spec)
    assert gen.latent_dim == 8 and gen.num_classes == critic.num_classes == (10 if conditional else None)
    # One stage per side: the generator's first is the basis at the start side, the critic's last ends there.
    assert len(gen.stages) == len(critic.stages) == len(sides)
    assert tuple(gen.basis.basis.shape) == (2 * 2 ** (len(sides) - 1), sides[0], sides[0])
    assert critic.basis.conv.kernel_size == (sides[0], sides[0])
    labels = torch.tensor([0, 3, 9]) if conditional else None
    out = gen(torch.randn(3, 8), labels)
    assert out.shape == (3, channels, side, side) and out.abs().max() <= 1.0
    assert critic(out, labels).shape == (3,)


def test_feature_map_sides_along_the_networks():
    gen = build("generator", TINY, square(2, 32))
    sides = []
    h = gen.basis(torch.randn(1, gen.latent_dim))
    for stage in gen.stages:
        h = stage(h)
        sides.append(h.shape[-1])
    assert sides == [4, 8, 16, 32] and gen.output(h).shape == (1, 2, 32, 32)
    critic = build("critic", TINY, square(2, 32))
    h, sides = critic.input(torch.randn(1, 2, 32, 32)), []
    for stage in critic.stages:
        h = stage(h)
        sides.append(h.shape[-1])
    assert sides == [16, 8, 4, 4]  # each stage but the last ends by halving the side
    assert critic.basis(h).shape == (1, 16)  # the widths are 16, 8, 4, 2 from 4x4 up


def test_widths_blocks_and_cardinality_per_stage_from_the_smallest_side_up():
    params = {"widths": [16, 8, 4], "blocks": [1, 2, 3], "cardinality": [4, 2, 1], "expansion": 3}
    gen, critic = build("generator", params), build("critic", params)
    for net, order in ((gen, [0, 1, 2]), (critic, [2, 1, 0])):  # the critic runs from the image's side down
        blocks = [of_type(net.stages[i], ResidualBlock) for i in range(3)]
        assert [len(b) for b in blocks] == [[1, 2, 3][i] for i in order]
        assert [b[0].expand.in_channels for b in blocks] == [[16, 8, 4][i] for i in order]
        assert [b[0].grouped.groups for b in blocks] == [[4, 2, 1][i] for i in order]
        assert [b[0].expand.out_channels for b in blocks] == [3 * [16, 8, 4][i] for i in order]
    # Widths change by 1x1 convolutions between stages; equal widths need none.
    assert [t.conv.out_channels for t in of_type(gen, Transition)] == [8, 4]
    assert [t.conv.out_channels for t in of_type(critic, Transition)] == [8, 16]
    same = build("generator", {"widths": [8, 8, 4], "cardinality": 2})
    assert [type(t.conv) for t in of_type(same, Transition)] == [nn.Identity, nn.Conv2d]
    assert critic.input.in_channels == 1 and critic.input.out_channels == 4
    # An int is the width at the image's side, doubled at each smaller side.
    for spec, expected in ((MNIST, [32, 16, 8]), (square(3, 32), [64, 32, 16, 8])):
        for kind in ("generator", "critic"):
            net = build(kind, {"widths": 8, "cardinality": 1}, spec)
            found = [of_type(stage, ResidualBlock)[0].expand.in_channels for stage in net.stages]
            assert found == (expected if kind == "generator" else expected[::-1])
    assert gen.output.in_channels == 4 and gen.output.out_channels == 1
    assert isinstance(gen.basis, GenerativeBasis) and isinstance(critic.basis, DiscriminativeBasis)


# ---------------------------------------------------------------- conditioning and packing


def test_conditional_generator_concatenates_a_label_embedding_to_z():
    torch.manual_seed(0)
    gen = build("generator", TINY | {"conditional": True, "embed_dim": 5, "latent_dim": 7}).eval()
    assert gen.basis.linear.in_features == 12 and gen.embed.embed.weight.shape == (10, 5)
    z = torch.randn(1, 7).expand(4, -1)  # one code, four labels
    out = gen(z, torch.tensor([0, 1, 2, 0]))
    assert not torch.allclose(out[0], out[1], atol=1e-5) and torch.allclose(out[0], out[3])
    with pytest.raises(ValueError, match="labels"):
        gen(z)
    plain = build("generator", TINY | {"latent_dim": 7}).eval()
    assert plain.num_classes is None and torch.equal(plain(z[:2]), plain(z[:2], torch.tensor([0, 1])))


def test_projection_critic_adds_the_label_embedding_dot_its_features():
    torch.manual_seed(0)
    critic = build("critic", TINY | {"conditional": "projection"}).eval()
    x, labels = torch.randn(5, 1, 28, 28), torch.tensor([0, 1, 2, 3, 1])
    h = critic.basis(critic.stages(critic.input(x)))
    expected = critic.psi(h).squeeze(1) + (critic.projection.embed.weight[labels] * h).sum(1)
    assert torch.allclose(critic(x, labels), expected, atol=1e-6)
    with pytest.raises(ValueError, match="labels"):
        critic(x)


def test_packed_critic_scores_each_pack_from_its_own_samples_and_labels():
    torch.manual_seed(0)
    critic = build("critic", TINY | {"pack": 3, "conditional": "projection"}).eval()
    assert critic.input.in_channels == 3
    x, labels = torch.randn(6, 1, 28, 28), torch.tensor([0, 1, 2, 3, 4, 5])
    scores = critic(x, labels)
    assert scores.shape == (2,)
    changed = x.clone()
    changed[4] += 1.0  # a sample of the second pack
    new = critic(changed, labels)
    assert torch.allclose(new[0], scores[0], atol=1e-6) and (new[1] - scores[1]).abs() > 1e-6
    other = labels.clone()
    other[1] = 9
    assert (critic(x, other)[0] - scores[0]).abs() > 1e-6
    with pytest.raises(ValueError, match="divisible"):
        critic(x[:5], labels[:5])


@pytest.mark.parametrize("kind, params", [("generator", {"conditional": True}), ("critic", {"conditional": "projection"})])
def test_conditioning_needs_classes(kind, params):
    with pytest.raises(gancore.GancoreError, match="num_classes"):
        build(kind, TINY | params, square(1, 28))


# ---------------------------------------------------------------- fix-up initialisation


def test_every_residual_branch_starts_at_zero_so_every_block_is_the_identity():
    torch.manual_seed(0)
    for net in (build("generator", TINY | {"blocks": [1, 2, 1]}), build("critic", TINY | {"blocks": 2})):
        blocks = of_type(net, ResidualBlock)
        assert len(blocks) == (4 if isinstance(net, R3GANGenerator) else 6)
        for block in blocks:
            assert torch.all(block.reduce.weight == 0) and torch.all(block.reduce.bias == 0)
            assert block.expand.weight.abs().sum() > 0 and block.grouped.weight.abs().sum() > 0
            x = torch.randn(2, block.expand.in_channels, 7, 7)
            assert torch.equal(block(x), x)


def test_a_zero_started_block_still_learns():
    torch.manual_seed(0)
    gen = build("generator", TINY)
    block = of_type(gen, ResidualBlock)[-1]
    gen(torch.randn(4, gen.latent_dim)).square().mean().backward()
    assert block.reduce.weight.grad.abs().sum() > 0  # the last layer moves first
    assert block.expand.weight.grad is not None  # zero at first, the others follow


def test_fixup_factor():
    # L^(-1/(2m-2)) with m = 3 layers per branch: L^(-1/4), times the leaky ReLU's He gain.
    assert LEAKY_GAIN == pytest.approx(math.sqrt(2 / 1.04))
    for blocks in (1, 3, 6, 16):
        assert fixup_gain(blocks) == pytest.approx(LEAKY_GAIN * blocks**-0.25)


def test_branch_weights_are_he_initialised_and_scaled_by_the_number_of_blocks_in_the_network():
    torch.manual_seed(0)
    # L counts the network's blocks over all stages: 2 + 3 + 1 = 6.
    gen = build("generator", {"widths": [64, 64, 64], "blocks": [2, 3, 1], "cardinality": 8})
    gain = LEAKY_GAIN * 6**-0.25
    expand = torch.cat([b.expand.weight.flatten() for b in of_type(gen, ResidualBlock)])
    grouped = torch.cat([b.grouped.weight.flatten() for b in of_type(gen, ResidualBlock)])
    assert expand.std().item() == pytest.approx(gain / math.sqrt(64), rel=0.03)  # fan-in 64
    assert grouped.std().item() == pytest.approx(gain / math.sqrt(16 * 9), rel=0.03)  # 128 / 8 channels per group, 3x3
    # Layers outside the branches: He-initialised for a linear map (gain 1).
    assert gen.output.weight.std().item() == pytest.approx(1 / 8, rel=0.3)
    assert gen.basis.linear.weight.std().item() == pytest.approx(1 / 8, rel=0.05)  # z of 64
    critic = build("critic", {"widths": [64, 64, 64], "blocks": 1, "cardinality": 8})
    assert critic.basis.conv.weight.std().item() == pytest.approx(1 / 7, rel=0.05)  # one channel's 7x7 map
    assert of_type(critic, ResidualBlock)[0].expand.weight.std().item() == pytest.approx(
        LEAKY_GAIN * 3**-0.25 / 8, rel=0.05)


# ---------------------------------------------------------------- resampling


def binomial_down(x: torch.Tensor) -> torch.Tensor:
    """The definition along each axis: out[m] = (x[2m-1] + 3 x[2m] + 3 x[2m+1] + x[2m+2]) / 8, zeros outside."""
    for dim in (2, 3):
        n = x.shape[dim]
        padded = F.pad(x, (1, 1) if dim == 3 else (0, 0, 1, 1))
        taps = [padded.index_select(dim, torch.arange(k, k + n - 1, 2)) for k in range(4)]  # x[2m + k - 1]
        x = (taps[0] + 3 * taps[1] + 3 * taps[2] + taps[3]) / 8
    return x


def test_lowpass_downsampling_is_the_binomial_filter_then_decimation():
    x = torch.randn(2, 3, 14, 14, dtype=torch.float64)
    down = Resample(False, "lowpass").double()
    assert torch.allclose(down(x), binomial_down(x), atol=1e-12)


def test_lowpass_upsampling_interpolates_bilinearly_away_from_the_borders():
    x = torch.randn(2, 3, 7, 7)
    up = Resample(True, "lowpass")(x)
    bilinear = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert up.shape == (2, 3, 14, 14)
    assert torch.allclose(up[..., 1:-1, 1:-1], bilinear[..., 1:-1, 1:-1], atol=1e-6)
    # Each upsampled pixel mixes its two nearest sources 3:1 per axis (half-pixel centres).
    assert up[0, 0, 2, 5].item() == pytest.approx(
        (9 * x[0, 0, 1, 2] + 3 * x[0, 0, 0, 2] + 3 * x[0, 0, 1, 3] + x[0, 0, 0, 3]).item() / 16, abs=1e-6)


@pytest.mark.parametrize("mode", ["lowpass", "bilinear"])
def test_a_constant_image_stays_constant_away_from_the_borders(mode):
    x = torch.full((1, 2, 16, 16), 0.7)
    down, up = Resample(False, mode)(x), Resample(True, mode)(x)
    assert down.shape == (1, 2, 8, 8) and up.shape == (1, 2, 32, 32)
    for out in (down, up, Resample(False, mode)(Resample(True, mode)(x))):
        assert torch.allclose(out[..., 1:-1, 1:-1], torch.tensor(0.7))


def _wave(frequency: float, side: int = 32) -> torch.Tensor:
    """cos(frequency * column) on every row: frequency pi is the Nyquist checkerboard's."""
    column = torch.arange(side, dtype=torch.float64)
    return torch.cos(frequency * column).expand(1, 1, side, side).clone()


@pytest.mark.parametrize("frequency", [math.pi, 0.75 * math.pi, 0.5 * math.pi, math.pi / 8])
@pytest.mark.parametrize("mode, response", [
    ("lowpass", lambda w: math.cos(w / 2) ** 3),  # the binomial [1, 3, 3, 1] / 8
    ("bilinear", lambda w: math.cos(w / 2)),  # the 2x2 average [1, 1] / 2
])
def test_downsampling_frequency_response(frequency, mode, response):
    """Halving a wave of frequency w leaves it scaled by the filter's response at w, sampled
    at the new pixels' centres (between source pixels 2m and 2m + 1). Near Nyquist a wave
    folds onto a lower frequency when halved (aliasing); the binomial filter removes far
    more of it than a 2x2 average (at 3/4 of Nyquist 0.056 of it, against 0.38)."""
    halved = Resample(False, mode).double()(_wave(frequency))[..., 2:-2, 2:-2]
    centres = 2 * torch.arange(2, 14, dtype=torch.float64) + 0.5
    expected = response(frequency) * torch.cos(frequency * centres)
    assert torch.allclose(halved, expected.expand_as(halved), atol=1e-12)


def test_the_nyquist_checkerboard_does_not_survive_halving():
    checker = _wave(math.pi) * _wave(math.pi).transpose(2, 3)
    for mode in ("lowpass", "bilinear"):
        assert Resample(False, mode).double()(checker)[..., 1:-1, 1:-1].abs().max() < 1e-12


def test_resampling_follows_the_input_dtype_and_is_not_saved():
    assert Resample(True, "lowpass")(torch.randn(1, 2, 4, 4, dtype=torch.float64)).dtype == torch.float64
    gen = build("generator", TINY)
    assert not any("kernel" in key for key in gen.state_dict())
    assert all(r.mode == "bilinear" for r in of_type(build("generator", TINY | {"resample": "bilinear"}), Resample))


# ---------------------------------------------------------------- sizes refused


@pytest.mark.parametrize("spec", [square(1, 30), square(3, 16), square(3, 48), square(3, 512), gancore.DataSpec((3, 32, 64))])
@pytest.mark.parametrize("kind", ["generator", "critic"])
def test_other_sizes_are_refused(kind, spec):
    factory = R3GANGenerator if kind == "generator" else R3GANCritic
    assert not factory.supports(spec)
    shape = "x".join(map(str, spec.shape[1:]))
    with pytest.raises(gancore.GancoreError, match=f"the r3gan {kind} supports square images of side "
                                                   f"28, 32, 64, 128 or 256, got {shape}"):
        build(kind, TINY, spec)


@pytest.mark.parametrize("spec", [gancore.DataSpec((2,)), gancore.DataSpec((3, 1, 28, 28))])
def test_data_that_are_not_images_are_refused(spec):
    assert not R3GANGenerator.supports(spec) and not R3GANCritic.supports(spec)
    with pytest.raises(gancore.GancoreError, match="r3gan generator needs image data"):
        build("generator", TINY, spec)


@pytest.mark.parametrize("spec", [square(1, 28), square(3, 32), square(3, 64), square(3, 128), square(3, 256)])
def test_supported_sizes(spec):
    assert R3GANGenerator.supports(spec) and R3GANCritic.supports(spec)


@pytest.mark.parametrize("kind", ["generator", "critic"])
def test_per_stage_lists_of_the_wrong_length_are_refused(kind):
    message = (f"the r3gan {kind} for 28x28 images has 3 stages \\(7 -> 14 -> 28\\): widths takes an int or a "
               f"list of 3, one per stage, got 4 \\(\\[8, 8, 8, 8\\]\\)")
    with pytest.raises(gancore.GancoreError, match=message):
        build(kind, {"widths": [8, 8, 8, 8]})
    with pytest.raises(gancore.GancoreError, match="has 4 stages \\(4 -> 8 -> 16 -> 32\\): blocks takes an int or a list of 4"):
        build(kind, TINY | {"blocks": [1, 1, 1]}, square(3, 32))
    with pytest.raises(gancore.GancoreError, match="cardinality takes an int or a list of 3"):
        build(kind, {"widths": 4, "cardinality": [1, 2]})


def test_a_cardinality_that_does_not_divide_the_expanded_channels_is_refused():
    with pytest.raises(gancore.GancoreError, match="cardinality 3 does not divide the 16 channels of stage 1's grouped "
                                                   "convolution \\(width 8 x expansion 2\\)"):
        build("generator", {"widths": [6, 8, 6], "cardinality": [3, 3, 3]})


def test_out_of_range_values_are_refused_with_the_recipe():
    for params in ({"widths": []}, {"widths": [8, 0, 8]}, {"blocks": 0}, {"resample": "nearest"}):
        with pytest.raises(gancore.GancoreError):
            build("generator", params)


# ---------------------------------------------------------------- normalization


def _reparametrised(module: nn.Module) -> bool:
    return parametrize.is_parametrized(module, "weight")


@pytest.mark.parametrize("norm", gancore.registry().names("normalization"))
def test_every_registered_normalization_builds_and_runs(norm):
    torch.manual_seed(0)
    spec = square(1, 28, num_classes=10)
    gen = build("generator", TINY | {"norm": norm, "conditional": True}, spec)
    critic = build("critic", TINY | {"norm": norm, "conditional": "projection"}, spec)
    labels = torch.tensor([0, 1, 2, 3])
    fake = gen(torch.randn(4, gen.latent_dim), labels)
    x = fake.detach().requires_grad_()
    scores = critic(x, labels)
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)  # R1 needs the second derivative
    (scores.sum() + grad.square().sum() + fake.sum()).backward()
    for net in (gen, critic):
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters()), norm
        net.eval()
    with torch.no_grad():
        assert torch.isfinite(critic(gen(torch.randn(4, gen.latent_dim), labels), labels)).all()


def test_activation_norms_follow_the_first_two_layers_of_every_branch():
    gen = build("generator", TINY | {"norm": "batch", "blocks": 2})
    blocks = of_type(gen, ResidualBlock)
    assert len(of_type(gen, nn.BatchNorm2d)) == 2 * len(blocks) == 12
    for block in blocks:
        assert block.expand.bias is None and block.grouped.bias is None  # the norm shifts instead
        assert block.reduce.bias is not None and torch.all(block.reduce.weight == 0)
    assert all(b.expand.bias is not None for b in of_type(build("generator", TINY), ResidualBlock))


@pytest.mark.parametrize("norm", ["spectral", "weight"])
def test_reparametrisations_wrap_every_weighted_layer_and_start_every_branch_nonzero(norm):
    torch.manual_seed(0)
    critic = build("critic", TINY | {"norm": norm, "conditional": "projection"}, square(1, 28, num_classes=10))
    weighted = [m for m in critic.modules() if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding))]
    # The input conv, three blocks of three convs, two transitions' convs, the basis, psi
    # and the projection embedding.
    assert len(weighted) == 1 + 9 + 2 + 1 + 2 and all(_reparametrised(m) for m in weighted)
    for block in of_type(critic, ResidualBlock):
        # A zero weight has no direction or singular value: these norms could not divide by it.
        assert torch.isfinite(block.reduce.weight).all() and block.reduce.weight.abs().sum() > 0
    assert not of_type(critic, nn.modules.batchnorm._NormBase)


def test_no_normalization_by_default():
    for kind in ("generator", "critic"):
        net = build(kind, TINY)
        assert not any(_reparametrised(m) for m in net.modules())
        assert not of_type(net, (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm))


def test_every_parameter_is_documented():
    for kind in ("generator", "critic"):
        fields = gancore.registry().get(kind, "r3gan").params.model_fields
        assert fields and all(f.description for f in fields.values()), kind


# ---------------------------------------------------------------- learning


def test_a_tiny_r3gan_learns_with_rpgan_and_r1():
    """RpGAN + R1 on a fixed set of smooth 28x28 images: the critic learns to score them
    above the generator's samples, and the samples move toward them."""
    torch.manual_seed(0)
    params = {"widths": [16, 8, 8], "cardinality": [4, 2, 2]}
    gen, critic = build("generator", params | {"latent_dim": 16}), build("critic", params)
    loss, r1 = gancore.build("loss", "rpgan"), gancore.build("regularizer", "r1", {"weight": 0.1})
    g_opt = torch.optim.Adam(gen.parameters(), 2e-3, betas=(0.0, 0.99))
    d_opt = torch.optim.Adam(critic.parameters(), 2e-3, betas=(0.0, 0.99))
    ramp = torch.linspace(-1, 1, 28)
    real = (ramp[None, None, :, None] * torch.linspace(0.3, 0.9, 16)[:, None, None, None]).expand(16, 1, 28, 28)

    def distance() -> float:
        with torch.no_grad():
            return (gen(torch.randn(64, 16)).mean(0) - real.mean(0)).square().mean().item()

    before = distance()
    gaps = []
    for _ in range(60):
        fake = gen(torch.randn(16, 16))
        d = loss.critic(critic(real), critic(fake.detach())) + r1.penalty(critic, real, fake)
        d_opt.zero_grad()
        d.backward()
        d_opt.step()
        g = loss.generator(critic(gen(torch.randn(16, 16))), critic(real))
        g_opt.zero_grad()
        g.backward()
        g_opt.step()
        with torch.no_grad():
            gaps.append((critic(real) - critic(fake)).mean().item())
    assert all(math.isfinite(v) for v in gaps)
    assert max(gaps) > 0.5  # the critic told real from fake
    assert distance() < 0.5 * before, (before, distance())  # the samples moved toward the data


def test_the_output_clamp_passes_only_gradients_that_lead_back_into_the_range():
    y = torch.tensor([-5e9, -2.0, -0.5, 0.5, 2.0, 3.0], requires_grad=True)
    out = InwardClamp.apply(y)
    # Exactly the clamp, even far outside (a straight-through sum would round -5e9 to garbage).
    assert out.tolist() == [-1.0, -1.0, -0.5, 0.5, 1.0, 1.0]
    out.backward(torch.tensor([1.0, -1.0, 1.0, -1.0, -1.0, 1.0]))
    # A descent step moves y by -grad: -5e9 would go lower and 2.0 higher (blocked); -2.0
    # would rise and 3.0 fall (passed); inside the range everything passes.
    assert y.grad.tolist() == [0.0, -1.0, 1.0, -1.0, 0.0, 1.0]


def test_a_generator_whose_pixels_are_pushed_outwards_stops_moving_them():
    # The critic of an all-black dataset asks every pixel to be darker, forever: with the
    # inward clamp the generator's pre-clamp output stops once past -1 (after Adam's
    # momentum has carried it a little further) instead of running off.
    torch.manual_seed(0)
    gen = R3GANGenerator(spec=gancore.DataSpec((1, 28, 28)), **TINY)
    opt = torch.optim.Adam(gen.parameters(), lr=1e-2)
    z = torch.randn(16, gen.latent_dim)

    def train(steps: int) -> tuple[Tensor, Tensor]:
        for _ in range(steps):
            opt.zero_grad()
            gen(z).sum().backward()  # descent lowers every pixel
            opt.step()
        with torch.no_grad():
            return gen.output(gen.stages(gen.basis(z))), gen(z)

    raw_early, samples = train(100)
    assert (samples == -1.0).all()  # it got there
    raw_late, _ = train(100)
    assert torch.allclose(raw_late, raw_early, rtol=1e-2)  # and stayed
