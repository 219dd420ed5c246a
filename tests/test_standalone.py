"""Runs that stand alone: a checkpoint records the data's spec and class names, so a run
samples with its training data moved or gone, or with its Python dataset not given;
training on, and metrics that need real data, ask for the data in one line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gancore
from gancore import GancoreError

ROOT = Path(__file__).resolve().parents[1]


def folder_of_colours(root: Path, size: int = 16) -> Path:
    for i in range(16):
        path = root / ("red" if i % 2 else "blue") / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (size, size), (200, 10, 10) if i % 2 else (10, 10, 200)).save(path)
    return root


def tiny(data: dict | None = None) -> dict:
    recipe = {"generator": {"name": "dcgan", "latent_dim": 8, "width": 8, "conditional": True},
              "critic": {"name": "dcgan", "width": 8, "conditional": "projection"}, "loss": "hinge",
              "train": {"steps": 2, "batch_size": 8, "sample_every": 0, "checkpoint_every": 0, "device": "cpu"}}
    return recipe | ({"data": data} if data is not None else {})


def gancore_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gancore", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"}, timeout=300)


def test_a_checkpoint_records_the_data_spec_and_class_names(tmp_path):
    root = folder_of_colours(tmp_path / "imgs")
    run = gancore.create_run(tiny({"name": "image-folder", "root": str(root), "size": 16}), out=tmp_path / "run")
    run.train()
    [path] = (tmp_path / "run" / "checkpoints").glob("*.pt")
    entry = torch.load(path, weights_only=True)["data"]
    assert entry == {"shape": [3, 16, 16], "num_classes": 2, "fields": {"x": [3, 16, 16], "label": []},
                     "class_names": ["blue", "red"]}
    assert gancore.load_run(tmp_path / "run").spec == run.spec


def test_sampling_an_image_folder_run_whose_folder_is_gone(tmp_path):
    root = folder_of_colours(tmp_path / "imgs")
    gancore.create_run(tiny({"name": "image-folder", "root": str(root), "size": 16}), out=tmp_path / "run").train()
    shutil.rmtree(root)
    done = gancore_cli("sample", str(tmp_path / "run"), "--num", "4", "--out", str(tmp_path / "s.npz"))
    assert done.returncode == 0, done.stderr
    with np.load(tmp_path / "s.npz") as saved:
        assert saved[saved.files[0]].shape[0] == 4
    # Training on needs the images: one line naming what is missing, and the run is kept.
    done = gancore_cli("train", "--resume", "--out", str(tmp_path / "run"), "--set", "train.steps=4")
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode != 0 and len(errors) == 1 and str(root) in errors[0] and "Traceback" not in done.stderr
    assert gancore.load_run(tmp_path / "run").step == 2


class Colours(torch.utils.data.Dataset):
    """A user's own torch Dataset: uint8 images of two colours, labelled."""

    def __len__(self) -> int:
        return 16

    def __getitem__(self, i: int):
        colour = torch.tensor([200, 10, 10] if i % 2 else [10, 10, 200], dtype=torch.uint8)
        return colour.view(3, 1, 1).expand(3, 16, 16).clone(), i % 2


def test_a_run_on_a_python_dataset_samples_in_a_fresh_process_without_it(tmp_path):
    gancore.create_run(tiny(), data=Colours(), out=tmp_path / "run").train()
    code = ("import gancore, sys\n"
            f"run = gancore.load_run({str(tmp_path / 'run')!r})\n"
            "x = run.sample(4)\n"
            "print(tuple(x.shape))\n"
            "try:\n"
            "    run.train(4)\n"
            "except gancore.GancoreError as exc:\n"
            "    print('refused:', exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "(4, 3, 16, 16)"
    assert lines[1].startswith("refused: this run's data was a Python object (tests.test_standalone.Colours)")
    assert "load_run(path, data=...)" in lines[1]
    # Given again, the data trains on.
    resumed = gancore.load_run(tmp_path / "run", data=Colours())
    resumed.train(4)
    assert resumed.step == 4


def test_data_that_changed_shape_since_the_checkpoint_is_refused_before_training(tmp_path):
    root = folder_of_colours(tmp_path / "imgs")
    gancore.create_run(tiny({"name": "image-folder", "root": str(root), "size": 16}), out=tmp_path / "run").train()
    (root / "green").mkdir()
    Image.new("RGB", (16, 16), (10, 200, 10)).save(root / "green" / "0.png")
    run = gancore.load_run(tmp_path / "run", overrides=["train.steps=4"])
    assert run.spec.num_classes == 2  # built from the checkpoint, as the weights were
    with pytest.raises(GancoreError, match=r"the data has changed since the checkpoint: it holds 3 x 16 x 16 "
                                           r"samples, 3 classes, the networks were built for 3 x 16 x 16 samples, 2 classes"):
        run.train()


def test_fid_against_stored_statistics_needs_no_data(tmp_path):
    """``gancore stats`` of the folder, then the folder deleted: ``gancore eval --reference``
    still measures the run, from its checkpoint and the statistics alone."""
    root = folder_of_colours(tmp_path / "imgs")
    gancore.create_run(tiny({"name": "image-folder", "root": str(root), "size": 16}), out=tmp_path / "run").train()
    reference = tmp_path / "ref.npz"
    done = gancore_cli("stats", str(root), "--out", str(reference), "--features", "identity")
    assert done.returncode == 0, done.stderr
    shutil.rmtree(root)
    done = gancore_cli("eval", str(tmp_path / "run"), "--metrics", "fid", "--features", "identity",
                       "--reference", str(reference), "--num", "32", "--json")
    assert done.returncode == 0, done.stderr
    assert float(__import__("json").loads(done.stdout)["metrics"]["fid"]) > 0
    # A metric that compares with real images asks for them, in one line.
    done = gancore_cli("eval", str(tmp_path / "run"), "--metrics", "kid", "--features", "identity", "--num", "32")
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode != 0 and len(errors) == 1 and str(root) in errors[0]


def test_renamed_classes_train_on(tmp_path):
    root = folder_of_colours(tmp_path / "imgs")
    gancore.create_run(tiny({"name": "image-folder", "root": str(root), "size": 16}), out=tmp_path / "run").train()
    (root / "red").rename(root / "scarlet")  # the same two classes, one renamed
    run = gancore.load_run(tmp_path / "run", overrides=["train.steps=3"])
    run.train()
    assert run.step == 3
