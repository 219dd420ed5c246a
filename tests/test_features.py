"""The shipped MNIST feature network and the metrics built on its classifier."""

from __future__ import annotations

import math
from importlib import resources

import pytest
import torch

import gancore
from gancore_data.stacked import stack_digits, stacked_mnist
from gancore_metrics.features import WEIGHTS_FILE, MnistNet, load_weights, mnist_network


@pytest.fixture(scope="module")
def test_split():
    """The embedded 10k MNIST test split: images N x 1 x 28 x 28 in [-1, 1], labels."""
    data = gancore.build("dataset", "mnist")
    return gancore.as_float(data.tensors["x"]), data.tensors["label"]


def test_weights_ship_as_small_package_data():
    weights = resources.files("gancore_metrics").joinpath("weights", WEIGHTS_FILE)
    assert weights.is_file() and len(weights.read_bytes()) < 1_000_000
    net = mnist_network()
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert mnist_network() is net  # loaded once per process


def test_inference_network_computes_the_trained_function(test_split):
    # The cached network folds BatchNorm into the convs; it must equal the plain definition.
    plain = MnistNet()
    plain.load_state_dict(load_weights())
    plain.eval()
    x = test_split[0][:200]
    with torch.no_grad():
        assert torch.allclose(mnist_network()(x), plain(x), atol=1e-4)


def test_accuracy_on_the_test_split(test_split):
    x, y = test_split
    feats, logits = gancore.build("features", "mnist").features_and_logits(x)
    assert feats.shape == (10_000, 128) and logits.shape == (10_000, 10)
    accuracy = (logits.argmax(1) == y).double().mean().item()
    assert accuracy >= 0.99


def test_batching_and_resizing_do_not_change_the_answer(test_split):
    x = test_split[0][:64]
    small = gancore.build("features", "mnist", {"batch_size": 7})
    large = gancore.build("features", "mnist", {"batch_size": 1000})
    assert torch.allclose(small.features(x), large.features(x), atol=1e-5)
    assert torch.allclose(small.logits(x), large.logits(x), atol=1e-5)
    # 32 x 32 generators are resized to the trained 28 x 28 and still recognised.
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), value=-1.0)
    agree = (large.logits(padded).argmax(1) == large.logits(x).argmax(1)).double().mean()
    assert agree > 0.9
    with pytest.raises(ValueError, match="N x 1 x H x W"):
        large.features(torch.zeros(2, 3, 28, 28))


def test_classifier_score_on_real_digits_and_on_noise(test_split):
    x, y = test_split[0][:5000], test_split[1][:5000]
    score = gancore.build("metric", "classifier-score")
    real = score.compute({}, {"x": x, "label": y})
    assert real["label_accuracy"] >= 0.99
    assert real["class_coverage"] == 1.0
    assert real["classifier_score"] > 9.0  # at most 10, for confident and balanced classes
    assert real["class_entropy"] == pytest.approx(math.log(10), abs=0.01)
    noise = torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    out = score.compute({}, {"x": noise})
    assert "label_accuracy" not in out
    assert out["classifier_score"] < 2.0


def test_stacked_mnist_modes_recovers_the_stacked_labels(test_split):
    x, y = test_split
    stacked = stack_digits(x, y, num_samples=2000, seed=0)
    images, labels = stacked.tensors["x"], stacked.tensors["label"]
    assert images.shape == (2000, 3, 28, 28) and stacked.num_classes == 1000
    # Each channel is a test digit, and the label's decimal digits are their labels.
    flat = x.flatten(1)
    for i in range(4):
        for channel, place in enumerate((100, 10, 1)):
            source = (flat == images[i, channel].flatten()).all(1).nonzero()[0, 0]
            assert y[source] == labels[i] // place % 10
    metric = gancore.build("metric", "stacked-mnist-modes")
    assert (metric.stacked_labels(images[:500]) == labels[:500]).double().mean() >= 0.97  # ~0.99 per digit, cubed
    out = metric.compute({}, {"x": images})
    # 2000 uniform draws over 1000 modes hit 1000 (1 - e^-2) = 865 of them on average.
    assert 830 <= out["modes"] <= 900
    assert 0 < out["kl"] < 0.6
    # Only ones in the first channel: about 100 modes (a few more from misread digits).
    ones = x[y == 1]
    collapsed = images[:1000].clone()
    collapsed[:, 0] = ones[torch.arange(1000) % len(ones), 0]
    out = metric.compute({}, {"x": collapsed})
    assert 80 <= out["modes"] <= 120 and out["kl"] > math.log(10) - 0.5


def test_stacked_mnist_dataset_is_seeded_and_sized():
    a = stacked_mnist(num_samples=200, seed=3)
    b = stacked_mnist(num_samples=200, seed=3)
    assert torch.equal(a.tensors["x"], b.tensors["x"]) and torch.equal(a.tensors["label"], b.tensors["label"])
    assert a.tensors["label"].dtype == torch.int64 and 0 <= a.tensors["label"].min() and a.tensors["label"].max() < 1000
    assert a.tensors["x"].dtype == torch.uint8  # stacked from MNIST's own uint8 digits
    assert stacked_mnist(num_samples=10, size=32).tensors["x"].shape == (10, 3, 32, 32)
    assert not torch.equal(stacked_mnist(num_samples=200, seed=4).tensors["label"], a.tensors["label"])
