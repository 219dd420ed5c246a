"""Augmentation (issue 13): the transforms, the engine hooking them onto every critic
call, ADA's adaptive probability and its exact resume."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import gancore
from gancore.testing import STANDARD_SPECS
from gancore_augment import ops

TINY_MNIST = {"train.device": "cpu", "train.batch_size": 16, "train.log_every": 1, "train.sample_every": 0,
              "train.checkpoint_every": 0, "generator.width": 8, "critic.width": 8, "data.limit": 64}


def test_translation_moves_whole_pixels_within_an_eighth_of_the_side():
    torch.manual_seed(0)
    x = torch.full((64, 1, 16, 16), -1.0)
    x[:, 0, 8, 8] = 1.0
    out = ops.translation(x, gancore.Random())
    for sample in out[:, 0]:
        where = (sample == 1.0).nonzero()
        assert len(where) == 1  # moved, not blurred
        dy, dx = (where[0] - torch.tensor([8, 8])).tolist()
        assert abs(dy) <= 2 and abs(dx) <= 2
    shifts = {tuple(((s == 1.0).nonzero()[0] - 8).tolist()) for s in out[:, 0]}
    assert len(shifts) > 10  # each sample draws its own shift
    assert (out == 0).any()  # the uncovered border is filled with 0


def test_cutout_blanks_one_square_of_half_the_side():
    torch.manual_seed(0)
    out = ops.cutout(torch.ones(32, 3, 16, 16), gancore.Random())
    blank = out == 0
    assert torch.equal(blank[:, :1].expand_as(blank), blank)  # every channel alike
    for mask in blank[:, 0]:
        rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
        assert 4 <= len(rows) <= 8 and 4 <= len(cols) <= 8  # a square of 8, cut by the border at most in half
        assert mask.sum() == len(rows) * len(cols)  # one rectangle


def test_a_per_sample_mask_leaves_the_other_samples_alone():
    torch.manual_seed(0)
    x = torch.rand(8, 3, 8, 8) * 2 - 1
    apply = torch.tensor([True, False] * 4)
    for name, transform in ops.TRANSFORMS.items():
        out = transform(x, gancore.Random(), apply)
        assert torch.equal(out[~apply], x[~apply]), name


def test_the_critic_sees_augmented_samples_in_every_update_and_raw_ones_in_eval_mode():
    seen: list[tuple[bool, torch.Tensor]] = []

    class Recording(nn.Module):
        def __init__(self):
            super().__init__()
            self.score = nn.Linear(28 * 28, 1)

        def forward(self, x, labels=None):
            seen.append((self.training, x.detach().clone()))
            return self.score(x.flatten(1)).squeeze(1)

    critic = Recording()
    recipe = {"data": {"name": "mnist", "limit": 64}, "generator": {"name": "dcgan", "latent_dim": 8, "width": 8},
              "train": {"steps": 2, "batch_size": 16, "device": "cpu", "sample_every": 0, "checkpoint_every": 0},
              "augment": [{"name": "diffaugment", "policy": ["cutout"]}]}
    run = gancore.create_run(recipe, critic=critic)
    run.train()
    # Each step: real and fake in the critic's update, fake in the generator's.
    assert len(seen) == 6
    for training, x in seen:
        # MNIST's background is -1; cutout's square of 14 x 14 is 0, at least 7 x 7 of it inside.
        assert training and ((x == 0).flatten(1).sum(1) >= 49).all()
    seen.clear()
    critic.eval()
    real = gancore.as_float(run.dataset.tensors["x"][:4])
    critic(real)
    assert torch.equal(seen[0][1], real)


def test_the_generator_learns_through_the_augmentation():
    run = gancore.create_run("dcgan-mnist", overrides=TINY_MNIST | {"train.steps": 1, "augment": [{"name": "diffaugment"}]})
    before = [p.detach().clone() for p in run.scheme.generator.parameters()]
    run.train()
    assert any(not torch.equal(b, p) for b, p in zip(before, run.scheme.generator.parameters()))


def _ada(**params):
    return gancore.build("augment", "ada", params, spec=STANDARD_SPECS["mnist"])


def test_ada_raises_p_while_the_critic_overfits_and_lowers_it_after():
    ada = _ada(speed=320, interval=4)
    for _ in range(3):
        ada.observe(torch.ones(8))
    assert ada.p.item() == 0.0  # adjusted every 4 critic updates only
    ada.observe(torch.ones(8))
    assert ada.p.item() == pytest.approx(32 / 320)  # sign(1 - 0.6) * 32 images / speed
    for _ in range(8):
        ada.observe(torch.ones(8))
    assert ada.p.item() == pytest.approx(0.3)
    for _ in range(40):
        ada.observe(-torch.ones(8))  # r_t = -1 < target: the critic no longer overfits
    assert ada.p.item() == 0.0  # clamped at 0


def test_ada_respects_its_maximum_and_applies_each_transform_with_probability_p():
    ada = _ada(speed=8, interval=1, maximum=0.5, policy=["cutout"])
    for _ in range(10):
        ada.observe(torch.ones(8))
    assert ada.p.item() == 0.5
    torch.manual_seed(0)
    x = torch.full((2000, 1, 28, 28), -1.0)
    out = ada(x)
    blanked = ((out == 0).flatten(1).sum(1) >= 49).float().mean().item()  # samples that got a cutout
    assert 0.4 < blanked < 0.6


def test_ada_logs_p_and_resumes_bit_identically(tmp_path):
    recipe = TINY_MNIST | {"train.steps": 4, "augment": [{"name": "ada", "speed": 2000, "interval": 1, "initial": 0.3}]}
    straight = gancore.create_run("dcgan-mnist", overrides=recipe)
    rows = []
    straight.train(report=rows.append)
    assert "ada_p" in rows[-1] and rows[-1]["ada_p"] != 0.3
    gancore.create_run("dcgan-mnist", overrides=recipe, out=tmp_path / "run").train(2)
    resumed = gancore.load_run(tmp_path / "run").train()
    a, b = straight.scheme.state_dict(), resumed.scheme.state_dict()
    assert "augmentation.augments.0.p" in a
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_recipe_errors_name_the_augment_table():
    with pytest.raises(gancore.UnknownNameError, match=r"augment\.0\.name: unknown augment 'difaugment'.*diffaugment"):
        gancore.create_run("dcgan-mnist", overrides={"augment": [{"name": "difaugment"}]})
    with pytest.raises(gancore.GancoreError, match=r"augment\.0\.policy"):
        gancore.create_run("dcgan-mnist", overrides={"augment": [{"name": "diffaugment", "policy": ["rotate"]}]})
    with pytest.raises(gancore.GancoreError, match="diffaugment augments images"):
        gancore.create_run("gan-ring", overrides={"augment": [{"name": "diffaugment"}]})


# ---------------------------------------------------------------- every scheme, every critic call


class CountingAugment(gancore.Augment):
    """The identity, counting the batches it sees whose graph leads back to a generator: the
    generated samples of a generator update (a critic update's fakes are detached)."""

    seen_in_generator_updates = 0

    def forward(self, x):
        if torch.is_grad_enabled() and x.grad_fn is not None:
            type(self).seen_in_generator_updates += 1
        return x


class _CountingPlugin:
    @staticmethod
    @gancore.hookimpl
    def register_parts(register):
        register("augment", "counting", CountingAugment)


def _schemes_with_a_critic():
    from gancore.testing._cases import _scheme_source

    reg = gancore.registry()
    for name in reg.names("scheme"):
        slots = reg.get("scheme", name).factory.slots.values()
        if any(slot.kind == "critic" for slot in slots):
            yield name, _scheme_source(reg, reg.get("scheme", name))[1]


@pytest.mark.parametrize("scheme, source", list(_schemes_with_a_critic()))
def test_every_scheme_augments_the_samples_of_its_generator_update(fresh_host, scheme, source):
    """The run's augmentation reaches the critic in every path a scheme can take, the
    generator's update included (InfoGAN calls its critic's body and heads itself)."""
    host = fresh_host()
    host.register(_CountingPlugin, "counting-augment")
    from gancore.testing._runs import RESUME_SETTINGS

    overrides = {**RESUME_SETTINGS, "train.amp": "off", "train.steps": 1, "augment.0.name": "counting"}
    run = gancore.create_run(source, overrides=overrides, registry=host.registry)
    CountingAugment.seen_in_generator_updates = 0
    run.train()
    assert CountingAugment.seen_in_generator_updates > 0, f"{scheme}: the generator update's samples were not augmented"
