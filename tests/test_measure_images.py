"""A user's own RGB images, measured end to end in Inception-v3's space: `gancore eval` picks
the inception metrics, `gancore stats` writes reference statistics that give the same FID,
missing or damaged weights give one line, and training evaluations embed the real images
once. The weights are random ones in the published layout (no test downloads anything)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import gancore
from gancore.cli import app
from gancore_metrics import common, inception
from gancore_metrics import inception_weights as weights_module

NUM = 24  # images in the folder, and samples per evaluation: every real image is used


@pytest.fixture(autouse=True)
def weights(inception_weights, monkeypatch):
    monkeypatch.setenv("GANCORE_INCEPTION_WEIGHTS", str(inception_weights))
    # The random file is not the published one: that warning is tested in test_inception.py.
    monkeypatch.setattr(weights_module, "SHA256", weights_module.file_sha256(inception_weights))
    return inception_weights


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(NUM):
        image = np.zeros((32, 32, 3), np.uint8)
        image[:] = rng.integers(0, 256, 3)
        image[8:24, 8:24] = rng.integers(0, 256, 3)
        Image.fromarray(image).save(root / f"{i:02d}.png")
    return root


def recipe(folder, **eval_settings):
    return {
        "data": {"name": "image-folder", "root": str(folder), "size": 32, "channels": 3},
        "generator": {"name": "dcgan", "latent_dim": 16, "width": 8},
        "critic": {"name": "dcgan", "width": 8},
        "loss": "hinge",
        "train": {"steps": 10, "batch_size": 8, "log_every": 5, "sample_every": 0, "checkpoint_every": 10, "device": "cpu"},
        "eval": {"num_samples": NUM} | eval_settings,
    }


@pytest.fixture(scope="module")
def trained(folder, tmp_path_factory):
    """The built-in recipe for one's own images, as the README runs it (briefly)."""
    out = tmp_path_factory.mktemp("runs") / "rgb"
    code, output = invoke("train", "sngan-images", "--set", f"data.root={folder}", "--set", "train.steps=4",
                          "--set", "train.batch_size=8", "--set", f"eval.num_samples={NUM}", "--out", out, "--device", "cpu")
    assert code == 0, output
    return out


def invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def test_eval_of_an_rgb_run_measures_in_inception_space(trained):
    code, output = invoke("eval", trained, "--json")
    assert code == 0, output
    values = json.loads(output)["metrics"]
    for key in ("fid", "kid", "inception_score", "precision", "recall", "density", "coverage"):
        assert key in values and np.isfinite(values[key]), key
    assert "classifier_score" not in values  # the MNIST classifier does not read RGB images
    assert values["fid"] > 0 and values["inception_score"] >= 1


def test_reference_statistics_of_the_folder_give_the_runs_own_fid(trained, folder, tmp_path):
    code, output = invoke("eval", trained, "--metrics", "fid", "--json")
    own = json.loads(output)["metrics"]["fid"]
    code, output = invoke("stats", folder, "--out", tmp_path / "ref.npz")
    assert code == 0 and f"wrote the statistics of {NUM} images (inception, bilinear" in output, output
    stored = gancore.load_statistics(tmp_path / "ref.npz")
    assert stored.count == NUM and stored.mu.shape == (2048,) and stored.about["resize"] == "bilinear"
    code, output = invoke("eval", trained, "--metrics", "fid", "--reference", tmp_path / "ref.npz", "--json")
    assert code == 0, output
    assert json.loads(output)["metrics"]["fid"] == pytest.approx(own, rel=1e-6)
    # pytorch-fid's own files hold mu and sigma alone: they work as references too.
    np.savez(tmp_path / "pytorch-fid.npz", mu=stored.mu.numpy(), sigma=stored.sigma.numpy())
    code, output = invoke("eval", trained, "--metrics", "fid", "--reference", tmp_path / "pytorch-fid.npz", "--json")
    assert code == 0 and json.loads(output)["metrics"]["fid"] == pytest.approx(own, rel=1e-6), output
    # The run's own data as the source gives the same statistics as the folder.
    code, output = invoke("stats", trained, "--out", tmp_path / "run.npz")
    assert code == 0, output
    np.testing.assert_allclose(gancore.load_statistics(tmp_path / "run.npz").sigma, stored.sigma, atol=1e-9)


def test_statistics_of_other_preprocessing_are_refused(trained, folder, tmp_path):
    invoke("stats", folder, "--out", tmp_path / "clean.npz", "--resize", "clean")
    code, output = invoke("eval", trained, "--metrics", "fid", "--reference", tmp_path / "clean.npz")
    assert code == 2 and "were made with resize 'clean', this evaluation uses 'bilinear'" in output
    code, output = invoke("eval", trained, "--metrics", "kid", "--reference", tmp_path / "clean.npz")
    assert code == 2 and "add fid to --metrics" in output


def test_no_weights_and_no_network_is_one_line_and_exit_2(trained, tmp_path, monkeypatch):
    monkeypatch.delenv("GANCORE_INCEPTION_WEIGHTS")
    monkeypatch.setenv("GANCORE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(weights_module, "URL", (tmp_path / "unreachable.pth").as_uri())
    code, output = invoke("eval", trained, "--metrics", "fid")
    assert code == 2
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert weights_module.FILE_NAME in lines[0] and str(tmp_path / "cache") in lines[0] and "--weights" in lines[0]


def test_a_damaged_or_foreign_weights_file_is_named_in_one_line(trained, tmp_path):
    damaged = tmp_path / "damaged.pth"
    damaged.write_bytes(b"not a state dict")
    code, output = invoke("eval", trained, "--metrics", "fid", "--weights", damaged)
    assert code == 2 and output.count("\n") == 1 and str(damaged) in output, output
    foreign = tmp_path / "foreign.pth"
    import torch

    torch.save({"conv.weight": torch.zeros(3, 3)}, foreign)
    code, output = invoke("eval", trained, "--metrics", "fid", "--weights", foreign)
    assert code == 2 and output.count("\n") == 1 and "missing" in output, output
    code, output = invoke("eval", trained, "--metrics", "fid", "--weights", tmp_path / "absent.pth")
    assert code == 2 and "absent.pth" in output, output


def test_an_mnist_run_keeps_its_own_space_and_can_ask_for_inception(tmp_path):
    data = {"name": "mnist", "limit": 64}
    run = gancore.create_run({"data": data, "generator": {"name": "dcgan", "latent_dim": 8, "width": 8},
                              "critic": {"name": "dcgan", "width": 8}, "loss": "hinge",
                              "train": {"steps": 2, "batch_size": 8, "device": "cpu"}}, out=tmp_path / "mn")
    run.train()
    code, output = invoke("eval", tmp_path / "mn", "--num", 16, "--json")
    values = json.loads(output)["metrics"]
    assert "classifier_score" in values and "inception_score" not in values
    code, output = invoke("eval", tmp_path / "mn", "--num", 16, "--metrics", "fid", "--features", "inception", "--json")
    assert code == 0, output
    assert json.loads(output)["metrics"]["fid"] != values["fid"]  # another feature space, another number


def test_training_evaluations_embed_the_real_images_once(folder, tmp_path, monkeypatch):
    seen = []
    original = inception.InceptionFeatures._run

    def counting(self, x, *args, **kwargs):
        seen.append(x.shape[0])
        return original(self, x, *args, **kwargs)

    monkeypatch.setattr(inception.InceptionFeatures, "_run", counting)
    common._CACHE.clear()  # earlier tests embedded this folder's images too
    run = gancore.create_run(recipe(folder, every=5, metrics=["fid", "kid", "inception-score", "precision-recall"]),
                             out=tmp_path / "run")
    run.train()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows if "fid" in row] == [5, 10]
    # The check before training (real and generated), then each evaluation's generated
    # samples only; four metrics share each pass.
    assert sum(seen) == NUM + 3 * NUM
    assert gancore.load_run(tmp_path / "run", best=True).best["metric"] == "fid"
