"""Golden tests for the feature-space scores (FID, IS, KID, precision/recall, mode coverage)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganzoo_metrics.scores import (
    FeatureStats,
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    mode_coverage,
    precision_recall,
    trace_sqrt_product,
)


def _real_looking_features(n: int, d: int, seed: int) -> np.ndarray:
    """Non-negative, correlated, skewed features like a ReLU'd penultimate layer."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, d // 2))
    w = rng.standard_normal((d // 2, d)) / np.sqrt(d)
    return np.maximum(z @ w + 0.1, 0.0) + 0.01 * rng.standard_normal((n, d))


def _random_spd(d: int, rng) -> np.ndarray:
    a = rng.standard_normal((d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def _closed_form_fid(mu1, s1, mu2, s2) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1^{1/2} S2 S1^{1/2})^{1/2}) via eigendecompositions."""
    w, v = np.linalg.eigh(s1)
    root1 = v @ np.diag(np.sqrt(w)) @ v.T
    inner = np.linalg.eigvalsh(root1 @ s2 @ root1)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(inner).sum())


# -- FeatureStats ---------------------------------------------------------------------------------


def test_feature_stats_streaming_matches_numpy():
    x = _real_looking_features(1001, 24, seed=0) + 50.0  # a large mean: the shifted sums matter
    stats = FeatureStats(keep_all=True)
    for lo, hi in [(0, 1), (1, 8), (8, 500), (500, 501), (501, 1001)]:
        stats.add(torch.from_numpy(x[lo:hi]).float() if lo == 8 else x[lo:hi])
    x32 = x.copy()
    x32[8:500] = x[8:500].astype(np.float32)  # that batch went in as float32
    assert stats.count == 1001
    np.testing.assert_allclose(stats.mean(), x32.mean(axis=0), rtol=0, atol=1e-10)
    np.testing.assert_allclose(stats.cov(), np.cov(x32, rowvar=False), rtol=0, atol=1e-10)
    np.testing.assert_array_equal(stats.all_features(), x32)


def test_feature_stats_dict_round_trip():
    x = _real_looking_features(300, 8, seed=1)
    stats = FeatureStats()
    stats.add(x[:100])
    stats.add(x[100:])
    again = FeatureStats.from_dict({k: np.array(v) for k, v in stats.to_dict().items()})
    assert again.count == 300 and not again.keep_all
    np.testing.assert_allclose(again.mean(), stats.mean(), rtol=0, atol=0)
    np.testing.assert_allclose(again.cov(), stats.cov(), rtol=0, atol=0)
    with pytest.raises(ValueError):
        again.all_features()
    with pytest.raises(ValueError, match="feature size"):
        again.add(np.zeros((2, 9)))


# -- Frechet distance ---------------------------------------------------------------------------


def test_fid_of_a_set_with_itself_is_zero():
    stats = FeatureStats()
    stats.add(_real_looking_features(5000, 64, seed=2))
    mu, sigma = stats.mean(), stats.cov()
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-6


def test_fid_matches_the_closed_form_between_gaussians():
    rng = np.random.default_rng(3)
    d = 16
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    s1, s2 = _random_spd(d, rng), _random_spd(d, rng)
    expected = _closed_form_fid(mu1, s1, mu2, s2)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    tr_sqrt = (np.trace(s1 + s2) + (mu1 - mu2) @ (mu1 - mu2) - expected) / 2
    assert trace_sqrt_product(s1, s2) == pytest.approx(tr_sqrt, rel=1e-9)


def test_fid_diagonal_case_by_hand():
    # ||(1, 2)||^2 = 5; per axis (sqrt(a) - sqrt(b))^2: (1 - 3)^2 + (2 - 4)^2 = 8.
    assert frechet_distance([0, 0], np.diag([1.0, 4.0]), [1, 2], np.diag([9.0, 16.0])) == \
        pytest.approx(13.0, abs=1e-12)
    # Equal covariances: only the means count.
    assert frechet_distance([0, 0, 0], np.eye(3), [1, 1, 1], np.eye(3)) == pytest.approx(3.0)


def test_fid_singular_covariances_use_the_eps_offset():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((10, 32))  # 10 samples in 32 dims: rank-9 covariances
    b = rng.standard_normal((10, 32)) + 0.5
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    mu1, mu2 = a.mean(0), b.mean(0)
    value = frechet_distance(mu1, s1, mu2, s2)
    assert math.isfinite(value)
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2) - 2 * trace_sqrt_product(s1, s2)
    assert value == pytest.approx(expected, rel=1e-3)


def test_fid_rejects_a_large_imaginary_part_and_bad_shapes():
    with pytest.raises(ValueError, match="imaginary"):
        frechet_distance([0, 0], np.eye(2), [0, 0], -np.eye(2))
    with pytest.raises(ValueError, match="shape"):
        frechet_distance([0, 0], np.eye(2), [0, 0, 0], np.eye(3))


# -- Inception score ----------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 7, 10])
def test_inception_score_of_confident_uniform_predictions_is_k(k):
    splits = 10
    labels = np.tile(np.arange(k), 3 * splits)  # every consecutive split holds each class 3 times
    probs = np.eye(k)[labels]
    mean, std = inception_score(probs, splits=splits)
    assert mean == pytest.approx(k, rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_inception_score_of_identical_predictions_is_one():
    probs = np.tile(np.array([[0.2, 0.5, 0.3]]), (100, 1))
    assert inception_score(probs, splits=10) == pytest.approx((1.0, 0.0), abs=1e-12)


def test_inception_score_matches_the_openai_formula():
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((103, 12)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    scores = []
    for i in range(4):  # OpenAI's chunking: i*N//splits
        part = probs[i * 103 // 4 : (i + 1) * 103 // 4]
        kl = part * (np.log(part) - np.log(part.mean(0, keepdims=True)))
        scores.append(np.exp(kl.sum(1).mean()))
    assert inception_score(probs, splits=4) == pytest.approx((np.mean(scores), np.std(scores)))


# -- KID ----------------------------------------------------------------------------------------


def _naive_unbiased_mmd2(x, y) -> float:
    d = x.shape[1]
    k = lambda a, b: (a @ b / d + 1) ** 3  # noqa: E731
    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_equals_the_naive_unbiased_mmd_on_whole_sets():
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((12, 5)), rng.standard_normal((15, 5)) + 0.3
    # subset_size clips to the smaller set; a whole-set subset of x is a permutation of x.
    mean, std = kernel_inception_distance(x, y[:12], num_subsets=3, subset_size=1000)
    assert mean == pytest.approx(_naive_unbiased_mmd2(x, y[:12]), rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_of_a_set_with_itself_is_about_zero_and_grows_with_a_shift():
    both = _real_looking_features(2000, 32, seed=7)
    x, other = both[:1000], both[1000:]  # two samples of one distribution
    kw = dict(num_subsets=10, subset_size=250)
    same, _ = kernel_inception_distance(x, x, **kw)
    fresh, fresh_std = kernel_inception_distance(x, other, **kw)
    small, _ = kernel_inception_distance(x, x + 0.05, **kw)
    large, _ = kernel_inception_distance(x, x + 0.3, **kw)
    assert abs(same) < 3e-3 and abs(fresh) < 3e-3 and abs(fresh) < 3 * fresh_std
    assert small > 3 * max(abs(same), abs(fresh))
    assert large > 30 * small
    assert kernel_inception_distance(x, other, num_subsets=5, subset_size=100, seed=1) == \
        kernel_inception_distance(x, other, num_subsets=5, subset_size=100, seed=1)


def test_kid_of_a_whole_set_with_itself_is_the_known_small_negative_value():
    # With m = n both subsets are the whole set, and the unbiased estimator reduces to
    # -2 / (m (m - 1)) * (trace(K) - sum(K) / m).
    x = _real_looking_features(200, 16, seed=8)
    kxx = (x @ x.T / 16 + 1) ** 3
    expected = -2 / (200 * 199) * (np.trace(kxx) - kxx.sum() / 200)
    mean, std = kernel_inception_distance(x, x, num_subsets=2, subset_size=1000)
    assert mean == pytest.approx(expected, rel=1e-9) and std < 1e-12


# -- Precision and recall -----------------------------------------------------------------------


def _clusters(centres: np.ndarray, per: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = [0.05 * rng.standard_normal((per, centres.shape[1])) for _ in centres]
    return np.concatenate([c + e for c, e in zip(centres, noise)])


def test_precision_recall_identical_and_far_sets():
    x = _real_looking_features(300, 16, seed=9)
    assert precision_recall(x, x, k=3) == (1.0, 1.0)
    assert precision_recall(x, x + 100.0, k=3) == (0.0, 0.0)


def test_precision_recall_when_fakes_cover_half_the_modes():
    rng = np.random.default_rng(10)
    centres = rng.standard_normal((10, 2)) * 10  # ten well-separated modes in the plane
    real = _clusters(centres, 200, seed=11)
    fake = _clusters(centres[:5], 400, seed=12)  # fresh samples of the first five modes only
    precision, recall = precision_recall(real, fake, k=3)
    # Two finite samples of one mode overlap a little less than fully (~0.97 here), hence 0.95.
    assert precision > 0.95
    assert recall == pytest.approx(0.5, abs=0.04)
    # Small blocks (several row and column chunks) give the same answer.
    assert precision_recall(real, fake, k=3, row_batch=37, col_batch=101) == (precision, recall)


def test_precision_recall_rejects_bad_input():
    with pytest.raises(ValueError):
        precision_recall(np.zeros((3, 2)), np.zeros((10, 2)), k=3)
    with pytest.raises(ValueError):
        precision_recall(np.zeros((10, 2)), np.zeros((10, 3)), k=3)


# -- Mode coverage ------------------------------------------------------------------------------


def test_mode_coverage_uniform_single_and_by_hand():
    covered, kl = mode_coverage(np.repeat(np.arange(1000), 3))
    assert covered == 1000 and kl == pytest.approx(0.0, abs=1e-12)
    covered, kl = mode_coverage(np.full(25_600, 417))
    assert covered == 1 and kl == pytest.approx(math.log(1000), rel=1e-12)
    # p = (1/2, 1/4, 1/4, 0) over 4 modes: 1/2 log 2 + 1/4 log 1 + 1/4 log 1 + 0.
    covered, kl = mode_coverage(torch.tensor([0, 0, 1, 2]), num_modes=4)
    assert covered == 3 and kl == pytest.approx(0.5 * math.log(2), rel=1e-12)


def test_mode_coverage_rejects_bad_labels():
    with pytest.raises(ValueError):
        mode_coverage(np.array([0, 1000]))
    with pytest.raises(ValueError):
        mode_coverage(np.array([-1, 3]))
    with pytest.raises(ValueError):
        mode_coverage(np.array([0.0, 1.0]))
    with pytest.raises(ValueError):
        mode_coverage(np.array([], dtype=np.int64))
