"""Recycle-GAN: moving-MNIST data, next-frame pairs, the frame predictor, per-frame
adapters, the scheme's paths, training, sampling and exact resume."""

from __future__ import annotations

import copy

import pytest
import torch

import gancore
from gancore._run import Run
from gancore_recyclegan.data import draw_velocities, move
from gancore_recyclegan.sequences import next_frame_pairs

TINY = {
    "description": "tiny recycle-gan for tests",
    "scheme": {"name": "recycle-gan"},
    "data": {"name": "moving-mnist", "frames": 4, "limit": 64},
    "generator_y": {"name": "per-frame", "network": "unet", "params": {"width": 4, "depth": 2}},
    "generator_x": {"name": "per-frame", "network": "unet", "params": {"width": 4, "depth": 2}},
    "critic_x": {"name": "per-frame", "network": "patchgan", "params": {"width": 4, "layers": 1}},
    "critic_y": {"name": "per-frame", "network": "patchgan", "params": {"width": 4, "layers": 1}},
    "predictor_x": {"name": "frame-predictor", "width": 4, "depth": 1},
    "predictor_y": {"name": "frame-predictor", "width": 4, "depth": 1},
    "train": {"steps": 6, "batch_size": 4, "log_every": 1, "sample_every": 0, "checkpoint_every": 0,
              "num_samples": 4, "device": "cpu"},
}


def tiny(**overrides) -> Run:
    return Run.create(copy.deepcopy(TINY), overrides=overrides)



# ---------------------------------------------------------------- data


def test_moving_mnist_moves_each_digit_at_its_velocity():
    data = gancore.build("dataset", "moving-mnist", {"limit": 40, "frames": 5, "max_speed": 2})
    t = data.tensors
    assert t["a"].shape == t["b"].shape == (20, 5, 1, 28, 28)
    assert t["x"] is t["b"] and data.spec.shape == (5, 1, 28, 28)
    velocity = t["velocity_a"]
    assert (velocity.abs() <= 2).all() and (velocity.abs().sum(1) > 0).all()
    # Frame t+1 is frame t moved by the velocity: compare away from the borders, where
    # pixels may enter from outside.
    for seq, v in zip(t["a"][:6], velocity[:6]):
        for step in range(4):
            moved = torch.roll(seq[step], shifts=(int(v[0]), int(v[1])), dims=(-2, -1))
            assert torch.equal(moved[..., 4:-4, 4:-4], seq[step + 1][..., 4:-4, 4:-4])
    # Domain B is thick: more ink than A, drawn from other images.
    assert (t["b"] > 0).float().mean() > 1.5 * (t["a"] > 0).float().mean()
    assert not torch.equal(t["label_a"], t["label_b"])


def test_move_fills_with_background_and_velocities_skip_zero():
    image = torch.full((1, 1, 6, 6), -1.0)
    image[0, 0, 1, 4] = 1.0
    frames = move(image, torch.tensor([[[0, 0], [2, 1], [-1, -3]]]))
    assert [tuple((f[0] == 1).nonzero().tolist()[0]) for f in frames[0]] == [(1, 4), (3, 5), (0, 1)]
    assert frames.min() == -1.0
    v = draw_velocities(5000, 1, torch.Generator().manual_seed(0))
    pairs = {tuple(p) for p in v.tolist()}
    assert len(pairs) == 8 and (0, 0) not in pairs


def test_next_frame_pairs_line_up():
    seq = torch.arange(2 * 5, dtype=torch.float32).view(2, 5, 1, 1, 1).expand(2, 5, 1, 2, 2)
    history, target = next_frame_pairs(seq, 2)
    assert history.shape == (6, 2, 1, 2, 2) and target.shape == (6, 1, 2, 2)
    # sequence 0 has frames 0..4, sequence 1 frames 5..9
    assert history[:, :, 0, 0, 0].tolist() == [[0, 1], [1, 2], [2, 3], [5, 6], [6, 7], [7, 8]]
    assert target[:, 0, 0, 0].tolist() == [2, 3, 4, 7, 8, 9]
    with pytest.raises(ValueError):
        next_frame_pairs(seq[:, :2], 2)


# ---------------------------------------------------------------- networks


SEQ_SPEC = gancore.DataSpec((4, 1, 28, 28), None, {"a": (4, 1, 28, 28), "b": (4, 1, 28, 28), "x": (4, 1, 28, 28)})


def test_frame_predictor_reads_only_its_context():
    torch.manual_seed(0)
    predictor = gancore.build("predictor", "frame-predictor", {"width": 4, "context": 2}, spec=SEQ_SPEC).eval()
    seq = torch.rand(3, 4, 1, 28, 28) * 2 - 1
    out = predictor(seq)
    assert out.shape == (3, 1, 28, 28) and out.abs().max() <= 1
    changed = seq.clone()
    changed[:, :2] = 0  # frames before the last two
    assert torch.equal(predictor(changed), out)
    changed[:, 2] = 0
    assert not torch.allclose(predictor(changed), out)
    # One frame (4-D, or T = 1) is read as a digit standing still.
    frame = seq[:, 0]
    assert torch.equal(predictor(frame), predictor(torch.stack([frame, frame], 1)))


def test_frame_predictor_learns_to_extrapolate_motion():
    """Fitted on moving digits, P beats copying the last frame on other sequences."""
    torch.manual_seed(0)
    data = gancore.build("dataset", "moving-mnist", {"limit": 512, "max_speed": 1}).tensors["a"]
    history, target = next_frame_pairs(data, 2)
    train_h, train_t, test_h, test_t = history[:400], target[:400], history[400:], target[400:]
    predictor = gancore.build("predictor", "frame-predictor", {"width": 8, "depth": 1}, spec=SEQ_SPEC)
    opt = torch.optim.Adam(predictor.parameters(), lr=3e-3)
    for step in range(60):
        idx = torch.randint(0, len(train_h), (32,))
        loss = (predictor(train_h[idx]) - train_t[idx]).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        predicted = (predictor(test_h) - test_t).abs().mean()
    copy_last = (test_h[:, -1] - test_t).abs().mean()
    assert predicted < 0.8 * copy_last


def test_per_frame_adapters_fold_time_into_the_batch():
    torch.manual_seed(0)
    gen = gancore.build("generator", "per-frame", {"network": "unet", "params": {"width": 4}}, spec=SEQ_SPEC).eval()
    critic = gancore.build("critic", "per-frame", {"network": "patchgan", "params": {"width": 4}}, spec=SEQ_SPEC).eval()
    seq = torch.rand(2, 4, 1, 28, 28) * 2 - 1
    out = gen(seq)
    assert out.shape == seq.shape
    assert torch.allclose(out[1, 2], gen(seq[1, 2:3])[0], atol=1e-6)
    scores = critic(seq)
    assert scores.shape == (2, 4 * 25)  # 5 x 5 patches per frame
    assert torch.allclose(scores[1, 50:75], critic(seq[1, 2:3])[0], atol=1e-6)
    with pytest.raises(gancore.GancoreError, match="width"):
        gancore.build("generator", "per-frame", {"network": "unet", "params": {"width": "wide"}}, spec=SEQ_SPEC)
    with pytest.raises(gancore.GancoreError, match="latent"):
        gancore.build("generator", "per-frame", {"network": "dcgan"}, spec=SEQ_SPEC)


# ---------------------------------------------------------------- the scheme


def test_recycle_path_composes_translate_predict_translate():
    run = tiny()
    scheme = run.scheme.eval()
    seq = run.dataset.tensors["a"][:3]
    with torch.no_grad():
        expected_history, _ = next_frame_pairs(scheme.translate(scheme.generator_y, seq), 2)
        expected = scheme.generator_x(scheme.predictor_y(expected_history)).view(3, 2, 1, 28, 28)
        assert torch.allclose(scheme.recycle_predict("x", seq), expected, atol=1e-6)
        direct = scheme.predictor_x(next_frame_pairs(seq, 2)[0]).view(3, 2, 1, 28, 28)
        assert torch.allclose(scheme.predict("x", seq), direct, atol=1e-6)


def test_recycle_gan_trains_and_samples_sequences():
    reported = []
    run = tiny().train(report=reported.append)
    assert run.step == 6
    for row in reported:
        for key in ("loss_critic", "loss_generator", "loss_recurrent", "loss_recycle"):
            assert torch.isfinite(torch.tensor(row[key])), key
    samples = run.sample(3)
    # rows: original | translation | recycle predictions (2 blank frames, then 2 predicted)
    assert samples.shape == (3, 12, 1, 28, 28)
    assert torch.equal(samples[:2, :4], run.dataset.tensors["a"][:2])
    assert torch.equal(samples[2:, :4], run.dataset.tensors["b"][:1])
    assert (samples[:, 8:10] == -1).all() and samples[:, 10:].abs().max() <= 1


def test_recycle_gan_rejects_data_without_sequences():
    with pytest.raises(gancore.GancoreError, match="sequence"):
        Run.create({**copy.deepcopy(TINY), "data": {"name": "mnist-unpaired", "limit": 64}})
