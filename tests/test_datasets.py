"""The first-party datasets: 2D mixtures, MNIST (embedded, directory, download), image folders."""

from __future__ import annotations

import functools
import gzip
import hashlib
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import gancore
from gancore import GancoreError
from gancore_data import grid_modes, grid_std, mixture_modes, ring_modes, ring_std
from gancore_data.mnist import SHA256

# The real MNIST sits beside the checkout (../shared/data/mnist) where it is available.
SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
T10K = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def build(name: str, **params) -> gancore.Dataset:
    return gancore.build("dataset", name, params)


def embedded_gz(stem: str) -> bytes:
    return (resources.files("gancore_data.embedded") / f"{stem}.gz").read_bytes()


def test_all_datasets_registered():
    assert {"ring", "grid", "mnist", "image-folder"} <= set(gancore.registry().names("dataset"))


# ---------------------------------------------------------------- 2D mixtures


def test_mode_centres():
    ring = ring_modes()
    assert ring.shape == (8, 2) and ring.dtype == torch.float32
    torch.testing.assert_close(ring.norm(dim=1), torch.ones(8))
    angles = torch.atan2(ring[:, 1], ring[:, 0]).remainder(2 * torch.pi)
    torch.testing.assert_close(angles, torch.arange(8) * (2 * torch.pi / 8), atol=1e-5, rtol=0)
    grid = grid_modes()
    assert grid.shape == (25, 2)
    assert {tuple(p) for p in grid.int().tolist()} == {(x, y) for x in range(-4, 5, 2) for y in range(-4, 5, 2)}
    assert (ring_std(), grid_std()) == (0.01, 0.05)
    modes, std = mixture_modes("grid")
    assert torch.equal(modes, grid) and std == 0.05
    with pytest.raises(ValueError, match="unknown mixture"):
        mixture_modes("spiral")


@pytest.mark.parametrize("name, modes, std", [("ring", ring_modes(), 0.01), ("grid", grid_modes(), 0.05)])
def test_mixture_statistics(name, modes, std):
    n = 20_000
    data = build(name, num_samples=n, seed=3)
    x, label = data.tensors["x"], data.tensors["label"]
    k = len(modes)
    assert x.shape == (n, 2) and x.dtype == torch.float32
    assert label.dtype == torch.int64 and data.num_classes == k and data.spec.shape == (2,)
    # Every sample sits next to the mode its label names (6 std covers all 20k draws).
    nearest = torch.cdist(x, modes).argmin(dim=1)
    assert torch.equal(nearest, label)
    residual = x - modes[label]
    assert residual.norm(dim=1).max() < 6 * std
    assert abs(residual.std().item() - std) < 0.05 * std
    # Modes are equally likely: counts within 5 binomial standard deviations.
    counts = torch.bincount(label, minlength=k).float()
    expected = n / k
    assert (counts - expected).abs().max() < 5 * (expected * (1 - 1 / k)) ** 0.5


def test_mixture_seed_and_params():
    a, b = build("ring", num_samples=500, seed=1), build("ring", num_samples=500, seed=1)
    c = build("ring", num_samples=500, seed=2)
    assert torch.equal(a.tensors["x"], b.tensors["x"]) and torch.equal(a.tensors["label"], b.tensors["label"])
    assert not torch.equal(a.tensors["x"], c.tensors["x"])
    wide = build("grid", num_samples=4000, std=0.2)
    residual = wide.tensors["x"] - grid_modes()[wide.tensors["label"]]
    assert abs(residual.std().item() - 0.2) < 0.01
    assert len(build("ring")) == 100_000


def test_mixture_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build("grid", num_samples=100, seed=7)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("params", [{"std": 0.0}, {"num_samples": 0}, {"seed": "x"}, {"radius": 2}])
def test_mixture_bad_params(params):
    with pytest.raises(GancoreError):
        build("ring", **params)


# ---------------------------------------------------------------- MNIST, embedded


def test_embedded_mnist():
    data = build("mnist")
    stored, label = data.tensors["x"], data.tensors["label"]
    assert stored.shape == (10_000, 1, 28, 28) and stored.dtype == torch.uint8  # a quarter of float32's memory
    x = gancore.as_float(stored)  # what batches hold
    assert x.min().item() == -1.0 and x.max().item() == 1.0
    assert label.dtype == torch.int64 and data.num_classes == 10
    assert label[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the test split's known start
    counts = torch.bincount(label, minlength=10)
    assert counts.sum() == 10_000 and counts.min() > 850 and counts.max() < 1200
    # Digits are ink on a black background: most pixels are exactly -1.
    assert 0.75 < (x == -1).float().mean().item() < 0.85
    raw = np.frombuffer(gzip.decompress(embedded_gz(T10K[0])), np.uint8, offset=16)
    torch.testing.assert_close(x.flatten(), torch.from_numpy(raw.astype(np.float32)) / 127.5 - 1)


def test_embedded_cache_is_not_shared_with_callers():
    first = build("mnist")
    first.tensors["x"].fill_(128)
    first.tensors["label"].fill_(3)
    again = build("mnist")
    assert again.tensors["x"].min().item() == 0 and again.tensors["label"][0].item() == 7


def test_mnist_classes_and_limit():
    full = build("mnist").tensors
    picked = build("mnist", classes=[3, 5]).tensors
    keep = (full["label"] == 3) | (full["label"] == 5)
    assert torch.equal(picked["label"], full["label"][keep])
    assert torch.equal(picked["x"], full["x"][keep])
    assert build("mnist", classes=[3, 5]).num_classes == 10  # labels keep their meaning
    first = build("mnist", limit=100).tensors
    assert torch.equal(first["x"], full["x"][:100]) and torch.equal(first["label"], full["label"][:100])
    both = build("mnist", classes=[1], limit=7).tensors
    assert both["label"].tolist() == [1] * 7
    assert torch.equal(both["x"], full["x"][full["label"] == 1][:7])


@pytest.mark.parametrize("size", [32, 64, 16])
def test_mnist_resize(size):
    full = gancore.as_float(build("mnist", limit=500).tensors["x"])
    data = build("mnist", size=size, limit=500)
    assert data.tensors["x"].dtype == torch.uint8
    x = gancore.as_float(data.tensors["x"])
    assert x.shape == (500, 1, size, size) and data.spec.shape == (1, size, size)
    assert x.min() >= -1 and x.max() <= 1
    reference = F.interpolate(full, size=(size, size), mode="bilinear", align_corners=False, antialias=size < 28)
    # torch's bilinear filter, rounded to 8 bits as a resized image file is: half a level off at most
    torch.testing.assert_close(x, reference.clamp(-1, 1), atol=0.5 / 127.5 + 1e-5, rtol=0)
    assert abs(x.mean().item() - full.mean().item()) < 0.02


@pytest.mark.parametrize(
    "params, message",
    [
        ({"split": "train"}, "embedded copy is the 10k test split"),
        ({"source": "directory"}, "needs root"),
        ({"root": "/tmp"}, "set source = 'directory'"),
        ({"classes": [10]}, "digits 0..9"),
        ({"classes": []}, "digits 0..9"),
        ({"size": 4}, "size"),
        ({"limit": 0}, "limit"),
        ({"source": "web"}, "source"),
        ({"split": "valid"}, "split"),
        ({"colour": True}, "unknown parameter"),
    ],
)
def test_mnist_bad_params(params, message):
    with pytest.raises(GancoreError, match=message):
        build("mnist", **params)


# ---------------------------------------------------------------- MNIST, directory


def test_directory_train_from_gz():
    if not SHARED_MNIST.is_dir():
        pytest.skip("no shared MNIST copy")
    data = build("mnist", source="directory", root=str(SHARED_MNIST))
    x, label = data.tensors["x"], data.tensors["label"]
    assert x.shape == (60_000, 1, 28, 28) and label.shape == (60_000,)
    assert label[:5].tolist() == [5, 0, 4, 1, 9]  # the train split's known start
    assert x.dtype == torch.uint8 and x.min().item() == 0 and x.max().item() == 255
    assert torch.bincount(label, minlength=10).min() > 5000


def test_directory_plain_files_equal_embedded(tmp_path):
    for stem in T10K:
        content = gzip.decompress(embedded_gz(stem))
        assert hashlib.sha256(content).hexdigest() == SHA256[stem]
        (tmp_path / stem).write_bytes(content)
    data = build("mnist", source="directory", root=str(tmp_path), split="test")
    embedded = build("mnist")
    assert torch.equal(data.tensors["x"], embedded.tensors["x"])
    assert torch.equal(data.tensors["label"], embedded.tensors["label"])


def test_directory_errors(tmp_path):
    with pytest.raises(GancoreError, match="does not exist"):
        build("mnist", source="directory", root=str(tmp_path / "nope"))
    with pytest.raises(GancoreError, match=r"no train-images-idx3-ubyte\(\.gz\) in"):
        build("mnist", source="directory", root=str(tmp_path))
    images = gzip.decompress(embedded_gz(T10K[0]))
    labels = gzip.decompress(embedded_gz(T10K[1]))
    cases = [
        (b"garbage!" * 10, labels, "bad magic"),
        (images[:-5], labels, "header"),  # truncated
        (images, labels[:4] + (5).to_bytes(4, "big") + labels[8:13], "10000 images but 5 labels"),
        (labels, images, "expected an IDX file of 3 dimensions"),
        (gzip.compress(images[:20_000], compresslevel=1)[:1000], labels, "corrupt gzip"),
    ]
    for image_bytes, label_bytes, message in cases:
        (tmp_path / T10K[0]).write_bytes(image_bytes)
        (tmp_path / T10K[1]).write_bytes(label_bytes)
        with pytest.raises(GancoreError, match=message):
            build("mnist", source="directory", root=str(tmp_path), split="test")


# ---------------------------------------------------------------- MNIST, download


class _CountingHandler(SimpleHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def mnist_server(tmp_path, monkeypatch):
    """A loopback HTTP server over a folder holding the t10k gz files: (url, folder, requests)."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    served = tmp_path / "served"
    served.mkdir()
    for stem in T10K:
        (served / f"{stem}.gz").write_bytes(embedded_gz(stem))
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_CountingHandler, directory=str(served)))
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", served, server.requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_download_once_then_cache(mnist_server, tmp_path):
    url, _, requests = mnist_server
    cache = tmp_path / "cache"
    data = build("mnist", source="download", split="test", url=url, cache_dir=str(cache))
    embedded = build("mnist")
    assert torch.equal(data.tensors["x"], embedded.tensors["x"])
    assert torch.equal(data.tensors["label"], embedded.tensors["label"])
    assert sorted(requests) == sorted(f"/{stem}.gz" for stem in T10K)
    # The cache holds the verified, decompressed files and nothing else.
    assert sorted(p.name for p in cache.iterdir()) == sorted(T10K)
    for stem in T10K:
        assert hashlib.sha256((cache / stem).read_bytes()).hexdigest() == SHA256[stem]
    again = build("mnist", source="download", split="test", url=url.rstrip("/"), cache_dir=str(cache), limit=10)
    assert len(requests) == 2
    assert torch.equal(again.tensors["x"], embedded.tensors["x"][:10])


def test_download_default_cache_dir(mnist_server, tmp_path, monkeypatch):
    url, _, _ = mnist_server
    monkeypatch.setenv("GANCORE_CACHE", str(tmp_path / "gc"))
    assert len(build("mnist", source="download", split="test", url=url)) == 10_000
    assert sorted(p.name for p in (tmp_path / "gc" / "mnist").iterdir()) == sorted(T10K)


def test_download_rejects_wrong_content(mnist_server, tmp_path):
    url, served, requests = mnist_server
    good = (served / f"{T10K[0]}.gz").read_bytes()
    content = bytearray(gzip.decompress(good))
    content[5000] ^= 0xFF  # one pixel off: still a well-formed IDX file
    (served / f"{T10K[0]}.gz").write_bytes(gzip.compress(bytes(content), compresslevel=1))
    cache = tmp_path / "cache"
    with pytest.raises(GancoreError, match="SHA-256") as err:
        build("mnist", source="download", split="test", url=url, cache_dir=str(cache))
    message = str(err.value)
    assert T10K[0] in message and SHA256[T10K[0]] in message
    assert hashlib.sha256(bytes(content)).hexdigest() in message
    assert not any("images" in p.name for p in cache.iterdir())  # no bad file, no temp file
    # Served correctly again, the next load downloads it afresh and succeeds.
    (served / f"{T10K[0]}.gz").write_bytes(good)
    assert len(build("mnist", source="download", split="test", url=url, cache_dir=str(cache))) == 10_000


def test_download_errors(mnist_server, tmp_path):
    url, served, _ = mnist_server
    cache = tmp_path / "cache"
    with pytest.raises(GancoreError, match="HTTP 404"):
        build("mnist", source="download", url=url, cache_dir=str(cache))  # train is not served
    (served / f"{T10K[0]}.gz").write_bytes(b"not gzip at all")
    with pytest.raises(GancoreError, match="not valid gzip"):
        build("mnist", source="download", split="test", url=url, cache_dir=str(cache))
    assert not any("images" in p.name for p in cache.iterdir())


# ---------------------------------------------------------------- image folder


def _save(path: Path, colour, size=(20, 12)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def test_image_folder_classes(tmp_path):
    for i, size in enumerate([(20, 12), (12, 20), (16, 16)]):
        _save(tmp_path / "apple" / f"{i}.png", (255, 0, 0), size)
    _save(tmp_path / "banana" / "a.png", (0, 0, 255))
    _save(tmp_path / "banana" / "deeper" / "b.jpg", (0, 0, 255), (40, 30))
    (tmp_path / "banana" / "notes.txt").write_text("not an image")
    (tmp_path / "empty").mkdir()
    data = build("image-folder", root=str(tmp_path), size=8)
    x, label = data.tensors["x"], data.tensors["label"]
    assert x.shape == (5, 3, 8, 8) and x.dtype == torch.uint8
    assert label.tolist() == [0, 0, 0, 1, 1] and label.dtype == torch.int64 and data.num_classes == 2
    red = torch.tensor([255, 0, 0], dtype=torch.uint8).view(1, 3, 1, 1)
    blue = torch.tensor([0, 0, 255], dtype=torch.uint8).view(1, 3, 1, 1)
    assert torch.equal(x[:3], red.expand(3, 3, 8, 8))
    assert (x[3:].int() - blue.int()).abs().max() <= 3  # JPEG is lossy
    gray = build("image-folder", root=str(tmp_path), size=8, channels=1).tensors["x"]
    assert gray.shape == (5, 1, 8, 8) and gray.dtype == torch.uint8
    # ITU-R 601 luma of pure red is 76/255.
    assert torch.equal(gray[0], torch.full((1, 8, 8), 76, dtype=torch.uint8))
    assert len(build("image-folder", root=str(tmp_path), size=8, limit=2)) == 2


def test_image_folder_center_crop_and_unlabelled(tmp_path):
    image = Image.new("RGB", (30, 10), (0, 255, 0))
    image.paste((255, 0, 0), (10, 0, 20, 10))  # the centre square is red, the sides green
    image.save(tmp_path / "wide.png")
    _save(tmp_path / "other.png", (255, 255, 255))
    data = build("image-folder", root=str(tmp_path), size=16)
    assert "label" not in data.tensors and data.num_classes is None
    x = data.tensors["x"]
    assert x.shape == (2, 3, 16, 16)
    assert torch.equal(x[1], torch.tensor([255, 0, 0], dtype=torch.uint8).view(3, 1, 1).expand(3, 16, 16))
    assert torch.equal(x[0], torch.full((3, 16, 16), 255, dtype=torch.uint8))


def test_image_folder_errors(tmp_path):
    with pytest.raises(GancoreError, match="does not exist"):
        build("image-folder", root=str(tmp_path / "nope"))
    (tmp_path / "a").mkdir()
    with pytest.raises(GancoreError, match="no image files"):
        build("image-folder", root=str(tmp_path))
    _save(tmp_path / "a" / "x.png", (1, 2, 3))
    _save(tmp_path / "loose.png", (1, 2, 3))
    with pytest.raises(GancoreError, match="both images and class subfolders"):
        build("image-folder", root=str(tmp_path))
    (tmp_path / "loose.png").unlink()
    (tmp_path / "a" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(GancoreError, match="cannot read image .*broken.png"):
        build("image-folder", root=str(tmp_path))
    for params in ({"channels": 2}, {"size": 0}, {"limit": 0}, {}):
        with pytest.raises(GancoreError):
            gancore.build("dataset", "image-folder", {"root": str(tmp_path), **params} if params else {})
