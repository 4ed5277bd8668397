"""Feature-space scores: pure functions on features or class probabilities.

Everything here works in float64 numpy (precision/recall uses torch only to batch its distance
matrices). The extractors that produce the features live elsewhere; these functions know nothing
about networks, images or protocols.

* :class:`FeatureStats` -- streaming mean/covariance (optionally every feature) of a feature set.
* :func:`frechet_distance` -- FID's formula, with the TTUR / pytorch-fid handling of ``sqrtm``.
* :func:`inception_score` -- the OpenAI code's IS over consecutive splits.
* :func:`kernel_inception_distance` -- unbiased MMD^2, cubic polynomial kernel, over subsets.
* :func:`precision_recall` -- improved precision and recall (k-NN manifolds).
* :func:`mode_coverage` -- covered modes and KL(histogram || uniform), the stacked-MNIST test.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy import linalg
from scipy.special import rel_entr

__all__ = [
    "FeatureStats",
    "frechet_distance",
    "trace_sqrt_product",
    "inception_score",
    "kernel_inception_distance",
    "precision_recall",
    "mode_coverage",
]


def _as_float64(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


# --------------------------------------------------------------------------------------------------
# Streaming statistics


class FeatureStats:
    """Running mean and covariance of features added in batches of shape [n, d].

    Keeps ``count``, the sum and the sum of outer products in float64. The sums are taken about a
    fixed ``shift`` (the mean of the first batch), which gives the same result as the plain sums in
    exact arithmetic but avoids the cancellation in ``E[xx^T] - mu mu^T`` when the mean is large
    compared with the spread. With ``keep_all=True`` every feature is kept too (for KID and
    precision/recall, which need the samples themselves).
    """

    def __init__(self, keep_all: bool = False) -> None:
        self.keep_all = keep_all
        self.count = 0
        self.dim: int | None = None
        self.shift: np.ndarray | None = None
        self.sum: np.ndarray | None = None
        self.sum_outer: np.ndarray | None = None
        self._chunks: list[np.ndarray] = []

    def add(self, feats) -> None:
        """Add a batch of features [n, d] (numpy or torch; any float dtype)."""
        x = _as_float64(feats)
        if x.ndim != 2:
            raise ValueError(f"FeatureStats.add needs [n, d] features, got shape {x.shape}")
        if len(x) == 0:
            return
        if self.dim is None:
            self.dim = x.shape[1]
            self.shift = x.mean(axis=0)
            self.sum = np.zeros(self.dim)
            self.sum_outer = np.zeros((self.dim, self.dim))
        elif x.shape[1] != self.dim:
            raise ValueError(f"FeatureStats.add: feature size {x.shape[1]}, expected {self.dim}")
        xs = x - self.shift
        self.sum += xs.sum(axis=0)
        self.sum_outer += xs.T @ xs
        self.count += len(x)
        if self.keep_all:
            self._chunks.append(x.copy())

    def _need(self, n: int) -> None:
        if self.count < n:
            raise ValueError(f"FeatureStats: needs at least {n} features, has {self.count}")

    def mean(self) -> np.ndarray:
        """The mean feature [d]."""
        self._need(1)
        return self.shift + self.sum / self.count

    def cov(self) -> np.ndarray:
        """The unbiased covariance [d, d] (divides by n - 1, like ``np.cov``)."""
        self._need(2)
        m = self.sum / self.count
        c = (self.sum_outer - self.count * np.outer(m, m)) / (self.count - 1)
        return (c + c.T) / 2.0  # exactly symmetric

    def all_features(self) -> np.ndarray:
        """Every feature added, [count, d] float64 (only with ``keep_all=True``)."""
        if not self.keep_all:
            raise ValueError("FeatureStats: all_features() needs keep_all=True")
        self._need(1)
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        return self._chunks[0]

    def to_dict(self) -> dict[str, np.ndarray]:
        """numpy arrays only, for caching (``np.savez``) and :meth:`from_dict`."""
        self._need(1)
        out = {
            "count": np.asarray(self.count, dtype=np.int64),
            "shift": self.shift,
            "sum": self.sum,
            "sum_outer": self.sum_outer,
        }
        if self.keep_all:
            out["features"] = self.all_features()
        return out

    @classmethod
    def from_dict(cls, d) -> FeatureStats:
        """Inverse of :meth:`to_dict` (keeps all features if the dict has them)."""
        stats = cls(keep_all="features" in d)
        stats.count = int(np.asarray(d["count"]))
        stats.shift = np.asarray(d["shift"], dtype=np.float64).copy()
        stats.sum = np.asarray(d["sum"], dtype=np.float64).copy()
        stats.sum_outer = np.asarray(d["sum_outer"], dtype=np.float64).copy()
        stats.dim = len(stats.shift)
        if stats.keep_all:
            stats._chunks = [np.asarray(d["features"], dtype=np.float64).copy()]
        return stats

    def __repr__(self) -> str:
        return f"FeatureStats(count={self.count}, dim={self.dim}, keep_all={self.keep_all})"


# --------------------------------------------------------------------------------------------------
# Frechet distance


def _sqrtm(a: np.ndarray) -> np.ndarray:
    """``scipy.linalg.sqrtm`` without its (deprecated in SciPy 1.16) ``disp`` chatter."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Matrix is singular and may not have a square root."
        return linalg.sqrtm(a)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6, imag_atol: float = 1e-3) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

    ``d^2 = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})``.

    The matrix square root follows the TTUR code (Heusel et al.) and pytorch-fid exactly:

    1. ``covmean = scipy.linalg.sqrtm(S1 @ S2)`` (Schur method);
    2. if the result is not finite (``S1 S2`` singular, as with fewer samples than dimensions),
       retry with ``eps * I`` added to both covariances;
    3. ``sqrtm`` of a product of PSD matrices can come back complex from rounding: a negligible
       imaginary part (diagonal within ``imag_atol`` of 0) is dropped, a larger one raises
       ``ValueError`` because the covariances are then not valid.

    ``Tr((S1 S2)^{1/2}) = Tr((S1^{1/2} S2 S1^{1/2})^{1/2})``: :func:`trace_sqrt_product` computes
    the same trace from symmetric eigendecompositions, for cross-checking.
    """
    mu1, mu2 = np.atleast_1d(_as_float64(mu1)), np.atleast_1d(_as_float64(mu2))
    sigma1, sigma2 = np.atleast_2d(_as_float64(sigma1)), np.atleast_2d(_as_float64(sigma2))
    if mu1.shape != mu2.shape:
        raise ValueError(f"frechet_distance: mean shapes differ: {mu1.shape} vs {mu2.shape}")
    if sigma1.shape != sigma2.shape or sigma1.shape != (len(mu1), len(mu1)):
        raise ValueError(
            f"frechet_distance: covariance shapes {sigma1.shape}, {sigma2.shape} do not match "
            f"the mean size {len(mu1)}"
        )
    diff = mu1 - mu2
    covmean = _sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(mu1)) * eps
        covmean = _sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        max_imag = np.max(np.abs(np.diagonal(covmean).imag))
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=imag_atol):
            raise ValueError(
                f"frechet_distance: sqrtm has a large imaginary component {max_imag:g}")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def trace_sqrt_product(sigma1, sigma2) -> float:
    """``Tr((S1^{1/2} S2 S1^{1/2})^{1/2})`` from symmetric eigendecompositions (eigenvalues < 0 from
    rounding are clipped to 0). Equal to ``Tr(sqrtm(S1 @ S2))`` for PSD matrices; an independent
    route for tests and for checking :func:`frechet_distance` on ill-conditioned covariances."""
    s1, s2 = _as_float64(sigma1), _as_float64(sigma2)
    w, v = np.linalg.eigh((s1 + s1.T) / 2)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root1 @ s2 @ root1
    ev = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(ev, 0, None)).sum())


# --------------------------------------------------------------------------------------------------
# Inception score


def inception_score(probs, splits: int = 10) -> tuple[float, float]:
    """Inception score of class probabilities [N, K]: mean and std over ``splits``.

    As the OpenAI code (used by the PGGAN repo): split ``i`` is the consecutive chunk
    ``probs[i*N//splits : (i+1)*N//splits]``; per split, ``IS = exp(mean_x KL(p(y|x) || p(y)))``
    with ``p(y)`` the split's mean prediction; the std is numpy's (ddof 0) over splits.
    ``0 * log 0`` is taken as 0 (one-hot rows are fine).
    """
    p = _as_float64(probs)
    if p.ndim != 2:
        raise ValueError(f"inception_score needs probabilities [N, K], got shape {p.shape}")
    if not 1 <= splits <= len(p):
        raise ValueError(f"inception_score: splits={splits} must be in [1, N={len(p)}]")
    if (p < 0).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError("inception_score needs rows of probabilities (non-negative, summing to 1)")
    n = len(p)
    scores = []
    for i in range(splits):
        part = p[i * n // splits : (i + 1) * n // splits]
        py = part.mean(axis=0, keepdims=True)
        kl = rel_entr(part, py).sum(axis=1).mean()
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))


# --------------------------------------------------------------------------------------------------
# Kernel inception distance


def kernel_inception_distance(
    f1, f2, num_subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID between feature sets f1 [n1, d] and f2 [n2, d]: mean and std of the unbiased MMD^2.

    Kernel ``k(x, y) = (x.y / d + 1)^3`` (Binkowski et al. 2018). For each of ``num_subsets``
    subsets, ``m = min(subset_size, n1, n2)`` rows are drawn without replacement from each set
    (``numpy.random.default_rng(seed)``) and
    ``MMD^2 = sum_{i!=j} k(x_i,x_j)/(m(m-1)) + sum_{i!=j} k(y_i,y_j)/(m(m-1))
    - 2 sum k(x_i,y_j)/m^2``
    -- the StyleGAN2-ADA formula; the std over subsets (ddof 0) as torch-fidelity reports.
    """
    x_all, y_all = _as_float64(f1), _as_float64(f2)
    if x_all.ndim != 2 or y_all.ndim != 2 or x_all.shape[1] != y_all.shape[1]:
        raise ValueError(f"kernel_inception_distance: shapes {x_all.shape} and {y_all.shape}")
    d = x_all.shape[1]
    m = min(subset_size, len(x_all), len(y_all))
    if m < 2:
        raise ValueError("kernel_inception_distance needs at least 2 features in each set")
    rng = np.random.default_rng(seed)
    mmds = np.empty(num_subsets)
    for s in range(num_subsets):
        x = x_all[rng.choice(len(x_all), m, replace=False)]
        y = y_all[rng.choice(len(y_all), m, replace=False)]
        kxx = (x @ x.T / d + 1.0) ** 3
        kyy = (y @ y.T / d + 1.0) ** 3
        kxy = (x @ y.T / d + 1.0) ** 3
        same = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        mmds[s] = same - 2.0 * kxy.sum() / (m * m)
    return float(mmds.mean()), float(mmds.std())


# --------------------------------------------------------------------------------------------------
# Improved precision and recall


def _kth_nn_radii(feats: torch.Tensor, k: int, row_batch: int) -> torch.Tensor:
    """Distance from each row to its k-th nearest neighbour within the set (itself excluded)."""
    radii = torch.empty(len(feats), dtype=feats.dtype)
    for start in range(0, len(feats), row_batch):
        d = torch.cdist(feats[start : start + row_batch], feats)
        radii[start : start + row_batch] = d.kthvalue(k + 1, dim=1).values  # k+1: self is at 0
    return radii


def _inside_any_ball(
    queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, row_batch: int,
    col_batch: int,
) -> torch.Tensor:
    """Bool [len(queries)]: whether each query lies within radius of at least one centre."""
    inside = torch.zeros(len(queries), dtype=torch.bool)
    for qs in range(0, len(queries), row_batch):
        q = queries[qs : qs + row_batch]
        hit = torch.zeros(len(q), dtype=torch.bool)
        for cs in range(0, len(centres), col_batch):
            d = torch.cdist(q, centres[cs : cs + col_batch])
            hit |= (d <= radii[cs : cs + col_batch][None, :]).any(dim=1)
        inside[qs : qs + row_batch] = hit
    return inside


def precision_recall(
    real,
    fake,
    k: int = 3,
    row_batch: int = 512,
    col_batch: int = 8192,
    dtype: torch.dtype = torch.float64,
) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) of ``fake`` against ``real``.

    Each set's manifold is the union of balls around its points, with radius the distance to the
    point's k-th nearest neighbour in the same set. Precision is the fraction of fake samples inside
    the real manifold; recall the fraction of real samples inside the fake manifold. A point on a
    ball's boundary counts as inside (``<=``), as in the authors' and StyleGAN2-ADA's code.

    Distances are computed with ``torch.cdist`` in blocks of ``row_batch x col_batch`` (k-NN radii
    need whole rows: ``row_batch x n``), so memory stays bounded for large sets.
    """
    r = torch.as_tensor(_as_float64(real)).to(dtype)
    f = torch.as_tensor(_as_float64(fake)).to(dtype)
    if r.dim() != 2 or f.dim() != 2 or r.shape[1] != f.shape[1]:
        raise ValueError(f"precision_recall: shapes {tuple(r.shape)} and {tuple(f.shape)}")
    if not 1 <= k < min(len(r), len(f)):
        raise ValueError(f"precision_recall: k={k} needs more than k samples in each set")
    real_radii = _kth_nn_radii(r, k, row_batch)
    fake_radii = _kth_nn_radii(f, k, row_batch)
    precision = _inside_any_ball(f, r, real_radii, row_batch, col_batch).double().mean().item()
    recall = _inside_any_ball(r, f, fake_radii, row_batch, col_batch).double().mean().item()
    return precision, recall


# --------------------------------------------------------------------------------------------------
# Mode coverage (stacked MNIST)


def mode_coverage(pred_labels, num_modes: int = 1000) -> tuple[int, float]:
    """Covered modes and KL(histogram || uniform) of predicted mode ids in ``[0, num_modes)``.

    The stacked-MNIST test of Metz et al. (2016) as the PGGAN paper's appendix E uses it (25,600
    samples there): ``covered`` counts the distinct predicted modes; ``kl = sum_i p_i log(p_i * M)``
    with ``p`` the normalised histogram over ``M = num_modes`` modes, natural log, ``0 log 0 = 0``.
    A uniform histogram gives 0; a single mode gives ``log M``.
    """
    labels = np.asarray(pred_labels.cpu() if isinstance(pred_labels, torch.Tensor) else pred_labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError("mode_coverage needs a non-empty 1-D array of predicted labels")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"mode_coverage needs integer labels, got {labels.dtype}")
    if labels.min() < 0 or labels.max() >= num_modes:
        raise ValueError(f"mode_coverage: labels must lie in [0, {num_modes}), "
                         f"got [{labels.min()}, {labels.max()}]")
    counts = np.bincount(labels, minlength=num_modes).astype(np.float64)
    p = counts / counts.sum()
    kl = rel_entr(p, np.full(num_modes, 1.0 / num_modes)).sum()
    return int((counts > 0).sum()), float(kl)
