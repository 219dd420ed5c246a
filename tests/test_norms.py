"""The first-party normalizations: the modules they place, and what they really do."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import gancore


ALL = {"batch", "instance", "layer", "none", "spectral", "weight"}


def norm(name: str, params: dict | None = None) -> gancore.Normalization:
    return gancore.build("normalization", name, params)


def top_singular_value(matrix: torch.Tensor) -> float:
    return float(torch.linalg.matrix_norm(matrix.detach(), ord=2))


def test_all_registered_and_are_normalizations():
    assert ALL <= set(gancore.registry().names("normalization"))
    for name in ALL:
        assert isinstance(norm(name), gancore.Normalization)


@pytest.mark.parametrize(
    "name, spatial, expected",
    [
        ("batch", False, nn.BatchNorm1d),
        ("batch", True, nn.BatchNorm2d),
        ("instance", True, nn.InstanceNorm2d),
        ("instance", False, nn.LayerNorm),
        ("layer", False, nn.LayerNorm),
        ("layer", True, nn.GroupNorm),
        ("none", True, nn.Identity),
        ("spectral", True, nn.Identity),
        ("weight", False, nn.Identity),
    ],
)
def test_layer_modules(name, spatial, expected):
    module = norm(name).layer(8, spatial=spatial)
    assert type(module) is expected
    if isinstance(module, nn.InstanceNorm2d):
        assert module.affine
    if isinstance(module, nn.GroupNorm):
        assert module.num_groups == 1 and module.num_channels == 8


@pytest.mark.parametrize("name", ["batch", "instance", "layer", "none"])
def test_activation_norms_leave_the_layer_alone(name):
    linear = nn.Linear(3, 4)
    assert norm(name).wrap(linear) is linear
    assert not hasattr(linear, "parametrizations")


def test_layer_norm_on_images_uses_each_samples_own_statistics():
    x = torch.randn(4, 8, 5, 5) * torch.arange(1.0, 5.0).view(4, 1, 1, 1) + 3.0
    out = norm("layer").layer(8, spatial=True)(x)
    assert torch.allclose(out.mean(dim=(1, 2, 3)), torch.zeros(4), atol=1e-5)
    assert torch.allclose(out.std(dim=(1, 2, 3), unbiased=False), torch.ones(4), atol=1e-3)


def test_instance_norm_normalises_each_channel_of_each_sample():
    x = torch.randn(3, 4, 6, 6) * 5 + torch.randn(3, 4, 1, 1) * 10
    out = norm("instance").layer(4, spatial=True)(x)
    assert torch.allclose(out.mean(dim=(2, 3)), torch.zeros(3, 4), atol=1e-4)
    assert torch.allclose(out.std(dim=(2, 3), unbiased=False), torch.ones(3, 4), atol=1e-3)


def test_batch_norm_train_uses_batch_statistics_eval_uses_running_ones():
    bn = norm("batch").layer(6, spatial=False)
    x = torch.randn(256, 6) * 3 + 5
    bn.train()
    out = bn(x)
    assert torch.allclose(out.mean(0), torch.zeros(6), atol=1e-4)
    assert torch.allclose(out.std(0, unbiased=False), torch.ones(6), atol=1e-3)
    assert torch.all(bn.running_mean > 0.4)  # one step of momentum 0.1 towards 5
    fresh = norm("batch").layer(6, spatial=False).eval()
    # Fresh running statistics (mean 0, var 1): eval mode is (nearly) the identity.
    assert torch.allclose(fresh(x), x, atol=1e-3)
    for _ in range(100):
        bn(x)
    bn.eval()
    assert torch.allclose(bn.running_mean, x.mean(0), atol=1e-2)
    assert torch.allclose(bn(x[:3]), out[:3], atol=1e-2)  # same as batch stats once converged
    # Eval mode treats samples independently of their batch; train mode does not.
    assert torch.allclose(bn(x[:1]), bn(x[:5])[:1], atol=1e-6)
    bn.train()
    assert not torch.allclose(bn(x[:2])[:1], bn(x[:5])[:1], atol=1e-2)


@pytest.mark.parametrize(
    "make, as_matrix",
    [
        (lambda: nn.Linear(32, 48), lambda w: w),
        (lambda: nn.Conv2d(3, 16, 3), lambda w: w.flatten(1)),
        (lambda: nn.ConvTranspose2d(16, 8, 4), lambda w: w.transpose(0, 1).flatten(1)),
    ],
    ids=["linear", "conv", "conv-transpose"],
)
def test_spectral_norm_bounds_the_largest_singular_value(make, as_matrix):
    torch.manual_seed(0)
    module = make()
    with torch.no_grad():
        module.weight.mul_(10)
    assert top_singular_value(as_matrix(module.weight)) > 5
    module = norm("spectral", {"n_power_iterations": 2}).wrap(module)
    assert hasattr(module.parametrizations, "weight")
    module.train()
    x = torch.randn(2, 32) if isinstance(module, nn.Linear) else torch.randn(2, module.in_channels, 8, 8)
    for _ in range(20):
        module(x)
    assert top_singular_value(as_matrix(module.weight)) == pytest.approx(1.0, abs=0.02)


def test_spectral_norm_eval_mode_keeps_the_estimate():
    module = norm("spectral").wrap(nn.Linear(10, 10)).eval()
    before = module.weight.detach().clone()
    module(torch.randn(3, 10))
    assert torch.equal(module.weight, before)


def test_spectral_norm_rejects_zero_iterations():
    with pytest.raises(gancore.GancoreError, match="n_power_iterations"):
        norm("spectral", {"n_power_iterations": 0})


def test_weight_norm_parametrization_on_linear():
    linear = nn.Linear(5, 3)
    original = linear.weight.detach().clone()
    linear = norm("weight").wrap(linear)
    param = linear.parametrizations.weight
    g, v = param.original0, param.original1
    assert g.shape == (3, 1) and v.shape == (3, 5)
    # Starts from the layer's own weights, with g the norm of each output unit's row.
    assert torch.allclose(linear.weight, original, atol=1e-6)
    assert torch.allclose(g.squeeze(1), original.norm(dim=1), atol=1e-6)
    with torch.no_grad():
        g.mul_(2)
    assert torch.allclose(linear.weight, 2 * original, atol=1e-5)


def test_weight_norm_on_transposed_conv_is_per_output_channel():
    conv = norm("weight").wrap(nn.ConvTranspose2d(4, 6, 3))
    assert conv.parametrizations.weight.original0.shape == (1, 6, 1, 1)


def test_unknown_norm_name_suggests_the_closest():
    with pytest.raises(gancore.UnknownNameError) as info:
        gancore.registry().validate("generator", "mlp", {"norm": "spectal"}, "generator")
    message = str(info.value)
    assert "generator.norm" in message
    assert "did you mean 'spectral'" in message
