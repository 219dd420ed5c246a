"""Twin-GAN: per-domain batch norm, the shared twin generator, the scheme, and its measure."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import gancore
from _gancore_support.domains import domain_layers as domain_norms, set_domain, use_domain
from gancore._run import Run
from gancore_norms.domain_batch import DomainBatchNorm
from gancore_twingan import DOMAIN_A, DOMAIN_B, class_kept

MNIST = gancore.DataSpec((1, 28, 28))

TINY = {
    "data.limit": 64,
    "generator.width": 8,
    "critic_a.width": 8,
    "critic_b.width": 8,
    "train.batch_size": 8,
    "train.steps": 3,
    "train.log_every": 1,
    "train.num_samples": 4,
    "train.device": "cpu",
}


def domain_norm(features: int = 3, spatial: bool = True) -> DomainBatchNorm:
    return gancore.build("normalization", "domain-batch").layer(features, spatial=spatial)


# ---------------------------------------------------------------- domain-batch


def test_layer_is_one_batch_norm_per_domain():
    norm = gancore.build("normalization", "domain-batch", {"domains": 3})
    flat, spatial = norm.layer(5, spatial=False), norm.layer(5, spatial=True)
    for module in (flat, spatial):
        assert isinstance(module, DomainBatchNorm) and module.domains == 3
        assert module.weight.shape == module.bias.shape == module.running_mean.shape == (3, 5)
    assert flat(torch.randn(4, 5)).shape == (4, 5)
    with pytest.raises(ValueError, match="4-d"):
        spatial(torch.randn(4, 5))
    lin = nn.Linear(2, 2)
    assert norm.wrap(lin) is lin  # the layers around it are shared, not reparametrised


def test_each_domain_keeps_its_own_running_statistics():
    bn = domain_norm()
    bn.train()
    set_domain(bn, 0)
    bn(torch.randn(64, 3, 4, 4) + 5.0)
    row0 = bn.running_mean[0].clone()
    assert torch.allclose(row0, torch.full((3,), 0.5), atol=0.05)  # momentum 0.1 towards 5
    assert torch.equal(bn.running_mean[1], torch.zeros(3))  # domain 1 untouched
    set_domain(bn, 1)
    bn(torch.randn(64, 3, 4, 4) * 3.0 - 3.0)
    assert torch.equal(bn.running_mean[0], row0)  # domain 0 untouched by domain 1's batch
    assert torch.allclose(bn.running_mean[1], torch.full((3,), -0.3), atol=0.05)
    assert bn.running_var[1].mean() > bn.running_var[0].mean() + 0.5


def test_switching_domain_swaps_statistics_and_affine_parameters():
    bn = domain_norm()
    with torch.no_grad():
        bn.running_mean.copy_(torch.tensor([[1.0, 1.0, 1.0], [-2.0, -2.0, -2.0]]))
        bn.running_var.copy_(torch.tensor([[4.0, 4.0, 4.0], [1.0, 1.0, 1.0]]))
        bn.weight.copy_(torch.tensor([[1.0, 1.0, 1.0], [-1.0, 2.0, 3.0]]))
        bn.bias.copy_(torch.tensor([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]]))
    bn.eval()
    x = torch.randn(2, 3, 4, 4)
    eps = bn.eps
    set_domain(bn, 0)
    assert torch.allclose(bn(x), (x - 1.0) / (4.0 + eps) ** 0.5, atol=1e-5)
    set_domain(bn, 1)
    scale = torch.tensor([-1.0, 2.0, 3.0]).view(1, 3, 1, 1)
    assert torch.allclose(bn(x), (x + 2.0) / (1.0 + eps) ** 0.5 * scale + 0.5, atol=1e-5)


def test_set_domain_walks_a_whole_network_and_checks_the_range():
    gen = gancore.build("generator", "dcgan", {"width": 8, "latent_dim": 4, "norm": "domain-batch"}, spec=MNIST)
    norms = domain_norms(gen)
    assert len(norms) >= 2
    assert set_domain(gen, 1) == len(norms)
    assert all(n.domain == 1 for n in norms)
    with use_domain(gen, 0):
        assert all(n.domain == 0 for n in norms)
    assert all(n.domain == 1 for n in norms)  # restored
    with pytest.raises(ValueError, match="out of range"):
        set_domain(gen, 2)
    # A network built with it runs and gives gradients to every domain's parameters
    gen.train()
    gen(torch.randn(4, 4)).sum().backward()
    assert all(n.weight.grad is not None for n in norms)


# ---------------------------------------------------------------- the twin generator


def test_twin_generator_shares_everything_but_the_domain_norms():
    torch.manual_seed(0)
    gen = gancore.build("generator", "twin", {"width": 8}, spec=MNIST)
    assert gen.num_classes is None and not hasattr(gen, "latent_dim")
    with torch.no_grad():  # give the domains different norm parameters, as training would
        for norm in domain_norms(gen):
            norm.weight[1].uniform_(0.5, 1.5)
            norm.bias[1].uniform_(-0.5, 0.5)
    gen.eval()
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    h = gen.encode(x, DOMAIN_A)
    assert h.shape == (4, 16, 7, 7)
    to_a, to_b = gen.decode(h, DOMAIN_A), gen.decode(h, DOMAIN_B)
    assert to_a.shape == x.shape and (to_a - to_b).abs().max() > 1e-2
    assert torch.allclose(gen(x), to_b)  # forward translates 0 -> 1
    # Copying domain B's norm rows into domain A makes A render exactly as B: nothing else differs.
    with torch.no_grad():
        for norm in domain_norms(gen):
            for t in (norm.weight, norm.bias, norm.running_mean, norm.running_var):
                t[0] = t[1]
    assert torch.allclose(gen.decode(h, DOMAIN_A), to_b, atol=1e-6)


def test_twin_generator_rejects_points_and_odd_sizes():
    for shape in [(2,), (1, 30, 30)]:
        with pytest.raises(gancore.GancoreError):
            gancore.build("generator", "twin", {}, spec=gancore.DataSpec(shape))


# ---------------------------------------------------------------- the scheme


def test_scheme_trains_and_samples_a_ab_b_ba_tiles():
    rows = []
    run = Run.create("twingan-mnist", overrides=TINY)
    run.train(report=rows.append)
    assert run.step == 3 and len(rows) == 3
    for key in ("loss_critic", "loss_generator", "loss_reconstruction", "loss_cycle", "loss_gan_reconstruction"):
        assert all(torch.isfinite(torch.tensor(r[key])) for r in rows), key
    assert rows[0]["loss_reconstruction"] > 0 and rows[0]["loss_cycle"] > 0
    tiles = run.sample(4)
    assert tiles.shape == (4, 1, 28, 4 * 28)
    first = run.batches.peek(4)
    assert torch.equal(tiles[..., :28], first["a"]) and torch.equal(tiles[..., 56:84], first["b"])
    assert tiles.abs().max() <= 1.0


def test_reconstruction_improves_with_training():
    over = TINY | {"train.steps": 20, "train.log_every": 5, "optim.lr": 3e-3, "data.limit": 128}
    rows = []
    Run.create("twingan-mnist", overrides=over).train(report=rows.append)
    assert rows[-1]["loss_reconstruction"] < 0.7 * rows[0]["loss_reconstruction"]




def test_scheme_needs_unpaired_data():
    with pytest.raises(gancore.GancoreError, match="fields 'a' and 'b'"):
        Run.create("twingan-mnist", overrides=TINY | {"data": {"name": "mnist", "limit": 64}})


# ---------------------------------------------------------------- the measure


class _Translator(nn.Module):
    """A stand-in scheme whose translations apply one fixed function in both directions."""

    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn
        self.dummy = nn.Parameter(torch.zeros(1))

    def translate_ab(self, a):
        return self.fn(a)

    def translate_ba(self, b):
        return self.fn(b)


def test_class_kept_counts_translations_that_keep_their_digit():
    x = gancore.build("dataset", "mnist", {"limit": 200}).tensors
    x["x"] = gancore.as_float(x["x"])
    # plain digits <-> inverted digits, from disjoint images
    data = {"a": x["x"][:100], "label_a": x["label"][:100], "b": -x["x"][100:], "label_b": x["label"][100:]}
    logits = gancore.build("features", "mnist").logits
    perfect = class_kept(_Translator(torch.neg), data, logits, unstyle_b=torch.neg)
    assert perfect.real_a > 0.9 and perfect.real_b > 0.9
    assert perfect.a_to_b == perfect.real_a and perfect.b_to_a == perfect.real_b
    assert perfect.both == pytest.approx((perfect.a_to_b + perfect.b_to_a) / 2)
    # A "translator" that leaves images as they are never reaches the other domain: the
    # a -> B output, unstyled, is an inverted digit the plain-digit classifier cannot read.
    unchanged = class_kept(_Translator(lambda t: t), data, logits, unstyle_b=torch.neg)
    assert unchanged.a_to_b < 0.5 and unchanged.b_to_a < 0.5
