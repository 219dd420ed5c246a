"""The ``inception`` features: gancore's inference build of the FID Inception-v3 against an
independent functional reference (tests/inception_reference.py) on random weights in the
published layout, its two resize modes, and where the weights come from."""

from __future__ import annotations

import hashlib
import os
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import gancore
from gancore._params import params_model
from gancore_metrics import inception_weights as iw
from gancore_metrics.inception import (
    InceptionFeatures,
    inception_features,
    inception_network,
    preprocess,
    resize_bilinear,
    state_shapes,
)
from gancore_metrics.inception_weights import InceptionWeightsWarning, load_inception_state, weights_path
from tests import inception_reference as ref

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def weights(inception_weights):
    """The session's random weights, with gancore's network for them loaded: they are not
    the published file, and the warning that says so (tested below) is silenced here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InceptionWeightsWarning)
        inception_network(inception_weights)
    return inception_weights


@pytest.fixture(scope="module")
def ref_state(inception_weights):
    return ref.load_state(inception_weights)


def images(n, c, h, w, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.uint8:
        return torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8, generator=g)
    return torch.rand(n, c, h, w, generator=g, dtype=dtype) * 2 - 1


def as_levels(x):
    """What an image file of ``x`` holds: floats in [-1, 1] rounded to 8-bit levels."""
    return x if x.dtype == torch.uint8 else ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def max_diff(a, b):
    return (a - b).abs().max().item()


@pytest.mark.parametrize("n,c,h,w,dtype", [
    (3, 3, 32, 32, torch.uint8),
    (3, 3, 32, 32, torch.float32),
    (2, 1, 28, 28, torch.uint8),
    (2, 1, 24, 40, torch.float32),
    (2, 3, 64, 48, torch.float64),
], ids=["u8-rgb-32", "float-rgb-32", "u8-gray-28", "float-gray-24x40", "double-rgb-64x48"])
def test_features_and_logits_match_the_reference(weights, ref_state, n, c, h, w, dtype):
    x = images(n, c, h, w, dtype)
    part = InceptionFeatures(weights=str(weights), batch_size=2)
    feats, logits = part.features_and_logits(x)
    want_feats, want_logits = ref.reference(ref_state, as_levels(x))
    assert feats.shape == (n, 2048) and logits.shape == (n, 1008)
    assert feats.dtype == logits.dtype == torch.float32
    df, dl = max_diff(feats, want_feats), max_diff(logits, want_logits)
    print(f"max abs difference: features {df:.2e}, logits {dl:.2e}")
    assert df <= TOLERANCE and dl <= TOLERANCE
    # the features depend on the images (random weights can wash them out)
    assert max_diff(want_feats[0], want_feats[1]) > 100 * TOLERANCE
    # features() and logits() alone give the same numbers
    assert torch.equal(part.features(x), feats) and torch.equal(part.logits(x), logits)


def clean_reference_input(levels):
    """clean-fid's resize done here with PIL directly: each channel a float image, bicubic."""
    rgb = levels.repeat(1, 3, 1, 1) if levels.shape[1] == 1 else levels
    out = np.zeros((len(rgb), 3, 299, 299), dtype=np.float32)
    for i, image in enumerate(rgb.numpy()):
        for j, channel in enumerate(image):
            resized = Image.fromarray(channel.astype(np.float32)).resize((299, 299), Image.Resampling.BICUBIC)
            out[i, j] = np.clip(np.asarray(resized), 0, 255)
    return torch.from_numpy(out) / 255 * 2 - 1


@pytest.mark.parametrize("c,h,w,dtype", [(3, 32, 32, torch.uint8), (1, 20, 28, torch.float32)])
def test_clean_mode_matches_pil_bicubic(weights, ref_state, c, h, w, dtype):
    x = images(2, c, h, w, dtype, seed=1)
    part = InceptionFeatures(weights=str(weights), resize="clean")
    feats, logits = part.features_and_logits(x)
    with torch.no_grad():
        want_feats, want_logits = ref.network(ref_state, clean_reference_input(as_levels(x)))
    df, dl = max_diff(feats, want_feats), max_diff(logits, want_logits)
    print(f"clean mode max abs difference: features {df:.2e}, logits {dl:.2e}")
    assert df <= TOLERANCE and dl <= TOLERANCE
    bilinear = InceptionFeatures(weights=str(weights)).features(x)
    assert max_diff(feats, bilinear) > 100 * TOLERANCE  # the two modes are different resizes


def test_bilinear_resize_at_299_is_the_identity():
    levels = as_levels(images(2, 3, 299, 299, torch.uint8)).float()
    assert torch.equal(resize_bilinear(levels), 2 * (levels / 255) - 1)
    assert preprocess(images(1, 1, 8, 8, torch.uint8)).shape == (1, 3, 299, 299)


def test_float_images_are_their_8_bit_levels(weights):
    x = images(1, 3, 16, 16, torch.float32, seed=2)
    part = InceptionFeatures(weights=str(weights))
    assert torch.equal(part.features(x), part.features(as_levels(x)))
    assert part.features(x[:0]).shape == (0, 2048) and part.logits(x[:0]).shape == (0, 1008)
    with pytest.raises(ValueError, match="C 1 or 3"):
        part.features(torch.zeros(1, 2, 8, 8))
    with pytest.raises(ValueError, match="uint8"):
        part.features(torch.zeros(1, 3, 8, 8, dtype=torch.int64))


def test_network_layout_and_cache(weights):
    shapes = state_shapes()
    file_keys = torch.load(weights, map_location="cpu", weights_only=True)
    assert {k: v.shape for k, v in file_keys.items()} == shapes
    for key in ("Mixed_5b.branch5x5_1.conv.weight", "Conv2d_1a_3x3.bn.running_var", "fc.weight",
                "Mixed_7c.branch3x3dbl_3b.bn.num_batches_tracked"):
        assert key in shapes
    assert shapes["fc.weight"] == (1008, 2048)
    net = inception_network(weights)
    assert inception_network(str(weights), "cpu") is net  # once per file and device
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())  # folded


def test_building_touches_no_file(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("touched the weights")

    monkeypatch.setenv("GANCORE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GANCORE_INCEPTION_WEIGHTS", str(tmp_path / "absent.pth"))
    monkeypatch.setattr(iw.urllib.request, "urlopen", refuse)
    monkeypatch.setattr(iw.torch, "load", refuse)
    part = inception_features()
    other = inception_features(weights=str(tmp_path / "also-absent.pth"), resize="clean", batch_size=7)
    assert (part.resize, part.batch_size, other.resize, other.batch_size) == ("bilinear", 100, "clean", 7)
    assert isinstance(part, gancore.Features) and part.dim == 2048 and part.num_classes == 1008
    assert not (tmp_path / "cache").exists()
    model = params_model(inception_features, "inception")
    assert model(resize="clean", batch_size=3).resize == "clean"
    for bad in ({"batch_size": 0}, {"resize": "nearest"}):
        with pytest.raises(Exception):
            model(**bad)
    assert inception_features.supports(gancore.DataSpec((3, 32, 32)))
    assert not inception_features.supports(gancore.DataSpec((2,)))


def test_cache_key_and_description(inception_weights):
    a = InceptionFeatures(weights=str(inception_weights))
    b = InceptionFeatures(weights=str(inception_weights), resize="clean")
    st = inception_weights.stat()
    assert a.cache_key == ("inception", str(inception_weights.resolve()), st.st_size, st.st_mtime_ns, "bilinear")
    assert a.cache_key != b.cache_key and hash(a.cache_key) != hash(b.cache_key)
    assert a.describe() == {"features": "inception", "resize": "bilinear", "weights": inception_weights.name}


# ---------------------------------------------------------------- where the weights come from


def sha256_of(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def small_file(tmp_path):
    """A stand-in for the published file (what is downloaded is not loaded here)."""
    path = tmp_path / "source" / "weights.pth"
    path.parent.mkdir()
    path.write_bytes(os.urandom(3 << 20))  # larger than one read chunk
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("GANCORE_CACHE", str(folder))
    monkeypatch.delenv("GANCORE_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setattr(iw, "URL", (tmp_path / "nowhere" / iw.FILE_NAME).as_uri())
    return folder


def test_explicit_path_then_environment_then_cache(small_file, cache, monkeypatch, tmp_path):
    assert weights_path(small_file) == small_file.resolve()
    assert weights_path(str(small_file)) == small_file.resolve()
    with pytest.raises(gancore.GancoreError, match="absent.pth"):
        weights_path(tmp_path / "absent.pth")
    monkeypatch.setenv("GANCORE_INCEPTION_WEIGHTS", str(small_file))
    assert weights_path() == small_file.resolve()
    monkeypatch.setenv("GANCORE_INCEPTION_WEIGHTS", str(tmp_path / "gone.pth"))
    with pytest.raises(gancore.GancoreError, match="gone.pth.*GANCORE_INCEPTION_WEIGHTS"):
        weights_path()
    monkeypatch.delenv("GANCORE_INCEPTION_WEIGHTS")
    cache.mkdir()
    cached = cache / iw.FILE_NAME
    cached.write_bytes(b"cached")
    assert weights_path() == cached.resolve()  # the URL leads nowhere: no download was tried


def test_download_checks_the_hash(small_file, cache, monkeypatch):
    monkeypatch.setattr(iw, "URL", small_file.as_uri())
    monkeypatch.setattr(iw, "SHA256", sha256_of(small_file))
    got = weights_path()
    assert got == (cache / iw.FILE_NAME).resolve()
    assert got.read_bytes() == small_file.read_bytes()
    assert sorted(p.name for p in cache.iterdir()) == [iw.FILE_NAME]  # no temporary left


def test_download_with_a_wrong_hash_is_refused(small_file, cache, monkeypatch):
    monkeypatch.setattr(iw, "URL", small_file.as_uri())
    monkeypatch.setattr(iw, "SHA256", "0" * 64)
    with pytest.raises(gancore.GancoreError, match="SHA-256") as refused:
        weights_path()
    assert "\n" not in str(refused.value)
    assert list(cache.iterdir()) == []


def test_no_weights_and_no_network_says_where_to_get_them(cache):
    with pytest.raises(gancore.GancoreError) as failed:
        InceptionFeatures().features(torch.zeros(1, 3, 8, 8))
    message = str(failed.value)
    print(message)
    assert "\n" not in message
    for part in (iw.FILE_NAME, iw.URL, str(cache / iw.FILE_NAME), "--weights PATH", "GANCORE_INCEPTION_WEIGHTS"):
        assert part in message
    assert list(cache.iterdir()) == []


# ---------------------------------------------------------------- checking a weights file


@pytest.fixture(scope="module")
def state(inception_weights):
    return torch.load(inception_weights, map_location="cpu", weights_only=True)


def one_line_error(path, match):
    with pytest.raises(gancore.GancoreError, match=match) as failed:
        load_inception_state(path)
    message = str(failed.value)
    print(message)
    assert "\n" not in message and str(path) in message
    return message


def test_damaged_files_are_refused_in_one_line(inception_weights, tmp_path):
    truncated = tmp_path / "truncated.pth"
    with inception_weights.open("rb") as fh:
        truncated.write_bytes(fh.read(100_000))
    one_line_error(truncated, "cannot load Inception weights")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(os.urandom(5000))
    one_line_error(junk, "cannot load Inception weights")
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    one_line_error(empty, "cannot load Inception weights")
    listed = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], listed)
    one_line_error(listed, "not an Inception state dict")
    with pytest.raises(gancore.GancoreError, match="truncated.pth"):
        InceptionFeatures(weights=str(truncated)).features(torch.zeros(1, 3, 8, 8))


def test_a_wrong_layout_names_the_problems(state, tmp_path):
    missing = dict(state)
    del missing["Mixed_6c.branch7x7_2.conv.weight"]
    torch.save(missing, tmp_path / "missing.pth")
    one_line_error(tmp_path / "missing.pth", r"1 problem: missing Mixed_6c\.branch7x7_2\.conv\.weight\)")

    wrong = dict(state)
    wrong["fc.weight"] = torch.zeros(1000, 2048)
    wrong["fc.bias"] = torch.zeros(1000)
    wrong["AuxLogits.fc.weight"] = torch.zeros(1000, 768)
    torch.save(wrong, tmp_path / "wrong.pth")
    message = one_line_error(tmp_path / "wrong.pth", "3 problems")
    assert "unexpected AuxLogits.fc.weight" in message
    assert "fc.weight has shape (1000, 2048), not (1008, 2048)" in message

    many = {k: v for k, v in state.items() if not k.startswith("Mixed_7c")}
    torch.save(many, tmp_path / "many.pth")
    assert "more" in one_line_error(tmp_path / "many.pth", "missing Mixed_7c")


def test_weights_of_another_origin_warn_and_work(inception_weights, tmp_path, monkeypatch):
    # A port of one's own: no num_batches_tracked keys (which are optional), another hash.
    own = ref.write_weights(tmp_path / "own-port.pth", seed=1, num_batches_tracked=False)
    with pytest.warns(InceptionWeightsWarning, match="not the published"):
        feats = InceptionFeatures(weights=str(own)).features(images(2, 3, 16, 16, torch.uint8))
    want, _ = ref.reference(ref.load_state(own), images(2, 3, 16, 16, torch.uint8))
    assert max_diff(feats, want) <= TOLERANCE
    # the published hash: no warning
    monkeypatch.setattr(iw, "SHA256", sha256_of(inception_weights))
    with warnings.catch_warnings():
        warnings.simplefilter("error", InceptionWeightsWarning)
        load_inception_state(inception_weights)
