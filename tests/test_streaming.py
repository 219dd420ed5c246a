"""Sets larger than memory: the memory-mapped image cache (written once, reused, rebuilt
when stale), batches streamed from the host by worker threads, and exact resumes."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gancore
from gancore import GancoreError
from gancore._batches import DeviceBatches, StreamedBatches, batches_for
from gancore._image_store import is_mapped
from gancore_data.image_folder import SkippedImagesWarning


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCORE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def caches(cache: Path) -> list[Path]:
    return sorted(p for p in (cache / "images").iterdir() if p.is_dir())


def noise_images(root: Path, count: int, classes: int = 2, size=(12, 10), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for i in range(count):
        path = root / f"class{i % classes}" / f"{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
    return root


def counting_fill(calls: list[int], rows: int | None = None):
    def fill(out: np.ndarray, advance) -> tuple[int, dict]:
        calls.append(1)
        out[:] = np.arange(out.size, dtype=np.int64).reshape(out.shape) % 251
        advance(out.shape[0])
        return (out.shape[0] if rows is None else rows), {"made": len(calls)}
    return fill


# ---------------------------------------------------------------- the store


def test_a_set_within_the_budget_stays_in_memory(own_cache):
    calls: list[int] = []
    x, notes = gancore.stored_images((5, 1, 4, 4), counting_fill(calls), key={"k": 1}, memory_limit=80)
    assert not is_mapped(x) and x.dtype == torch.uint8 and x.shape == (5, 1, 4, 4)
    assert notes == {"made": 1} and not (own_cache / "images").exists()


def test_a_larger_set_is_mapped_from_a_cache_written_once(own_cache):
    calls: list[int] = []
    x, notes = gancore.stored_images((5, 1, 4, 4), counting_fill(calls), key={"k": 1}, memory_limit=79)
    assert is_mapped(x) and x.shape == (5, 1, 4, 4) and notes == {"made": 1}
    assert torch.equal(x.flatten().long(), torch.arange(80) % 251)
    again, notes = gancore.stored_images((5, 1, 4, 4), counting_fill(calls), key={"k": 1}, memory_limit=79)
    assert calls == [1] and notes == {"made": 1} and torch.equal(again, x)  # reused, not rewritten
    gancore.stored_images((5, 1, 4, 4), counting_fill(calls), key={"k": 2}, memory_limit=79)
    assert calls == [1, 1] and len(caches(own_cache)) == 2  # another key, another cache
    assert not [p for p in (own_cache / "images").iterdir() if ".part-" in p.name]


def test_fewer_rows_than_reserved_are_kept(own_cache):
    x, _ = gancore.stored_images((6, 1, 2, 2), counting_fill([], rows=4), key={}, memory_limit=1)
    assert x.shape == (4, 1, 2, 2) and is_mapped(x)
    y, _ = gancore.stored_images((6, 1, 2, 2), counting_fill([], rows=4), key={}, memory_limit=10**6)
    assert torch.equal(x, y)


@pytest.mark.parametrize("damage", ["truncated", "other-format", "bad-json", "no-meta"])
def test_a_damaged_or_foreign_cache_is_rebuilt(own_cache, damage):
    calls: list[int] = []
    first, _ = gancore.stored_images((4, 1, 3, 3), counting_fill(calls), key={"k": 1}, memory_limit=1)
    expected = first.clone()
    del first
    [folder] = caches(own_cache)
    if damage == "truncated":
        os.truncate(folder / "images.u8", 10)
    elif damage == "other-format":
        meta = json.loads((folder / "meta.json").read_text())
        meta["identity"] = meta["identity"].replace('"format": 1', '"format": 0')
        (folder / "meta.json").write_text(json.dumps(meta))
    elif damage == "bad-json":
        (folder / "meta.json").write_text("{")
    else:
        (folder / "meta.json").unlink()
    again, _ = gancore.stored_images((4, 1, 3, 3), counting_fill(calls), key={"k": 1}, memory_limit=1)
    assert calls == [1, 1] and torch.equal(again, expected)


def test_a_failing_fill_leaves_no_cache_behind(own_cache):
    def fill(out, advance):
        out[0] = 1
        raise GancoreError("image-folder: cannot read image x.png")

    with pytest.raises(GancoreError, match="cannot read image"):
        gancore.stored_images((4, 1, 3, 3), fill, key={}, memory_limit=1)
    assert caches(own_cache) == []
    assert not [p for p in (own_cache / "images").iterdir() if ".part-" in p.name]


def test_not_enough_disk_is_one_line(own_cache, monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(100, 90, 10))
    with pytest.raises(GancoreError, match=r"needs 36 bytes .* has 10 bytes free; point GANCORE_CACHE"):
        gancore.stored_images((4, 1, 3, 3), counting_fill([]), key={}, memory_limit=1, what="image-folder")


# ---------------------------------------------------------------- streamed batches


def test_streamed_batches_are_the_device_batches_across_epochs_ranks_and_resumes():
    data = {"x": torch.randint(0, 256, (37, 1, 2, 2), dtype=torch.uint8), "label": torch.arange(37)}
    for rank, world in ((0, 1), (0, 2), (1, 2)):
        plain = DeviceBatches(data, 8, seed=5, rank=rank, world=world)
        streamed = StreamedBatches(data, 8, seed=5, rank=rank, world=world, workers=3, ahead=3)
        for _ in range(14):  # 4 batches an epoch: over three epoch boundaries
            a, b = plain.next(), streamed.next()
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
            assert b["x"].dtype == torch.float32 and b["x"].shape[0] == 8 // world
        plain.drawn = streamed.drawn = 3  # a resume at another position
        for _ in range(6):
            a, b = plain.next(), streamed.next()
            assert all(torch.equal(a[k], b[k]) for k in a)
        streamed.close()


def test_a_mapped_set_is_streamed_and_an_in_memory_one_indexed_in_place(own_cache):
    mapped, _ = gancore.stored_images((16, 1, 2, 2), counting_fill([]), key={}, memory_limit=1)
    assert isinstance(batches_for({"x": mapped}, torch.device("cpu"), 4, 0), StreamedBatches)
    held = torch.zeros(16, 1, 2, 2, dtype=torch.uint8)
    assert isinstance(batches_for({"x": held}, torch.device("cpu"), 4, 0), DeviceBatches)


# ---------------------------------------------------------------- image-folder through the cache


def test_image_folder_past_its_memory_limit_reads_the_same_images(tmp_path, own_cache):
    root = noise_images(tmp_path / "imgs", 12)
    params = {"root": str(root), "size": 8, "mirror": True}
    held = gancore.build("dataset", "image-folder", params)
    mapped = gancore.build("dataset", "image-folder", params | {"memory_limit": "1KB"})
    assert not is_mapped(held.tensors["x"]) and is_mapped(mapped.tensors["x"])
    assert torch.equal(held.tensors["x"], mapped.tensors["x"]) and torch.equal(held.tensors["label"], mapped.tensors["label"])
    stamp = (caches(own_cache)[0] / "images.u8").stat().st_mtime_ns
    gancore.build("dataset", "image-folder", params | {"memory_limit": 1000})
    assert len(caches(own_cache)) == 1 and (caches(own_cache)[0] / "images.u8").stat().st_mtime_ns == stamp
    # A changed file is another set: a new cache, with the new pixels.
    Image.new("RGB", (10, 12), (1, 2, 3)).save(root / "class0" / "0000.png")
    os.utime(root / "class0" / "0000.png", ns=(1, 1))
    changed = gancore.build("dataset", "image-folder", params | {"memory_limit": 1000})
    assert len(caches(own_cache)) == 2 and changed.tensors["x"][0, :, 0, 0].tolist() == [1, 2, 3]


def test_skipped_images_are_reported_again_when_the_cache_is_reused(tmp_path):
    root = noise_images(tmp_path / "imgs", 6)
    (root / "class1" / "0003.png").write_bytes(b"not a png")
    params = {"root": str(root), "size": 8, "skip_bad": True, "memory_limit": 1}
    for _ in range(2):  # written, then reused
        with pytest.warns(SkippedImagesWarning, match=r"skipped 1 unreadable image\(s\) of 6 .*0003.png"):
            data = gancore.build("dataset", "image-folder", params)
        assert data.tensors["x"].shape[0] == 5 and data.tensors["label"].tolist() == [0, 0, 0, 1, 1]


def test_memory_limit_is_a_size(tmp_path):
    root = noise_images(tmp_path / "imgs", 2)
    with pytest.raises(GancoreError, match="data.memory_limit: could not parse"):
        gancore.create_run({"data": {"name": "image-folder", "root": str(root), "memory_limit": "lots"},
                            "generator": "dcgan", "critic": "dcgan", "loss": "hinge"})


# ---------------------------------------------------------------- training from the cache

def _recipe(root: Path, steps: int) -> dict:
    return {"data": {"name": "image-folder", "root": str(root), "size": 16, "memory_limit": "4KB"},
            "generator": {"name": "dcgan", "latent_dim": 8, "width": 8},
            "critic": {"name": "dcgan", "width": 8}, "loss": "hinge", "ema": {"decay": 0.9},
            "train": {"steps": steps, "batch_size": 8, "log_every": 2, "sample_every": 0, "checkpoint_every": 0,
                      "device": "cpu"}, "optim": {"lr": 1e-3}}


def _weights(run: gancore.Run) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in run.scheme.state_dict().items()}


def _critic_gap(run: gancore.Run) -> float:
    """How much higher the critic scores the real images than the generator's."""
    real = gancore.as_float(run.dataset.tensors["x"])
    run.scheme.eval()  # batch norm layers use (and keep) their running statistics
    with torch.no_grad():
        fake = run.sample(len(real), seed=0, ema=False)
        return float(run.scheme.critic(real).mean() - run.scheme.critic(fake).mean())


def test_training_from_the_cache_learns_and_resumes_exactly(tmp_path, own_cache):
    """Colours are the data (a red class and a blue one): streamed from the cache the
    critic learns to tell them from the generator's first fakes, and a run stopped halfway
    and resumed ends with the weights of a straight run."""
    root = tmp_path / "imgs"
    for i in range(48):
        path = root / f"c{i % 2}" / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (16, 16), (230, 20, 20) if i % 2 else (20, 20, 230)).save(path)
    straight = gancore.create_run(_recipe(root, 40), out=tmp_path / "straight")
    assert is_mapped(straight.dataset.tensors["x"]) and isinstance(straight.batches, StreamedBatches)
    straight.train()
    assert len(caches(own_cache)) == 1
    gancore.create_run(_recipe(root, 20), out=tmp_path / "half").train()
    resumed = gancore.load_run(tmp_path / "half", overrides=["train.steps=40"])
    resumed.train()
    a, b = _weights(straight), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert len(caches(own_cache)) == 1  # three runs, one cache
    # Learning from the streamed colours: the critic tells them from fakes, and the fakes
    # lose the green that no data image has (from 0.0 at the start; the data's is -0.84).
    untrained = gancore.create_run(_recipe(root, 40))  # the same seed: the straight run's start
    assert _critic_gap(straight) > _critic_gap(untrained) + 1.0
    assert float(straight.sample(64, seed=0, ema=False)[:, 1].mean()) < -0.05


def test_a_streamed_run_trains_without_warnings(tmp_path):
    root = noise_images(tmp_path / "imgs", 16, size=(16, 16))
    run = gancore.create_run(_recipe(root, 2), out=tmp_path / "run")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run.train()
    batches = run.batches
    assert isinstance(batches, StreamedBatches) and batches.drawn == 2
