"""MS-SSIM between pairs of generated images, as in PGGAN (Karras et al., ICLR 2018).

Follows the authors' ``metrics/ms_ssim.py`` (TF master ``2504c3f``), itself adapted from
tensorflow/models ``research/compression/image_encoder/msssim.py`` (Wang, Simoncelli & Bovik 2003;
Zhou Wang's ``ssim_index_new.m``); see implementation-notes B.8. Step by step:

* **Input**: uint8 images with values 0..255 (NCHW here; the authors transpose to NHWC, which
  changes nothing below), ``max_val = 255``.
* **Window** (``_FSpecialGauss``): a MATLAB-``fspecial`` Gaussian, offset 0.5 for even sizes, of size
  ``min(11, H, W)`` at each scale and ``sigma = size * 1.5 / 11`` (1.5 at size 11). 32x32 images
  give 22x22 'valid' maps at scale 0, then 6x6 (16 px), and 1x1 at 8 (size 8, sigma 1.09), 4 (size
  4, sigma 0.545) and 2 px (size 2, sigma 0.273).
* **SSIM terms** (``_SSIMForMultiScale``): per channel, 'valid' filtering of ``x``, ``y``, ``x*x``,
  ``y*y``, ``x*y``; ``sigma_11 = E[x^2] - mu_1^2`` etc.; ``c1 = (0.01 * 255)^2``, ``c2 = (0.03 * 255)^2``;
  ``cs = (2 sigma_12 + c2) / (sigma_11 + sigma_22 + c2)``,
  ``ssim = (2 mu_1 mu_2 + c1) / (mu_1^2 + mu_2^2 + c1) * cs``; each reduced to one number per image
  pair by the mean over H, W and C of the map.
* **Scales** (``msssim``): 5, weights ``[0.0448, 0.2856, 0.3001, 0.2363, 0.1333]`` (they sum to 1.0001,
  not 1 and not the 0.9999 that implementation-notes D states),
  2x2 box averaging between scales (``_HoxDownsample``, not MATLAB's low-pass and decimate);
  ssim and cs clipped at >= 0; ``MS-SSIM = prod_{j<4} cs_j^{w_j} * ssim_4^{w_4}`` per pair.
* **Pairs** (``API.feed``): consecutive images of each minibatch, ``images[0::2]`` against
  ``images[1::2]``; the mean over a batch is weighted by its number of pairs, i.e. the result is the
  mean over all pairs. Identical inputs give exactly 1.0 (every term is 1).

Implementation: torch. The separable Gaussian ``g g^T / sum`` is applied as two banded 'valid'
matrices, ``T_h @ X @ T_w^T``, in float64; each of the five maps is filtered by its own call on
tensors of one shape, so identical images produce bit-identical ``mu``/``sigma`` terms and the
exact 1.0. The products ``x*x``, ``y*y``, ``x*y`` and the box downsampling are float32, as in the
authors' code.

Deliberate deviations:

* the filtering is float64 throughout. The authors' ``scipy.signal.fftconvolve`` transforms the
  float32 images in single precision (its output is float64 but carries ~1e-5 absolute error on
  0..255 data, ~1e-3 on the squared terms). Here SSIM values agree with a float64 ``fftconvolve``
  reference to 1e-9 relative (tests), and MS-SSIM differs from the authors' float32-FFT path by
  ~1e-5 at most (measured on 32 and 128 px pairs);
* ``_HoxDownsample`` has no rule for odd sizes (numpy shapes then mismatch: an error, or a silent
  broadcast where a side is 3); here an odd side loses its last row/column, i.e. 2x2 average
  pooling with floor (``avg_pool2d(2)``). Even sizes, all that PGGAN evaluates, are unaffected;
* the downsampling after the last scale, computed and discarded by the authors, is skipped, and an
  image smaller than ``2^(scales-1)`` px is refused (the authors' code returns NaN there).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Sequence

import numpy as np
import torch

__all__ = [
    "MSSSIM_WEIGHTS",
    "MSSSIMAccumulator",
    "box_downsample",
    "gaussian_window",
    "ms_ssim",
    "ssim",
    "ssim_cs",
    "ssim_cs_maps",
    "window_size_and_sigma",
]

#: Per-scale weights of Wang et al. 2003 as in the authors' code (they sum to 1.0001, not 1).
MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
FILTER_SIZE = 11
FILTER_SIGMA = 1.5
K1 = 0.01
K2 = 0.03
MAX_VAL = 255.0

# -- window and filtering ------------------------------------------------------------------------


def window_size_and_sigma(height: int, width: int, filter_size: int = FILTER_SIZE,
                          filter_sigma: float = FILTER_SIGMA) -> tuple[int, float]:
    """``size = min(filter_size, H, W)`` and ``sigma = size * filter_sigma / filter_size``."""
    size = min(filter_size, height, width)
    return size, size * filter_sigma / filter_size


def gaussian_window(size: int, sigma: float) -> np.ndarray:
    """The authors' ``_FSpecialGauss``: MATLAB ``fspecial('gaussian')``, float64 ``[size, size]``, sum 1.

    Sample positions are ``-r .. r`` (``r = size // 2``) for odd sizes and ``-r + 0.5 .. r - 0.5``
    for even sizes.
    """
    g = _gaussian_1d(size, sigma)
    return np.outer(g, g)


def _gaussian_1d(size: int, sigma: float) -> np.ndarray:
    """1-D factor of :func:`gaussian_window` (``exp(-(x^2+y^2)/2s^2) = exp(-x^2/2s^2) exp(-y^2/2s^2)``)."""
    radius = size // 2
    offset = 0.5 if size % 2 == 0 else 0.0
    x = np.arange(size) - radius + offset
    g = np.exp(-(x**2) / (2.0 * sigma**2))
    return g / g.sum()


@lru_cache(maxsize=32)
def _valid_matrix(n: int, size: int, sigma: float) -> torch.Tensor:
    """``[n - size + 1, n]`` float64 banded matrix: 'valid' correlation with the 1-D window."""
    g = _gaussian_1d(size, sigma)
    m = n - size + 1
    mat = np.zeros((m, n))
    for t in range(size):
        mat[np.arange(m), np.arange(m) + t] = g[t]
    return torch.from_numpy(mat)


def _to_float_images(images: Any, name: str) -> torch.Tensor:
    """A uint8 NCHW batch (tensor or array) as float32 with values 0..255."""
    t = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(images))
    if t.dtype != torch.uint8:
        raise TypeError(f"MS-SSIM expects uint8 images (0..255); {name} has dtype {t.dtype}")
    if t.ndim != 4:
        raise ValueError(f"{name} must be an NCHW batch, got shape {tuple(t.shape)}")
    return t.detach().to("cpu", torch.float32)


def _check_pair(a: Any, b: Any) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = _to_float_images(a, "a"), _to_float_images(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"image batches must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    return x, y


def box_downsample(x: torch.Tensor) -> torch.Tensor:
    """The authors' ``_HoxDownsample``: mean of each 2x2 block, in the input's dtype (float32 here).

    Summed in their order (``[0::2, 0::2] + [1::2, 0::2] + [0::2, 1::2] + [1::2, 1::2]``, H first)
    then times 0.25. Odd sides drop their last row/column (floor), see the module docstring.
    """
    h, w = (x.shape[-2] // 2) * 2, (x.shape[-1] // 2) * 2
    x = x[..., :h, :w]
    return (x[..., 0::2, 0::2] + x[..., 1::2, 0::2] + x[..., 0::2, 1::2] + x[..., 1::2, 1::2]) * 0.25


# -- single scale ----------------------------------------------------------------------------------


def ssim_cs_maps(x: torch.Tensor, y: torch.Tensor, max_val: float = MAX_VAL, filter_size: int = FILTER_SIZE,
                 filter_sigma: float = FILTER_SIGMA, k1: float = K1,
                 k2: float = K2) -> tuple[torch.Tensor, torch.Tensor]:
    """SSIM and contrast-structure maps of float images ``[N, C, H, W]`` (0..max_val), float64 'valid'.

    The body of the authors' ``_SSIMForMultiScale`` before its mean: maps are
    ``[N, C, H - s + 1, W - s + 1]`` with ``s, sigma = window_size_and_sigma(H, W)``.
    """
    x = x.to(torch.float32)
    y = y.to(torch.float32)
    h, w = x.shape[-2:]
    size, sigma = window_size_and_sigma(h, w, filter_size, filter_sigma)
    if size < 1:
        raise ValueError(f"images of size {h}x{w} are too small for SSIM")
    th, tw = _valid_matrix(h, size, sigma), _valid_matrix(w, size, sigma)

    def filt(t: torch.Tensor) -> torch.Tensor:
        return th @ t.to(torch.float64) @ tw.T

    # one call per map on equal shapes: identical images give bit-identical terms
    mu1, mu2 = filt(x), filt(y)
    sigma11, sigma22, sigma12 = filt(x * x), filt(y * y), filt(x * y)
    mu11, mu22, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    sigma11 = sigma11 - mu11
    sigma22 = sigma22 - mu22
    sigma12 = sigma12 - mu12
    c1 = (k1 * max_val) ** 2
    c2 = (k2 * max_val) ** 2
    v1 = 2.0 * sigma12 + c2
    v2 = sigma11 + sigma22 + c2
    ssim_map = ((2.0 * mu12 + c1) * v1) / ((mu11 + mu22 + c1) * v2)
    cs_map = v1 / v2
    return ssim_map, cs_map


def ssim_cs(x: torch.Tensor, y: torch.Tensor, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pair ``(ssim, cs)``, float64 ``[N]``: means of :func:`ssim_cs_maps` over C, H, W (not clipped)."""
    s, cs = ssim_cs_maps(x, y, **kwargs)
    return s.mean(dim=(1, 2, 3)), cs.mean(dim=(1, 2, 3))


def ssim(a: Any, b: Any) -> torch.Tensor:
    """Single-scale SSIM of uint8 image pairs (MS-SSIM's scale-0 ``ssim`` term, not clipped), float64 ``[N]``."""
    x, y = _check_pair(a, b)
    return ssim_cs(x, y)[0]


# -- multi-scale -----------------------------------------------------------------------------------


def ms_ssim(a: Any, b: Any, weights: Sequence[float] = MSSSIM_WEIGHTS, chunk: int | None = None) -> torch.Tensor:
    """MS-SSIM of each pair ``(a[i], b[i])`` of uint8 NCHW images, float64 ``[N]`` (the authors' ``msssim``
    before its mean over pairs).

    ``weights`` sets the number of scales (``weights=[1.0]`` gives the clipped single-scale SSIM).
    Pairs are processed ``chunk`` at a time to bound memory (default: as many as keep one float64
    map of a chunk under 32 MiB; the filtering holds about ten such maps).
    """
    x, y = _check_pair(a, b)
    weights = [float(w) for w in weights]
    levels = len(weights)
    if levels < 1:
        raise ValueError("weights must not be empty")
    h, w = x.shape[-2:]
    if min(h, w) < 2 ** (levels - 1):
        raise ValueError(f"{levels} scales need images of at least {2 ** (levels - 1)} px, got {h}x{w}")
    if chunk is None:
        chunk = max(1, (32 * 2**20) // (8 * x.shape[1] * h * w))
    out = [_ms_ssim_chunk(x[i:i + chunk], y[i:i + chunk], weights) for i in range(0, x.shape[0], chunk)]
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)


def _ms_ssim_chunk(x: torch.Tensor, y: torch.Tensor, weights: list[float]) -> torch.Tensor:
    mssim, mcs = [], []
    for level in range(len(weights)):
        if level:
            x, y = box_downsample(x), box_downsample(y)
        s, cs = ssim_cs(x, y)
        mssim.append(s)
        mcs.append(cs)
    # Clip to zero, as the authors do (otherwise fractional powers of negatives give NaN).
    mssim_t = torch.stack(mssim).clamp(min=0.0)
    mcs_t = torch.stack(mcs).clamp(min=0.0)
    w = torch.tensor(weights, dtype=torch.float64)
    return torch.prod(mcs_t[:-1] ** w[:-1, None], dim=0) * mssim_t[-1] ** w[-1]


class MSSSIMAccumulator:
    """Streaming MS-SSIM over pairs of consecutive images (the authors' ``API`` in ``ms_ssim.py``).

    ``add(batch)`` pairs ``batch[0::2]`` with ``batch[1::2]`` (the batch size must be even) and adds
    the per-pair values; ``compute()`` returns ``{"ms_ssim": mean over all pairs}``, i.e. each batch's
    mean weighted by its number of pairs. The PGGAN protocol uses 20,000 images (10,000 pairs).
    """

    def __init__(self, weights: Sequence[float] = MSSSIM_WEIGHTS) -> None:
        self.weights = tuple(float(w) for w in weights)
        self.num_pairs = 0
        self._sum = 0.0

    def add(self, batch: Any) -> None:
        """Add a uint8 NCHW batch of an even number of images."""
        n = batch.shape[0]
        if n % 2:
            raise ValueError(f"MS-SSIM pairs consecutive images: the batch size must be even, got {n}")
        if n == 0:
            return
        values = ms_ssim(batch[0::2], batch[1::2], self.weights)
        self._sum += float(values.sum())
        self.num_pairs += n // 2

    def compute(self) -> dict[str, float]:
        if self.num_pairs == 0:
            raise ValueError("no image pairs were added")
        return {"ms_ssim": self._sum / self.num_pairs}
