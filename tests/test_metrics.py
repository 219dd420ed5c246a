"""The metrics plugin: FID, KID, precision/recall, density/coverage, classifier score, modes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

import gancore
from gancore_metrics.classifier import classifier_stats
from gancore_metrics.frechet import frechet_distance
from gancore_metrics.kernels import unbiased_mmd2
from gancore_metrics.manifold import manifold_stats


def metric(name, **params):
    return gancore.build("metric", name, params)


def gaussian(n, mean, cov, seed):
    gen = torch.Generator().manual_seed(seed)
    chol = torch.linalg.cholesky(cov)
    return {"x": mean + torch.randn(n, len(mean), generator=gen, dtype=torch.float64) @ chol.T}


def random_covariance(d, seed):
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(d, d, generator=gen, dtype=torch.float64)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


def closed_form_fid(m1, s1, m2, s2):
    """||m1 - m2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2}), with scipy's general sqrtm."""
    m1, s1, m2, s2 = (t.numpy() for t in (m1, s1, m2, s2))
    root = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * root))


# ---------------------------------------------------------------- registry


def test_every_metric_is_registered_and_says_how_to_read_it():
    reg = gancore.registry()
    names = set(reg.names("metric"))
    ours = {"fid", "kid", "precision-recall", "density-coverage", "classifier-score", "modes", "stacked-mnist-modes"}
    assert ours <= names
    assert {"mnist", "identity"} <= set(reg.names("features"))
    for name in ours:
        factory = reg.get("metric", name).factory
        assert issubclass(factory, gancore.Metric)
        assert factory.higher_is_better and all(isinstance(v, bool) for v in factory.higher_is_better.values())


def test_unknown_feature_space_is_a_recipe_error():
    with pytest.raises(gancore.UnknownNameError, match="features"):
        gancore.registry().validate("metric", "fid", {"features": "inceptoin"})


# ---------------------------------------------------------------- FID


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")  # the singular case below
def test_frechet_distance_matches_the_closed_form_exactly():
    m1, m2 = torch.zeros(6, dtype=torch.float64), torch.linspace(-1, 1, 6, dtype=torch.float64)
    s1, s2 = random_covariance(6, 1), random_covariance(6, 2)
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(closed_form_fid(m1, s1, m2, s2), rel=1e-9)
    # A singular covariance (rank 2 of 6) must not break the square root.
    low_rank = torch.randn(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    s3 = low_rank @ low_rank.T
    assert frechet_distance(m1, s3, m2, s2) == pytest.approx(closed_form_fid(m1, s3, m2, s2), rel=1e-6)


def test_fid_of_sampled_gaussians_approaches_the_closed_form():
    m1 = torch.zeros(4, dtype=torch.float64)
    m2 = torch.tensor([1.0, -0.5, 0.0, 0.25], dtype=torch.float64)
    s1, s2 = random_covariance(4, 10), random_covariance(4, 11)
    expected = closed_form_fid(m1, s1, m2, s2)
    got = metric("fid", features="identity").compute(gaussian(200_000, m1, s1, 0), gaussian(200_000, m2, s2, 1))
    assert set(got) == {"fid"}
    assert got["fid"] == pytest.approx(expected, rel=0.02, abs=0.01)


def test_fid_of_identical_sets_is_zero():
    data = gaussian(5000, torch.zeros(4, dtype=torch.float64), random_covariance(4, 5), 0)
    assert metric("fid", features="identity").compute(data, data)["fid"] == pytest.approx(0.0, abs=1e-8)


# ---------------------------------------------------------------- KID


def test_unbiased_mmd_matches_its_definition():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(7, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(7, 3, generator=gen, dtype=torch.float64) + 1

    def k(a, b):
        return (float(a @ b) / 3 + 1) ** 3

    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    assert float(unbiased_mmd2(x[None], y[None])[0]) == pytest.approx(xx + yy - 2 * xy, rel=1e-10)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_a_shift():
    mean, cov = torch.zeros(4, dtype=torch.float64), torch.eye(4, dtype=torch.float64)
    kid = metric("kid", features="identity", subsets=20, subset_size=400)
    same = kid.compute(gaussian(3000, mean, cov, 0), gaussian(3000, mean, cov, 1))
    shifted = kid.compute(gaussian(3000, mean, cov, 0), gaussian(3000, mean + 0.5, cov, 1))
    assert set(same) == {"kid", "kid_std"}
    # Unbiased: the same-distribution estimate scatters around 0 (and can be negative).
    assert abs(same["kid"]) < 3 * same["kid_std"] / math.sqrt(20) + 1e-3
    assert shifted["kid"] > 0.05 and shifted["kid"] > 20 * abs(same["kid"])


def test_kid_subset_size_is_clamped_to_the_sample_count():
    mean, cov = torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)
    real, fake = gaussian(50, mean, cov, 0), gaussian(50, mean, cov, 1)
    out = metric("kid", features="identity", subsets=3, subset_size=1000).compute(real, fake)
    # Every subset is then the whole set, in some order: one and the same estimate.
    whole = float(unbiased_mmd2(real["x"][None], fake["x"][None])[0])
    assert out["kid"] == pytest.approx(whole, rel=1e-9) and out["kid_std"] == pytest.approx(0.0, abs=1e-9)


# ---------------------------------------------------------------- precision, recall, density, coverage


def test_density_coverage_reference_values():
    # The reference setting of Naeem et al. 2020: 10k real and 10k fake from N(0, I_1000),
    # k = 5: precision 0.4772, recall 0.4705, density 1.0555, coverage 0.9735.
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(10_000, 1000, generator=gen), torch.randn(10_000, 1000, generator=gen)
    stats = manifold_stats(real, fake, k=5)
    assert stats["precision"] == pytest.approx(0.4772, abs=0.02)
    assert stats["recall"] == pytest.approx(0.4705, abs=0.02)
    assert stats["density"] == pytest.approx(1.0555, abs=0.05)
    assert stats["coverage"] == pytest.approx(0.9735, abs=0.02)


def test_manifold_metrics_report_their_pairs():
    gen = torch.Generator().manual_seed(1)
    real = {"x": torch.randn(600, 8, generator=gen)}
    fake = {"x": torch.randn(500, 8, generator=gen)}
    pr = metric("precision-recall", features="identity", k=3).compute(real, fake)
    dc = metric("density-coverage", features="identity", k=5).compute(real, fake)
    assert pr == {k: v for k, v in manifold_stats(real["x"], fake["x"], 3).items() if k in ("precision", "recall")}
    assert dc == {k: v for k, v in manifold_stats(real["x"], fake["x"], 5).items() if k in ("density", "coverage")}
    # Collapsed fakes (all near one real point) are precise but cover almost nothing.
    collapsed = {"x": real["x"][:1] + 0.001 * torch.randn(500, 8, generator=gen)}
    pr = metric("precision-recall", features="identity").compute(real, collapsed)
    dc = metric("density-coverage", features="identity").compute(real, collapsed)
    assert pr["precision"] == 1.0 and pr["recall"] < 0.02
    assert dc["coverage"] < 0.02
    # Far-away fakes: nothing matches.
    far = metric("density-coverage", features="identity").compute(real, {"x": fake["x"] + 100})
    assert far == {"density": 0.0, "coverage": 0.0}


def test_manifold_metrics_need_more_samples_than_k():
    tiny = {"x": torch.randn(3, 2)}
    with pytest.raises(ValueError, match="at least 6"):
        metric("density-coverage", features="identity").compute(tiny, tiny)


# ---------------------------------------------------------------- classifier score


def test_classifier_stats_on_perfect_and_collapsed_predictions():
    confident = torch.full((1000, 10), -30.0)
    confident[torch.arange(1000), torch.arange(1000) % 10] = 0.0
    balanced = classifier_stats(torch.log_softmax(confident, 1), min_share=0.1)
    assert balanced["classifier_score"] == pytest.approx(10.0, rel=1e-6)
    assert balanced["class_entropy"] == pytest.approx(math.log(10), rel=1e-9)
    assert balanced["class_coverage"] == 1.0

    one_class = torch.full((1000, 10), -30.0)
    one_class[:, 3] = 0.0
    collapsed = classifier_stats(torch.log_softmax(one_class, 1), min_share=0.1)
    assert collapsed["classifier_score"] == pytest.approx(1.0, rel=1e-6)
    assert collapsed["class_entropy"] == pytest.approx(0.0, abs=1e-12)
    assert collapsed["class_coverage"] == pytest.approx(0.1)

    # Class 0 gets 0.5% of the predictions: below 10% of its fair share (1%), so uncovered.
    labels = torch.cat([torch.zeros(5, dtype=torch.long), torch.arange(995) % 9 + 1])
    skewed = torch.full((1000, 10), -30.0)
    skewed[torch.arange(1000), labels] = 0.0
    assert classifier_stats(torch.log_softmax(skewed, 1), min_share=0.1)["class_coverage"] == pytest.approx(0.9)
    assert classifier_stats(torch.log_softmax(skewed, 1), min_share=0.4)["class_coverage"] == pytest.approx(0.9)
    assert classifier_stats(torch.log_softmax(skewed, 1), min_share=0.05)["class_coverage"] == 1.0


# ---------------------------------------------------------------- modes


def test_modes_on_exact_grid_samples():
    data = gancore.build("dataset", "grid", {"num_samples": 20_000, "seed": 0})
    out = metric("modes", benchmark="grid").compute({}, {"x": data.tensors["x"]})
    assert out["modes"] == 25
    # Within 3 std of the centre in 2D: P(chi2_2 <= 9) = 1 - exp(-4.5).
    assert out["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.005)
    assert 0 <= out["reverse_kl"] < 0.005


def test_modes_on_the_ring():
    data = gancore.build("dataset", "ring", {"num_samples": 8000, "seed": 1})
    out = metric("modes", benchmark="ring").compute({}, {"x": data.tensors["x"]})
    assert out["modes"] == 8 and out["high_quality"] > 0.97 and out["reverse_kl"] < 0.01


def test_modes_on_five_of_twenty_five_modes():
    from gancore_data.mixtures import grid_modes

    centres = grid_modes()[[0, 6, 12, 18, 24]]
    gen = torch.Generator().manual_seed(0)
    points = centres.repeat_interleave(400, 0) + 0.01 * torch.randn(2000, 2, generator=gen)
    out = metric("modes", benchmark="grid").compute({}, {"x": points})
    assert out["modes"] == 5
    assert out["high_quality"] == 1.0
    assert out["reverse_kl"] == pytest.approx(math.log(25 / 5), rel=1e-9)


def test_points_far_from_modes_are_low_quality():
    between = torch.tensor([[1.0, 1.0], [-3.0, 1.0], [0.0, 3.0], [10.0, 10.0]]).repeat(25, 1)
    out = metric("modes", benchmark="grid").compute({}, {"x": between})
    assert out["modes"] == 0 and out["high_quality"] == 0.0 and out["reverse_kl"] == math.inf
    # Half on a mode, half off: only the half on a mode counts.
    mixed = torch.cat([torch.zeros(100, 2), between[:100]])
    out = metric("modes", benchmark="grid").compute({}, {"x": mixed})
    assert out["modes"] == 1 and out["high_quality"] == 0.5 and out["reverse_kl"] == pytest.approx(math.log(25))


def test_modes_benchmark_is_checked_and_auto_detected():
    with pytest.raises(gancore.GancoreError):
        gancore.build("metric", "modes", {"benchmark": "spiral"})
    auto = gancore.build("metric", "modes")
    ring = gancore.build("dataset", "ring", {"num_samples": 500}).tensors["x"]
    grid = gancore.build("dataset", "grid", {"num_samples": 500}).tensors["x"]
    assert auto.compute({"x": ring}, {"x": ring})["modes"] == 8
    assert auto.compute({"x": grid}, {"x": ring})["modes"] < 8  # scored against the grid's 25 modes
    with pytest.raises(ValueError, match="neither the ring nor the grid"):
        auto.compute({"x": torch.randn(100, 2) * 10}, {"x": ring})


# ---------------------------------------------------------------- on MNIST features


@pytest.fixture(scope="module")
def mnist_halves():
    x = gancore.as_float(gancore.build("dataset", "mnist", {"limit": 2000}).tensors["x"])
    return {"x": x[:1000]}, {"x": x[1000:]}


def test_fid_and_kid_on_mnist_features_separate_digits_from_noise(mnist_halves):
    real, other = mnist_halves
    noise = {"x": torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1}
    fid = metric("fid")
    real_vs_real, real_vs_noise = fid.compute(real, other)["fid"], fid.compute(real, noise)["fid"]
    assert real_vs_real < 0.05 * real_vs_noise
    kid = metric("kid", subsets=20, subset_size=500)
    kid_real, kid_noise = kid.compute(real, other)["kid"], kid.compute(real, noise)["kid"]
    assert abs(kid_real) < 0.01 * kid_noise and kid_noise > 0
