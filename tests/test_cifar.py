"""The cifar10 and cifar100 datasets, on archives the tests write in the published binary layout.

The layout (https://www.cs.toronto.edu/~kriz/cifar.html): a record is its label byte(s)
(CIFAR-100: coarse, then fine) and 3072 pixel bytes, the red 32 x 32 plane, then the green,
then the blue, each row by row. The tests build records from that description alone, with
pixel values that tell planes, rows and columns apart, and read them back.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import gancore
from gancore import GancoreError
from gancore_data import cifar

TRAIN10 = [f"data_batch_{i}.bin" for i in range(1, 6)]
PER_BATCH = 3  # records in each of the five small CIFAR-10 train batches
NAMES10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def build(name: str, **params) -> gancore.Dataset:
    return gancore.build("dataset", name, params)


def image(k: int) -> np.ndarray:
    """Record k's pixels, 3 x 32 x 32: red grows down the rows, green along the columns,
    blue counts through the pixels from an offset of k (so every record differs)."""
    rows, cols = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    red = rows * 8 + k % 8
    green = cols * 8 + 1
    blue = (rows * 32 + cols + k) % 256
    return np.stack([red, green, blue]).astype(np.uint8)


def record(labels: tuple[int, ...], k: int) -> bytes:
    """Label bytes, then the red plane, the green plane and the blue plane, each row-major."""
    planes = image(k)
    pixels = b"".join(bytes(int(v) for v in planes[c, r, :]) for c in range(3) for r in range(32))
    assert len(pixels) == 3072
    return bytes(labels) + pixels


def label10(k: int) -> int:
    return (3 * k + 1) % 10


def cifar10_files(test_ids=range(100, 104)) -> dict[str, bytes]:
    files = {}
    for b, name in enumerate(TRAIN10):
        ids = range(b * PER_BATCH, (b + 1) * PER_BATCH)
        files[name] = b"".join(record((label10(k),), k) for k in ids)
    files["test_batch.bin"] = b"".join(record((label10(k),), k) for k in test_ids)
    files["batches.meta.txt"] = ("\n".join(NAMES10) + "\n\n").encode()
    return files


def coarse(k: int) -> int:
    return k % 20


def fine(k: int) -> int:
    return (7 * k + 95) % 100


def cifar100_files() -> dict[str, bytes]:
    return {
        "train.bin": b"".join(record((coarse(k), fine(k)), k) for k in range(6)),
        "test.bin": b"".join(record((coarse(k), fine(k)), k) for k in range(50, 53)),
        "coarse_label_names.txt": "".join(f"superclass_{i}\n" for i in range(20)).encode(),
        "fine_label_names.txt": "".join(f"class_{i}\n" for i in range(100)).encode(),
    }


def write_archive(path: Path, folder: str, files: dict[str, bytes]) -> Path:
    """A .tar.gz holding ``folder/`` and the files in it, as the published archives do."""
    with tarfile.open(path, "w:gz") as tar:
        top = tarfile.TarInfo(folder)
        top.type, top.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(top)
        for name, content in files.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size, info.mode = len(content), 0o644
            tar.addfile(info, io.BytesIO(content))
        readme = b"<html>not data</html>"
        info = tarfile.TarInfo(f"{folder}/readme.html")
        info.size = len(readme)
        tar.addfile(info, io.BytesIO(readme))
    return path


def write_folder(root: Path, folder: str, files: dict[str, bytes]) -> Path:
    (root / folder).mkdir(parents=True)
    for name, content in files.items():
        (root / folder / name).write_bytes(content)
    return root / folder


@pytest.fixture
def archive10(tmp_path) -> Path:
    return write_archive(tmp_path / "cifar-10-binary.tar.gz", "cifar-10-batches-bin", cifar10_files())


@pytest.fixture
def archive100(tmp_path) -> Path:
    return write_archive(tmp_path / "cifar-100-binary.tar.gz", "cifar-100-binary", cifar100_files())


def assert_same(a: gancore.Dataset, b: gancore.Dataset) -> None:
    assert a.tensors.keys() == b.tensors.keys()
    for key in a.tensors:
        assert torch.equal(a.tensors[key], b.tensors[key]), key
    assert a.num_classes == b.num_classes


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message, message
    return message


# ---------------------------------------------------------------- reading


def test_registered_with_their_parameters():
    reg = gancore.registry()
    assert {"cifar10", "cifar100"} <= set(reg.names("dataset"))
    assert set(reg.get("dataset", "cifar10").params.model_fields) == {"root", "split", "classes", "limit"}
    assert set(reg.get("dataset", "cifar100").params.model_fields) == {"root", "split", "labels", "classes", "limit"}


def test_cifar10_train_from_archive(archive10):
    data = build("cifar10", root=str(archive10))
    x, label = data.tensors["x"], data.tensors["label"]
    n = 5 * PER_BATCH
    assert len(data) == n and x.shape == (n, 3, 32, 32) and x.dtype == torch.uint8 and x.is_contiguous()
    assert label.dtype == torch.int64 and label.tolist() == [label10(k) for k in range(n)]
    assert data.num_classes == 10 and data.spec.shape == (3, 32, 32)
    assert data.class_names == tuple(NAMES10)
    for k in range(n):  # the batches follow one another in order, records in file order
        assert torch.equal(x[k], torch.from_numpy(image(k))), k
    # Record 7 (the second of data_batch_3.bin): red is its first plane, rows run down...
    rows = torch.arange(32, dtype=torch.uint8).view(32, 1)
    assert torch.equal(x[7, 0], (rows * 8 + 7).expand(32, 32))
    # ...green its second, columns run across; blue its third, row-major.
    assert torch.equal(x[7, 1], (rows.view(1, 32) * 8 + 1).expand(32, 32))
    assert x[7, 2, 0, 0] == 7 and x[7, 2, 0, 31] == 38 and x[7, 2, 1, 0] == 39 and x[7, 2, 7, 31] == (7 * 32 + 31 + 7) % 256


def test_cifar10_record_bytes_land_in_order(tmp_path):
    """Byte j of a record's pixels is x[c, r, col] with j = 1024 c + 32 r + col."""
    pixels = np.random.default_rng(1).integers(0, 256, size=3072, dtype=np.uint8).tobytes()
    files = cifar10_files()
    files["test_batch.bin"] = bytes([4]) + pixels
    data = build("cifar10", root=str(write_folder(tmp_path, "cifar-10-batches-bin", files)), split="test")
    x = data.tensors["x"][0]
    for c, r, col in [(0, 0, 0), (0, 0, 31), (0, 1, 0), (0, 31, 31), (1, 0, 0), (1, 5, 9), (2, 0, 0), (2, 31, 30)]:
        assert x[c, r, col].item() == pixels[1024 * c + 32 * r + col]
    assert bytes(x.flatten().tolist()) == pixels and data.tensors["label"].tolist() == [4]


def test_folder_forms_equal_the_archive(archive10, tmp_path):
    from_archive = build("cifar10", root=str(archive10))
    unpacked = tmp_path / "unpacked"
    with tarfile.open(archive10) as tar:
        tar.extractall(unpacked, filter="data")
    top = unpacked / "cifar-10-batches-bin"
    assert_same(build("cifar10", root=str(top)), from_archive)  # the archive's top folder
    assert_same(build("cifar10", root=str(unpacked)), from_archive)  # the folder above it
    assert_same(build("cifar10", root=str(tmp_path)), from_archive)  # the folder holding the archive
    assert build("cifar10", root=str(top)).class_names == tuple(NAMES10)


def test_test_split(archive10):
    data = build("cifar10", root=str(archive10), split="test")
    assert len(data) == 4 and data.tensors["label"].tolist() == [label10(k) for k in range(100, 104)]
    assert torch.equal(data.tensors["x"][2], torch.from_numpy(image(102)))


def test_limit_and_classes(archive10):
    full = build("cifar10", root=str(archive10)).tensors
    first = build("cifar10", root=str(archive10), limit=4).tensors
    assert torch.equal(first["x"], full["x"][:4]) and torch.equal(first["label"], full["label"][:4])
    assert len(build("cifar10", root=str(archive10), limit=1000)) == 5 * PER_BATCH
    picked = build("cifar10", root=str(archive10), classes=[4, 0])
    keep = (full["label"] == 4) | (full["label"] == 0)
    assert picked.num_classes == 10  # labels keep their meaning
    assert torch.equal(picked.tensors["label"], full["label"][keep]) and torch.equal(picked.tensors["x"], full["x"][keep])
    assert picked.tensors["x"].is_contiguous() and len(picked) == 4  # ids 1, 3, 11, 13, from four batches
    both = build("cifar10", root=str(archive10), classes=[4, 0], limit=3).tensors
    assert torch.equal(both["x"], full["x"][keep][:3]) and torch.equal(both["label"], full["label"][keep][:3])


@pytest.mark.parametrize(
    "params, message",
    [
        ({"classes": [10]}, "labels 0..9"),
        ({"classes": []}, "labels 0..9"),
        ({"limit": 0}, "limit"),
        ({"split": "valid"}, "split"),
        ({"labels": "fine"}, "unknown parameter"),
    ],
)
def test_bad_parameters(archive10, params, message):
    with pytest.raises(GancoreError, match=message) as err:
        build("cifar10", root=str(archive10), **params)
    one_line(err)


def test_cifar100_fine_and_coarse(archive100, tmp_path):
    data = build("cifar100", root=str(archive100))
    x = data.tensors["x"]
    assert x.shape == (6, 3, 32, 32) and x.dtype == torch.uint8 and data.num_classes == 100
    assert data.tensors["label"].tolist() == [fine(k) for k in range(6)]
    assert data.class_names == tuple(f"class_{i}" for i in range(100))
    for k in range(6):
        assert torch.equal(x[k], torch.from_numpy(image(k)))
    rough = build("cifar100", root=str(archive100), labels="coarse")
    assert rough.num_classes == 20 and rough.tensors["label"].tolist() == [coarse(k) for k in range(6)]
    assert torch.equal(rough.tensors["x"], x) and rough.class_names[19] == "superclass_19"
    test = build("cifar100", root=str(archive100), split="test", labels="coarse")
    assert test.tensors["label"].tolist() == [coarse(k) for k in range(50, 53)]
    assert torch.equal(test.tensors["x"][1], torch.from_numpy(image(51)))
    # Classes filter the chosen labels: coarse 2 is record 2 only; fine 95 is record 0 only.
    assert build("cifar100", root=str(archive100), labels="coarse", classes=[2]).tensors["label"].tolist() == [2]
    assert torch.equal(build("cifar100", root=str(archive100), classes=[95]).tensors["x"], x[:1])
    with pytest.raises(GancoreError, match=r"labels 0\.\.19"):
        build("cifar100", root=str(archive100), labels="coarse", classes=[20])
    unpacked = write_folder(tmp_path / "plain", "cifar-100-binary", cifar100_files())
    assert_same(build("cifar100", root=str(unpacked.parent)), data)


# ---------------------------------------------------------------- bad input


def _changed(files: dict[str, bytes], name: str, content: bytes | None) -> dict[str, bytes]:
    out = dict(files)
    if content is None:
        del out[name]
    else:
        out[name] = content
    return out


def _relabelled(content: bytes, index: int, size: int, value: int, column: int = 0) -> bytes:
    data = bytearray(content)
    data[index * size + column] = value
    return bytes(data)


TEN = cifar10_files()
HUNDRED = cifar100_files()
BAD_INPUT = [
    pytest.param("cifar10", _changed(TEN, "data_batch_3.bin", None),
                 "has no cifar-10-batches-bin/data_batch_3.bin", id="missing-batch"),
    pytest.param("cifar10", _changed(TEN, "batches.meta.txt", None),
                 "has no cifar-10-batches-bin/batches.meta.txt", id="missing-names"),
    pytest.param("cifar10", _changed(TEN, "data_batch_2.bin", TEN["data_batch_2.bin"][:-1]),
                 r"data_batch_2.bin in .* is 9218 bytes, not a whole number of 3073-byte records", id="truncated"),
    pytest.param("cifar10", _changed(TEN, "data_batch_5.bin", b""), "data_batch_5.bin in .* is empty", id="empty"),
    pytest.param("cifar10", _changed(TEN, "data_batch_4.bin", _relabelled(TEN["data_batch_4.bin"], 1, 3073, 10)),
                 r"record 1 of data_batch_4.bin in .* has label 10, not 0\.\.9", id="label"),
    pytest.param("cifar10", _changed(TEN, "batches.meta.txt", b"cat\ndog\n"),
                 "batches.meta.txt in .* names 2 classes, not 10", id="names"),
    pytest.param("cifar100", _changed(HUNDRED, "train.bin", HUNDRED["train.bin"][:-3074] + HUNDRED["train.bin"][:5]),
                 "train.bin in .* is 15375 bytes, not a whole number of 3074-byte records", id="100-truncated"),
    pytest.param("cifar100", _changed(HUNDRED, "train.bin", _relabelled(HUNDRED["train.bin"], 4, 3074, 100, column=1)),
                 r"record 4 of train.bin in .* has fine label 100, not 0\.\.99", id="100-fine-label"),
    pytest.param("cifar100", _changed(HUNDRED, "train.bin", _relabelled(HUNDRED["train.bin"], 0, 3074, 20, column=0)),
                 r"record 0 of train.bin in .* has coarse label 20, not 0\.\.19", id="100-coarse-label"),
    pytest.param("cifar100", _changed(HUNDRED, "fine_label_names.txt", None),
                 "has no cifar-100-binary/fine_label_names.txt", id="100-missing-names"),
]


@pytest.mark.parametrize("name, files, message", BAD_INPUT)
def test_bad_files_in_an_archive(tmp_path, name, files, message):
    layout = cifar.CIFAR10 if name == "cifar10" else cifar.CIFAR100
    archive = write_archive(tmp_path / layout.archive, layout.folder, files)
    with pytest.raises(GancoreError, match=message) as err:
        build(name, root=str(archive))
    assert name in one_line(err)


def test_bad_files_in_a_folder(tmp_path):
    folder = write_folder(tmp_path, "cifar-10-batches-bin", _changed(TEN, "test_batch.bin", None))
    with pytest.raises(GancoreError, match=f"no test_batch.bin in {re.escape(str(folder))}$") as err:
        build("cifar10", root=str(folder), split="test")
    one_line(err)
    (folder / "data_batch_1.bin").write_bytes(TEN["data_batch_1.bin"] + b"\0")
    with pytest.raises(GancoreError, match="data_batch_1.bin in .* is 9220 bytes") as err:
        build("cifar10", root=str(tmp_path))
    one_line(err)


def test_bad_paths(tmp_path, archive10):
    with pytest.raises(GancoreError, match=f"cifar10: {re.escape(str(tmp_path / 'nope'))} does not exist") as err:
        build("cifar10", root=str(tmp_path / "nope"))
    one_line(err)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GancoreError, match="holds neither cifar-10-binary.tar.gz nor its folder cifar-10-batches-bin/") as err:
        build("cifar10", root=str(empty))
    one_line(err)
    not_tar = tmp_path / "notes.txt"
    not_tar.write_text("not an archive\n")
    with pytest.raises(GancoreError, match=f"cannot read {re.escape(str(not_tar))} as a tar archive") as err:
        build("cifar10", root=str(not_tar))
    one_line(err)
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(archive10.read_bytes()[: archive10.stat().st_size // 2])
    with pytest.raises(GancoreError, match="cannot read .*cut.tar.gz as a tar archive") as err:
        build("cifar10", root=str(cut))
    one_line(err)
    # A CIFAR-100 archive is not CIFAR-10: its members are not where CIFAR-10's are.
    other = write_archive(tmp_path / "cifar-100-binary.tar.gz", "cifar-100-binary", HUNDRED)
    with pytest.raises(GancoreError, match="has no cifar-10-batches-bin/data_batch_1.bin") as err:
        build("cifar10", root=str(other))
    one_line(err)


# ---------------------------------------------------------------- download


def test_official_addresses_and_checksums():
    """The published binary archives and the MD5 sums https://www.cs.toronto.edu/~kriz/cifar.html lists."""
    assert cifar.URLS == {
        "cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
        "cifar100": "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
    }
    assert cifar.MD5 == {"cifar10": "c32a1d4ab5d03f1284b67883e8d87530", "cifar100": "03b5dce01913d631647c71ecec9e9cb8"}


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A CIFAR-10 archive served at a file:// address, its MD5 the expected one, and an
    empty cache: (archive, cache folder)."""
    archive = write_archive(tmp_path / "served.tar.gz", "cifar-10-batches-bin", cifar10_files())
    cache = tmp_path / "cache"
    monkeypatch.setenv("GANCORE_CACHE", str(cache))
    monkeypatch.setitem(cifar.URLS, "cifar10", archive.as_uri())
    monkeypatch.setitem(cifar.MD5, "cifar10", hashlib.md5(archive.read_bytes()).hexdigest())
    return archive, cache


def test_download_once_then_cache(served):
    archive, cache = served
    data = build("cifar10")
    assert_same(data, build("cifar10", root=str(archive)))
    kept = cache / "cifar10" / "cifar-10-binary.tar.gz"
    assert [p.name for p in (cache / "cifar10").iterdir()] == [kept.name]  # no temporary files
    assert kept.read_bytes() == archive.read_bytes()
    archive.unlink()  # the second load reads the cache, downloading nothing
    assert_same(build("cifar10", split="test", limit=2), build("cifar10", root=str(kept), split="test", limit=2))


def test_download_with_a_wrong_checksum_is_refused(served, monkeypatch):
    archive, cache = served
    actual = hashlib.md5(archive.read_bytes()).hexdigest()
    monkeypatch.setitem(cifar.MD5, "cifar10", "0" * 32)
    with pytest.raises(GancoreError, match="MD5 mismatch for cifar-10-binary.tar.gz") as err:
        build("cifar10")
    message = one_line(err)
    assert "0" * 32 in message and actual in message and archive.as_uri() in message
    assert list((cache / "cifar10").iterdir()) == []  # nothing kept, not even a partial file
    monkeypatch.setitem(cifar.MD5, "cifar10", actual)  # the next load starts clean and succeeds
    assert len(build("cifar10")) == 5 * PER_BATCH


def test_offline_names_the_address_and_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCORE_CACHE", str(tmp_path / "cache"))
    url = (tmp_path / "unreachable" / "cifar-100-binary.tar.gz").as_uri()
    monkeypatch.setitem(cifar.URLS, "cifar100", url)
    with pytest.raises(GancoreError, match="cifar100: cannot download") as err:
        build("cifar100")
    message = one_line(err)
    assert url in message and str(tmp_path / "cache" / "cifar100" / "cifar-100-binary.tar.gz") in message
    assert "root" in message
    assert not any(p.is_file() for p in (tmp_path / "cache").rglob("*"))


# ---------------------------------------------------------------- full size


def test_full_size_train_split(tmp_path):
    """Five batches of 10,000 records: 50,000 images, each file's first record at 10,000 k."""
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    for b, name in enumerate(TRAIN10):
        records = np.zeros((10_000, 3073), dtype=np.uint8)
        records[:, 0] = b  # every record of batch b has label b
        records[0, 1:] = 100 + b  # its first image is grey 100 + b, the others black
        records[-1, 1 + 1024 * 2 + 32 * 31 + 31] = 200 + b  # its last image: one blue pixel, bottom right
        (folder / name).write_bytes(records.tobytes())
    (folder / "batches.meta.txt").write_bytes(cifar10_files()["batches.meta.txt"])
    start = time.perf_counter()
    data = build("cifar10", root=str(tmp_path))
    elapsed = time.perf_counter() - start
    x, label = data.tensors["x"], data.tensors["label"]
    assert len(data) == 50_000 and x.shape == (50_000, 3, 32, 32) and x.dtype == torch.uint8
    assert torch.equal(label, torch.arange(5).repeat_interleave(10_000))
    for b in range(5):
        assert (x[10_000 * b] == 100 + b).all()
        assert x[10_000 * b + 1].sum() == 0
        assert x[10_000 * b + 9_999, 2, 31, 31] == 200 + b and x[10_000 * b + 9_999].sum() == 200 + b
    assert elapsed < 5, f"loading 50,000 images took {elapsed:.1f} s"
