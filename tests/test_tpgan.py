"""TP-GAN: rotated-MNIST data, the fixed boxes, the two-pathway generator, the scheme's
loss terms, training, sampling and exact resume."""

from __future__ import annotations

import copy

import pytest
import torch

import gancore
from gancore._run import Run
from gancore_tpgan.boxes import patch_boxes
from gancore_tpgan.data import rotate

TINY = {
    "description": "tiny tp-gan for tests",
    "scheme": {"name": "tp-gan"},
    "data": {"name": "mnist-rotated", "limit": 64},
    "generator": {"name": "tp", "width": 4, "local_width": 2, "bottleneck": 16, "patches": "bands"},
    "critic": {"name": "patchgan", "width": 4, "layers": 1},
    "train": {"steps": 6, "batch_size": 8, "log_every": 1, "sample_every": 0, "checkpoint_every": 0,
              "num_samples": 4, "device": "cpu"},
}
SPEC = gancore.DataSpec((1, 28, 28), 10, {"source": (1, 28, 28), "x": (1, 28, 28), "label": ()})


def tiny(**overrides) -> Run:
    return Run.create(copy.deepcopy(TINY), overrides=overrides)



# ---------------------------------------------------------------- data


def test_rotate_matches_quarter_turns_and_keeps_the_background():
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    assert torch.allclose(rotate(x, torch.zeros(3)), x, atol=1e-5)
    assert torch.allclose(rotate(x, torch.full((3,), 90.0)), torch.rot90(x, 1, dims=(-2, -1)), atol=1e-5)
    blank = torch.full((2, 1, 28, 28), -1.0)
    assert torch.allclose(rotate(blank, torch.tensor([30.0, -60.0])), blank)


def test_mnist_rotated_pairs_a_turned_digit_with_the_upright_one():
    data = gancore.build("dataset", "mnist-rotated", {"limit": 200, "min_angle": 45, "max_angle": 90})
    t = data.tensors
    assert t["source"].shape == t["x"].shape == (200, 1, 28, 28) and t["label"].shape == t["angle"].shape == (200,)
    size = t["angle"].abs()
    assert size.min() >= 45 and size.max() <= 90 and (t["angle"] < 0).any() and (t["angle"] > 0).any()
    # Turning the source back recovers the upright digit far better than leaving it turned.
    back = rotate(t["source"], -t["angle"])
    assert (back - t["x"]).abs().mean() < 0.4 * (t["source"] - t["x"]).abs().mean()
    held = gancore.build("dataset", "mnist-rotated", {"subset": "held-out", "limit": 200}).tensors
    assert not torch.equal(held["x"], t["x"])
    with pytest.raises(gancore.GancoreError, match="min_angle"):
        gancore.build("dataset", "mnist-rotated", {"min_angle": 80, "max_angle": 50})


# ---------------------------------------------------------------- the generator


@pytest.mark.parametrize("layout, count", [("quadrants", 4), ("bands", 3)])
@pytest.mark.parametrize("size", [28, 32])
def test_boxes_cover_the_image_inside_its_bounds(layout, count, size):
    boxes = patch_boxes(layout, size, size)
    assert len(boxes) == count
    covered = torch.zeros(size, size, dtype=torch.bool)
    for b in boxes:
        assert b.top >= 0 and b.left >= 0 and b.top + b.height <= size and b.left + b.width <= size
        covered[b.top : b.top + b.height, b.left : b.left + b.width] = True
    assert covered.all()
    assert patch_boxes("none", size, size) == []


def test_local_pathways_see_only_their_boxes():
    torch.manual_seed(0)
    gen = gancore.build("generator", "tp", {"width": 4, "local_width": 3, "patches": "bands"}, spec=SPEC).eval()
    x = torch.rand(2, 1, 28, 28) * 2 - 1
    changed = x.clone()
    changed[..., :8, :] = -1.0  # rows only the top band (rows 0-11) sees
    with torch.no_grad():
        before, after = gen.local_features(x), gen.local_features(changed)
        assert before.shape == (2, 3, 28, 28)
        assert torch.equal(before[..., 20:, :], after[..., 20:, :])  # only the bottom band there
        assert not torch.equal(before[..., :8, :], after[..., :8, :])
        # The fused map reaches the output: silencing the local pathways changes it.
        out = gen(x)
        for p in gen.local_paths.parameters():
            p.zero_()
        assert not torch.allclose(gen(x), out)
    assert out.shape == (2, 1, 28, 28) and out.abs().max() <= 1


def test_tp_generator_without_patches_is_global_only():
    gen = gancore.build("generator", "tp", {"width": 4, "patches": "none"}, spec=SPEC)
    assert len(gen.local_paths) == 0
    assert gen(torch.zeros(2, 1, 28, 28)).shape == (2, 1, 28, 28)
    with pytest.raises(gancore.GancoreError, match="image data"):
        gancore.build("generator", "tp", {}, spec=gancore.DataSpec((2,)))


# ---------------------------------------------------------------- the scheme


def test_tp_gan_trains_every_term_and_samples_triptychs():
    reported = []
    run = tiny().train(report=reported.append)
    assert run.step == 6
    keys = {"loss_pixel", "loss_symmetry", "loss_identity", "loss_total_variation", "loss_generator", "loss_critic"}
    for row in reported:
        assert keys <= row.keys()
        assert all(torch.isfinite(torch.tensor(row[k])) for k in keys)
    samples = run.sample(3)
    assert samples.shape == (3, 1, 28, 84)  # source | output | target
    data = run.dataset.tensors
    assert torch.equal(samples[..., :28], data["source"][:3]) and torch.equal(samples[..., 56:], data["x"][:3])


def test_zero_weights_switch_terms_and_the_critic_off():
    run = tiny(**{"scheme.adversarial_weight": 0.0, "scheme.symmetry_weight": 0.0,
                  "scheme.identity_weight": 0.0, "scheme.tv_weight": 0.0})
    critic_before = {k: v.clone() for k, v in run.scheme.critic.state_dict().items()}
    gen_before = [p.clone() for p in run.scheme.generator.parameters()]
    reported = []
    run.train(report=reported.append)
    assert {k for k in reported[-1] if k.startswith("loss_")} == {"loss_pixel", "loss_total"}
    assert reported[-1]["loss_total"] == pytest.approx(reported[-1]["loss_pixel"])
    for k, v in run.scheme.critic.state_dict().items():
        assert torch.equal(v, critic_before[k]), k
    assert any(not torch.equal(a, b) for a, b in zip(gen_before, run.scheme.generator.parameters()))


def test_pixel_loss_falls_with_training():
    run = tiny(**{"train.steps": 30, "scheme.adversarial_weight": 0.0, "optim.lr": 2e-3})
    reported = []
    run.train(report=reported.append)
    first = sum(r["loss_pixel"] for r in reported[:5]) / 5
    last = sum(r["loss_pixel"] for r in reported[-5:]) / 5
    assert last < 0.7 * first


def test_tp_gan_needs_paired_data():
    with pytest.raises(gancore.GancoreError, match="source"):
        Run.create({**copy.deepcopy(TINY), "data": {"name": "mnist", "limit": 64}})
