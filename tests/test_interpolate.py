"""gancore interpolate: a looping walk through the codes of seeds, as an animated GIF."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import gancore
from gancore._latents import loop_path, seed_code
from gancore.cli import app

TINY_MNIST = {"train.steps": 3, "train.batch_size": 16, "data.limit": 64, "generator.width": 8, "critic.width": 8,
              "train.device": "cpu", "train.sample_every": 0, "train.checkpoint_every": 0, "train.threads": 1}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    plain = gancore.create_run("dcgan-mnist", overrides=TINY_MNIST, out=root / "plain").train()
    conditional = gancore.create_run("cdcgan-mnist", overrides=TINY_MNIST, out=root / "cond").train()
    return plain, conditional


def invoke(*args):
    return CliRunner().invoke(app, ["interpolate", *map(str, args), "--threads", "1"])


def gif_frames(path) -> list[np.ndarray]:
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.info.get("loop") == 0  # loops for ever
        frames = []
        for i in range(gif.n_frames):
            gif.seek(i)
            frames.append(np.asarray(gif.convert("RGB")))
    return frames


def test_the_gif_has_exactly_the_frames_asked_for_and_passes_through_each_seed(runs, tmp_path):
    plain, _ = runs
    done = invoke(plain.out, "--seeds", "0,1,2", "--frames", 12, "--scale", 1, "--out", tmp_path / "walk.gif")
    assert done.exit_code == 0, done.output
    assert "wrote 12 frames through seeds 0,1,2" in done.output
    frames = gif_frames(tmp_path / "walk.gif")
    assert len(frames) == 12 and frames[0].shape == (28, 28, 3)
    # frames 0, 4 and 8 are the seeds' own codes: what `gancore sample --num 1 --seed S` draws
    for frame, seed in zip((0, 4, 8), (0, 1, 2)):
        expected = plain.sample(1, seed=seed)
        pixels = ((expected[0, 0].clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
        # GIF's palette quantisation keeps a grey image's 256 levels; allow rounding of one level
        assert np.abs(frames[frame][..., 0].astype(int) - pixels.astype(int)).max() <= 1
    done = invoke(plain.out, "--seeds", "0,1,2", "--frames", 7, "--scale", 3, "--out", tmp_path)
    assert done.exit_code == 0, done.output
    frames = gif_frames(tmp_path / "interpolation.gif")
    assert len(frames) == 7 and frames[0].shape == (84, 84, 3)


def test_the_loop_is_evenly_spaced_over_the_arcs_and_ends_before_its_start():
    codes = torch.cat([seed_code(s, 16) for s in (0, 1, 2, 3)])
    path = loop_path(codes, 8)
    assert torch.allclose(path[::2], codes, atol=1e-6)
    assert not torch.allclose(path[-1], codes[0], atol=1e-2)
    angles = torch.arccos(torch.nn.functional.cosine_similarity(path, path.roll(-1, 0), dim=1).clamp(-1, 1))
    # each arc's two halves are equal angles
    assert torch.allclose(angles[0::2], angles[1::2], atol=1e-5)


def test_a_conditional_model_takes_a_class_for_every_frame_or_one_per_seed(runs, tmp_path):
    _, conditional = runs
    missing = invoke(conditional.out, "--out", tmp_path / "c.gif")
    assert missing.exit_code == 2 and "give --label K, or --labels" in missing.output
    done = invoke(conditional.out, "--seeds", "0,1", "--labels", "3,7", "--frames", 4, "--scale", 1,
                  "--out", tmp_path / "c.gif")
    assert done.exit_code == 0, done.output
    frames = gif_frames(tmp_path / "c.gif")
    assert len(frames) == 4
    # frame 0 is seed 0 drawn as class 3, frame 2 seed 1 as class 7
    for index, seed, cls in ((0, 0, 3), (2, 1, 7)):
        expected = conditional.sample(1, seed=seed, labels=cls)
        pixels = ((expected[0, 0].clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
        assert np.abs(frames[index][..., 0].astype(int) - pixels.astype(int)).max() <= 1


@pytest.mark.parametrize("args, message", [
    (["--seeds", "4"], "at least two seeds"),
    (["--seeds", "a,b"], "--seeds a,b: give integers"),
    (["--label", "3"], "not class-conditional"),
    (["--out", "walk.avi"], "use a .gif or .mp4 file"),
    (["--frames", "1"], "--frames"),
    (["--labels", "1,2"], "--labels: 2 classes for 4 seeds"),
    (["--label", "1", "--labels", "1,2,3,4"], "give --label (one class for every frame) or --labels"),
])
def test_bad_options_are_one_error_line(runs, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    done = invoke(runs[0].out, *args)
    assert done.exit_code == 2 and message in done.output and "Traceback" not in done.output


def test_mp4_without_the_video_extra_says_how_to_install_it(runs, tmp_path, monkeypatch):
    from gancore import _animation

    real = _animation.importlib.import_module

    def missing(name, *args):
        if name == "imageio_ffmpeg":
            raise ImportError(f"No module named {name!r}")
        return real(name, *args)

    monkeypatch.setattr(_animation.importlib, "import_module", missing)
    done = invoke(runs[0].out, "--out", tmp_path / "walk.mp4")
    assert done.exit_code == 2
    assert done.output.strip() == "error: writing .mp4 needs the video extra: pip install 'gancore[video]' (or write a .gif)"
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(importlib.util.find_spec("imageio_ffmpeg") is None, reason="needs the video extra")
def test_mp4_with_the_video_extra_has_the_frames_asked_for(runs, tmp_path):
    import imageio_ffmpeg

    done = invoke(runs[0].out, "--frames", 10, "--out", tmp_path / "walk.mp4")
    assert done.exit_code == 0, done.output
    reader = imageio_ffmpeg.read_frames(str(tmp_path / "walk.mp4"))
    meta = next(reader)
    assert meta["size"] == (112, 112) and meta["fps"] == 12 and sum(1 for _ in reader) == 10
