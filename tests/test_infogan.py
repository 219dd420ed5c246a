"""InfoGAN: latent layout, the mutual-information term, the scheme, resume, and matching."""

from __future__ import annotations

import copy
import math

import pytest
import torch

import gancore
from gancore import GancoreError
from gancore._run import Run
from gancore_infogan import LatentLayout, QOutput, code_agreement, information_loss
from gancore_infogan.codes import grid_categories

TINY = {
    "description": "tiny infogan for tests",
    "scheme": {"name": "infogan", "categories": 4, "continuous": 1, "q_hidden": 16},
    "data": {"name": "mnist", "limit": 256},
    "generator": {"name": "infogan", "noise_dim": 8, "categories": 4, "continuous": 1, "width": 8, "hidden": 32},
    "critic": {"name": "infogan", "width": 8, "hidden": 32},
    "train": {"steps": 40, "batch_size": 32, "log_every": 5, "sample_every": 0, "checkpoint_every": 0,
              "num_samples": 16, "device": "cpu"},
    "optim": {"betas": [0.5, 0.999], "generator": {"lr": 1e-3}, "critic": {"lr": 2e-4}},
}


def tiny(**overrides) -> Run:
    return Run.create(copy.deepcopy(TINY), overrides=overrides)



# ---------------------------------------------------------------- the latent


def test_latent_layout_puts_codes_where_the_generator_reads_them():
    layout = LatentLayout(noise_dim=5, categories=4, continuous=2)
    codes = layout.draw(300, "cpu", gancore.Random(torch.Generator().manual_seed(0)))
    assert codes.latent.shape == (300, 11) and layout.latent_dim == 11
    assert torch.equal(codes.latent[:, 5:9].argmax(1), codes.category)
    assert torch.equal(codes.latent[:, 5:9].sum(1), torch.ones(300))
    assert torch.equal(codes.latent[:, 9:], codes.continuous)
    assert codes.continuous.min() >= -1 and codes.continuous.max() <= 1
    assert codes.continuous.min() < -0.9 and codes.continuous.max() > 0.9  # the whole interval
    assert set(codes.category.tolist()) == {0, 1, 2, 3}
    fixed = layout.draw(6, "cpu", gancore.Random(), category=torch.full((6,), 2))
    assert torch.equal(fixed.latent[:, 5:9].argmax(1), torch.full((6,), 2))


def test_grid_rows_show_one_category_each():
    # 100 samples -> 10 columns: row k is category k
    rows = grid_categories(100, 10).view(10, 10)
    assert torch.equal(rows, torch.arange(10).unsqueeze(1).expand(10, 10))
    # more rows than categories (a draw for statistics): every category equally often
    assert torch.bincount(grid_categories(500, 10)).tolist() == [50] * 10


@pytest.mark.parametrize("categories, continuous", [(1, 2), (0, 0), (-1, 2)])
def test_unusable_code_sizes_are_rejected(categories, continuous):
    with pytest.raises(ValueError):
        LatentLayout(4, categories, continuous)


# ---------------------------------------------------------------- the information term


def test_information_loss_values():
    layout = LatentLayout(3, 4, 2)
    codes = layout.draw(8, "cpu", gancore.Random())
    confident = QOutput(torch.nn.functional.one_hot(codes.category, 4).float() * 50, codes.continuous.clone())
    terms = information_loss(confident, codes, info_weight=2.0, continuous_weight=0.1)
    assert terms.categorical < 1e-6 and terms.accuracy == 1.0
    # exact means: NLL of a unit Gaussian at its mean, per code, summed over the 2 codes
    assert terms.continuous.item() == pytest.approx(2 * 0.5 * math.log(2 * math.pi), rel=1e-6)
    assert terms.total.item() == pytest.approx(2.0 * (terms.categorical + 0.1 * terms.continuous).item())
    guessing = QOutput(torch.zeros(8, 4), torch.zeros(8, 2))
    uniform = information_loss(guessing, codes)
    assert uniform.categorical.item() == pytest.approx(math.log(4), rel=1e-6)
    assert uniform.continuous > terms.continuous


def test_q_head_learns_the_categorical_code():
    """The MI term does its job: Q reads the category of fresh samples far above chance."""
    torch.manual_seed(0)
    rows = []
    run = tiny(**{"train.steps": 60})
    run.train(report=rows.append)
    first, last = rows[0]["info_categorical"], rows[-1]["info_categorical"]
    assert first > 0.8 * math.log(4)  # starts near chance (log 4 for 4 categories)
    assert last < 0.6 * first, [r["info_categorical"] for r in rows]
    assert all(math.isfinite(r["loss_critic"]) and math.isfinite(r["loss_generator"]) for r in rows)
    scheme = run.scheme
    category = torch.arange(4).repeat_interleave(50)
    scheme.generator.eval()
    with torch.no_grad():
        x = scheme.sample(gancore.SampleRequest(200, torch.device("cpu"), labels=category, generator=torch.Generator().manual_seed(1)))
        # Q reads a batch as in training (batch statistics): after 60 steps the critic's
        # running statistics still mix real and near-blank fake batches.
        read = scheme.q(x).logits.argmax(1)
    assert (read == category).float().mean() > 0.8  # chance is 0.25


# ---------------------------------------------------------------- the scheme in a run


def test_sample_shapes_and_fixed_categories():
    run = tiny(**{"train.steps": 3})
    run.train()
    assert run.scheme.sample_labels == 4 and run.scheme.num_classes is None
    x = run.sample(16)
    assert x.shape == (16, 1, 28, 28) and x.abs().max() <= 1
    scheme = run.scheme.eval()
    cpu = torch.device("cpu")

    def draw(n, category, seed=7):
        labels = torch.full((n,), category) if isinstance(category, int) else category
        return scheme.sample(gancore.SampleRequest(n, cpu, labels=labels, generator=torch.Generator().manual_seed(seed)))

    two, three = draw(6, 2), draw(6, 3)
    assert two.shape == (6, 1, 28, 28)
    assert torch.equal(two, draw(6, 2))
    assert not torch.equal(two, three)  # the category is what changed
    with pytest.raises(ValueError, match="out of range"):
        draw(2, torch.tensor([0, 4]))



def test_generator_also_runs_under_the_plain_scheme():
    recipe = copy.deepcopy(TINY)
    del recipe["scheme"]
    run = Run.create(recipe, overrides={"train.steps": 2})
    run.train()
    assert run.sample(4).shape == (4, 1, 28, 28)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"scheme.categories": 5}, "categories"),
        ({"scheme.continuous": 3}, "continuous"),
        ({"critic": {"name": "mlp"}}, "features"),
        ({"generator": {"name": "mlp", "latent_dim": 5}}, "no room for noise"),
        ({"generator.categories": 1, "scheme.categories": 1}, "constant code"),
    ],
)
def test_mismatches_are_clear_errors(overrides, message):
    with pytest.raises(GancoreError, match=message):
        tiny(**overrides)


def test_networks_reject_shapes_they_do_not_support():
    for spec in (gancore.DataSpec((2,)), gancore.DataSpec((1, 30, 30)), gancore.DataSpec((1, 28, 32))):
        for kind in ("generator", "critic"):
            with pytest.raises(GancoreError, match="infogan"):
                gancore.build(kind, "infogan", {}, spec=spec)


# ---------------------------------------------------------------- measuring


def test_code_agreement_finds_the_best_matching():
    category = torch.arange(5).repeat_interleave(20)
    permutation = torch.tensor([3, 0, 4, 1, 2])
    predicted = permutation[category].clone()
    predicted[::10] = 0  # 10 of 100 samples land on a wrong class
    result = code_agreement(category, predicted, 5, 5)
    assert result.mapping == {0: 3, 1: 0, 2: 4, 3: 1, 4: 2}
    assert result.accuracy == pytest.approx(0.92)  # two of the ten were class 0 already
    assert result.counts.sum() == 100


@pytest.mark.parametrize("n", [6, 16, 200])
def test_sampled_labels_are_the_categories_the_samples_were_drawn_with(tmp_path, n):
    """`gancore sample --out x.npz` stores with each sample the category it was drawn for:
    drawing again with those labels gives the same samples, for a grid-sized n (where
    category k fills row k) as for a large one (every category in turn)."""
    import numpy as np
    from typer.testing import CliRunner

    from gancore.cli import app

    Run.create(copy.deepcopy(TINY), overrides={"train.steps": 2}, out=tmp_path / "run").train()
    out = tmp_path / "s.npz"
    result = CliRunner().invoke(app, ["sample", str(tmp_path / "run"), "--num", str(n), "--seed", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    stored = np.load(out)
    labels = torch.from_numpy(stored["labels"])
    assert labels.shape == (n,)
    expected = grid_categories(n, 4)
    assert torch.equal(labels, expected)
    again = Run.load(tmp_path / "run", device="cpu").sample(n, labels=labels, seed=3)
    assert torch.equal(again, torch.from_numpy(stored["samples"]))
