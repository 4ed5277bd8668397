"""Sliced Wasserstein distance (SWD) on Laplacian pyramids, as in PGGAN (Karras et al., ICLR 2018).

Follows the authors' ``metrics/sliced_wasserstein.py`` (TF master ``2504c3f``; the Theano branch's
root ``sliced_wasserstein.py`` is identical and produced the paper's numbers with the parameters of
Theano ``config.py`` line 215); see implementation-notes B.7. Step by step:

1. **Input**: uint8 NCHW batches (torch tensors or numpy arrays), converted to float32 in 0..255.
2. **Laplacian pyramid** (authors' lines 65-88): 5x5 binomial kernel ``[1,4,6,4,1]^T [1,4,6,4,1] / 256``
   with mirror borders (``scipy.ndimage.convolve(mode='mirror')``: reflect without repeating the edge
   sample); ``pyr_down`` = filter, then keep ``[::2, ::2]``; ``pyr_up`` = zero-insert (values at even
   positions), then filter with 4x the kernel; level ``i = G_i - pyr_up(G_{i+1})``, and the last level
   is the Gaussian low-pass residual. One level per resolution from full size down to 16
   (``while res >= 16``): 32x32 gives 2 levels (32, 16), 128x128 gives 4.
3. **Descriptors** (lines 13-23): 7x7 neighbourhoods over all channels (147-D for RGB), 128 per
   image per level, centres ``x ~ randint(3, S-3)`` then ``y ~ randint(3, S-3)`` (upper bound
   exclusive: every valid centre), independently per descriptor, so patches may overlap.
4. **Normalisation** (lines 27-34): per set and per level, subtract the per-colour-channel mean and
   divide by the per-channel std (over all descriptors and the 7x7 positions), each set with **its
   own** statistics; then flatten.
5. **Distance** (lines 38-51): for each of 4 repeats draw 128 directions ``~ N(0, I)`` normalised to
   unit length, project both sets, sort each projection, mean ``|sorted A - sorted B|`` over
   descriptors and directions; mean over repeats. Both sets must hold as many descriptors.
6. **Output**: ``distance * 1e3`` per level and the plain mean over levels (``SWDx1e3_<res>``,
   ``SWDx1e3_avg`` in the authors' logs; ``swd_<res>``, ``swd_avg`` here).

Implementation. The pyramid filters are separable (the 5x5 kernel is ``[1,4,6,4,1]/16`` times its
transpose, and mirror padding is separable), so each runs as one 5-tap pass per axis over
mirror-padded NumPy arrays, in float64, rounded to float32 after each filtering: that is what
``scipy.ndimage.convolve`` does on float32 input (it accumulates in double), and the levels match it
bit for bit on random data (tests). Inputs and outputs are torch tensors. (A batched torch
``conv2d``/``matmul`` in float64 was measured 10x slower than this on the 2-core CI machine under
load; float32 filtering would not reproduce scipy's rounding.) The distance is a chunked
project-and-sort in NumPy: projections are laid out one direction per contiguous row, so each sort
is a contiguous SIMD sort, split over a small thread pool; the number of directions projected at
once is bounded by ``chunk_bytes``. ``benchmarks/perf/swd.py`` compares it with a straightforward
NumPy transcription of the authors' code on the same descriptors and directions.

Deliberate deviations:

* any number of channels ``C`` (descriptors are ``7*7*C``-D); the authors assert ``C == 3``;
* the per-channel mean and std are accumulated in float64 (the authors' ``np.mean``/``np.std`` on
  float32 reduce in float32); the normalised descriptors are float32 as theirs (float rounding);
* a channel with zero spread (a constant channel over the whole set) is centred and left unscaled
  instead of being divided by zero (the authors' code returns NaN there);
* randomness comes from a seeded ``numpy.random.Generator`` passed in (the authors use the global
  ``np.random`` state, seeded once with 1000 per process); centres are drawn in the authors' order
  (per batch, per level: all x, then all y);
* the mean of ``|sorted A - sorted B|`` is accumulated in float64 (float rounding).

Memory. Descriptors are kept as float32: ``2^21`` descriptors (16,384 images x 128, the paper's
protocol) x 147 x 4 B = 1.2 GB per level per set. :func:`swd` additionally makes one normalised
float32 copy of each set for the level being compared (another 2 x 1.2 GB at that scale), plus
``chunk_bytes`` (default 256 MiB) for the projections.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

__all__ = [
    "BINOMIAL_KERNEL",
    "SWDAccumulator",
    "draw_descriptors",
    "gaussian_pyramid",
    "laplacian_pyramid",
    "level_resolutions",
    "normalize_descriptors",
    "num_levels",
    "projected_wasserstein",
    "pyr_down",
    "pyr_up",
    "random_directions",
    "reconstruct_laplacian_pyramid",
    "sliced_wasserstein",
    "swd",
]

#: The authors' 5x5 binomial kernel ``[1,4,6,4,1]^T [1,4,6,4,1] / 256`` (``gaussian_filter``).
BINOMIAL_KERNEL = np.outer([1.0, 4.0, 6.0, 4.0, 1.0], [1.0, 4.0, 6.0, 4.0, 1.0]) / 256.0

NHOOD_SIZE = 7
NHOODS_PER_IMAGE = 128
DIR_REPEATS = 4
DIRS_PER_REPEAT = 128
MIN_RESOLUTION = 16

# -- images and pyramids -------------------------------------------------------------------------


def _as_float_images(images: Any) -> torch.Tensor:
    """Any 4-D real array or tensor as a float32 CPU tensor (``np.float32(minibatch)``)."""
    t = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(images))
    if t.ndim != 4:
        raise ValueError(f"expected an NCHW batch with 4 dimensions, got shape {tuple(t.shape)}")
    return t.detach().to("cpu", torch.float32)


def _uint8_images(images: Any) -> torch.Tensor:
    """A uint8 NCHW batch (tensor or array) as a float32 tensor with values 0..255."""
    dtype = images.dtype if isinstance(images, torch.Tensor) else np.asarray(images).dtype
    if dtype not in (torch.uint8, np.uint8):
        raise TypeError(f"SWD expects uint8 images (0..255), got dtype {dtype}")
    return _as_float_images(images)


def _mirror_index(n: int, pad: int) -> np.ndarray:
    """Indices of ``scipy.ndimage`` 'mirror' padding: ``d c b | a b c d | c b a`` (any ``n >= 1``)."""
    i = np.arange(-pad, n + pad)
    if n == 1:
        return np.zeros_like(i)
    period = 2 * (n - 1)
    i = np.mod(i, period)
    return np.where(i >= n, period - i, i)


_BINOMIAL_1D = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _filter(x: np.ndarray, gain: float, stride: int) -> torch.Tensor:
    """``scipy.ndimage.convolve(x, gain * BINOMIAL_KERNEL, mode='mirror')[..., ::stride, ::stride]``.

    The 5x5 kernel is the outer product of ``[1,4,6,4,1] / 16`` with itself and mirror padding is
    separable, so the filter runs as one 5-tap pass per spatial axis (``sqrt(gain)`` each), with only
    the kept outputs computed. float64 throughout, rounded to float32 at the end, as scipy does for
    float32 input (it accumulates in double).
    """
    x = x.astype(np.float64)
    taps = np.sqrt(gain) * _BINOMIAL_1D
    for axis in (2, 3):
        n = x.shape[axis]
        xp = np.take(x, _mirror_index(n, 2), axis=axis)
        m = -(-n // stride)  # outputs kept: ceil(n / stride)

        def tap(t: int) -> np.ndarray:
            index = [slice(None)] * 4
            index[axis] = slice(t, t + stride * (m - 1) + 1, stride)
            return xp[tuple(index)]

        out = tap(0) * taps[0]
        for t in range(1, 5):
            out += tap(t) * taps[t]
        x = out
    return torch.from_numpy(x.astype(np.float32))


def pyr_down(images: Any) -> torch.Tensor:
    """The authors' ``pyr_down`` (like ``cv2.pyrDown``): binomial blur with mirror borders, keep ``[::2, ::2]``.

    Equals ``scipy.ndimage.convolve(x, BINOMIAL_KERNEL, mode='mirror')[..., ::2, ::2]`` (see
    :func:`_filter`). Any spatial size; odd sizes give ``ceil(S / 2)`` as the authors' slicing does.
    Returns float32.
    """
    return _filter(_as_float_images(images).numpy(), 1.0, 2)


def pyr_up(images: Any) -> torch.Tensor:
    """The authors' ``pyr_up`` (like ``cv2.pyrUp``): zero-insert to twice the size, blur with 4x the kernel.

    Equals ``scipy.ndimage.convolve(z, 4 * BINOMIAL_KERNEL, mode='mirror')`` where ``z`` holds the
    input at even positions and zeros elsewhere. Returns float32.
    """
    x = _as_float_images(images).numpy()
    n, c, h, w = x.shape
    z = np.zeros((n, c, 2 * h, 2 * w), np.float32)
    z[:, :, ::2, ::2] = x
    return _filter(z, 4.0, 1)


def num_levels(resolution: int) -> int:
    """Pyramid levels of the authors' protocol: one per ``res`` while ``res >= 16``, halving."""
    return len(level_resolutions(resolution))


def level_resolutions(resolution: int) -> list[int]:
    """``[resolution, resolution // 2, ...]`` down to 16 (the authors' ``API.__init__``)."""
    out, res = [], int(resolution)
    while res >= MIN_RESOLUTION:
        out.append(res)
        res //= 2
    if not out:
        raise ValueError(f"SWD needs images of at least {MIN_RESOLUTION} px, got {resolution}")
    return out


def gaussian_pyramid(images: Any, levels: int) -> list[torch.Tensor]:
    """``[G_0, ..., G_{levels-1}]``: ``G_0`` the float32 images, ``G_{i+1} = pyr_down(G_i)``."""
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    pyramid = [_as_float_images(images)]
    for _ in range(1, levels):
        g = pyramid[-1]
        if g.shape[-2] % 2 or g.shape[-1] % 2:
            raise ValueError(f"cannot halve an image of odd size {tuple(g.shape[-2:])} exactly")
        pyramid.append(pyr_down(g))
    return pyramid


def laplacian_pyramid(images: Any, levels: int) -> list[torch.Tensor]:
    """The authors' ``generate_laplacian_pyramid``: ``L_i = G_i - pyr_up(G_{i+1})``, last = ``G_{levels-1}``.

    Every level is float32, full resolution first; each spatial size must be even except the last.
    """
    g = gaussian_pyramid(images, levels)
    return [g[i] - pyr_up(g[i + 1]) for i in range(levels - 1)] + [g[-1]]


def reconstruct_laplacian_pyramid(pyramid: list[Any]) -> torch.Tensor:
    """Inverse of :func:`laplacian_pyramid` (the authors' ``reconstruct_laplacian_pyramid``)."""
    images = _as_float_images(pyramid[-1])
    for level in pyramid[-2::-1]:
        images = pyr_up(images) + _as_float_images(level)
    return images


# -- descriptors ---------------------------------------------------------------------------------


def draw_descriptors(level: Any, nhoods_per_image: int, rng: np.random.Generator,
                     nhood_size: int = NHOOD_SIZE) -> np.ndarray:
    """``nhoods_per_image`` random ``nhood_size^2 x C`` neighbourhoods per image of one pyramid level.

    The authors' ``get_descriptors_for_minibatch``: centres ``x = randint(h, W - h)`` for all
    descriptors, then ``y = randint(h, H - h)`` (``h = nhood_size // 2``, upper bound exclusive), drawn
    from ``rng``; descriptors of image ``i`` are rows ``i * nhoods_per_image ...``. Returns float32
    ``[N * nhoods_per_image, C, nhood_size, nhood_size]``.
    """
    x = _as_float_images(level).contiguous()
    n, c, h, w = x.shape
    half = nhood_size // 2
    if min(h, w) < nhood_size:
        raise ValueError(f"a {nhood_size}x{nhood_size} neighbourhood does not fit in {h}x{w} images")
    m = n * nhoods_per_image
    cx = torch.from_numpy(rng.integers(half, w - half, size=m))
    cy = torch.from_numpy(rng.integers(half, h - half, size=m))
    img = torch.arange(m) // nhoods_per_image
    # view [n, c, top, left, dy, dx] of every k x k window, indexed at the drawn top-left corners
    sn, sc, sh, sw = x.stride()
    windows = x.as_strided((n, c, h - 2 * half, w - 2 * half, nhood_size, nhood_size), (sn, sc, sh, sw, sh, sw))
    return windows[img, :, cy - half, cx - half].numpy()


def normalize_descriptors(desc: Any, rows_per_chunk: int = 8192) -> np.ndarray:
    """The authors' ``finalize_descriptors``: per-channel standardisation of one set, then flatten.

    ``desc``: ``[M, C, k, k]`` (one set, one level). The mean and std of each channel are taken over
    all descriptors and the ``k x k`` positions (population std), accumulated in float64 over blocks
    of ``rows_per_chunk`` descriptors (Chan et al.'s pairwise update), so no float64 copy of the set
    is made. Returns a new float32 ``[M, C*k*k]`` array (``(d - mean) / std`` in float32, as the
    authors'); ``desc`` is not modified.
    """
    d = np.asarray(desc.detach().cpu() if isinstance(desc, torch.Tensor) else desc)
    if d.ndim != 4:
        raise ValueError(f"descriptors must be [M, C, k, k], got shape {d.shape}")
    m, c = d.shape[:2]
    if m == 0:
        raise ValueError("no descriptors")
    d3 = d.reshape(m, c, -1)
    count, mean, m2 = 0, np.zeros(c), np.zeros(c)
    for i in range(0, m, rows_per_chunk):
        block = d3[i:i + rows_per_chunk].astype(np.float64)
        n_b = block.shape[0] * block.shape[2]
        mean_b = block.sum(axis=2).sum(axis=0) / n_b
        dev = block - mean_b[None, :, None]
        m2_b = np.square(dev).sum(axis=2).sum(axis=0)
        delta = mean_b - mean
        total = count + n_b
        mean = mean + delta * (n_b / total)
        m2 = m2 + m2_b + np.square(delta) * (count * n_b / total)
        count = total
    std = np.sqrt(m2 / count)
    std[std == 0] = 1.0  # deviation: a constant channel stays centred instead of becoming NaN
    out = d3.astype(np.float32, copy=True)
    out -= mean.astype(np.float32)[None, :, None]
    out /= std.astype(np.float32)[None, :, None]
    return out.reshape(m, -1)


# -- the distance ----------------------------------------------------------------------------------


def _generator(seed: int | np.random.Generator) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def random_directions(dim: int, dir_repeats: int = DIR_REPEATS, dirs_per_repeat: int = DIRS_PER_REPEAT,
                      seed: int | np.random.Generator = 0) -> np.ndarray:
    """Unit projection directions, ``[dir_repeats, dim, dirs_per_repeat]`` float32.

    Per repeat, as the authors: ``randn(dim, dirs_per_repeat)``, each column divided by its norm
    (in float64), then cast to float32.
    """
    rng = _generator(seed)
    out = np.empty((dir_repeats, dim, dirs_per_repeat), np.float32)
    for r in range(dir_repeats):
        d = rng.standard_normal((dim, dirs_per_repeat))
        d /= np.sqrt(np.sum(np.square(d), axis=0, keepdims=True))
        out[r] = d
    return out


def _sorted_abs_diff_sum(pa: np.ndarray, pb: np.ndarray) -> float:
    """Sort each row of ``pa`` and ``pb`` in place; ``sum |pa - pb|`` in float64."""
    pa.sort(axis=1)
    pb.sort(axis=1)
    np.subtract(pa, pb, out=pa)
    np.abs(pa, out=pa)
    return float(pa.sum(dtype=np.float64))


def projected_wasserstein(A: np.ndarray, B: np.ndarray, dirs: np.ndarray, *,
                          chunk_bytes: int = 256 * 2**20, threads: int | None = None) -> float:
    """Mean over repeats of the mean 1-D W1 distance along each direction (authors' lines 38-51).

    ``A``, ``B``: float32 ``[M, D]`` (already normalised, same ``M``); ``dirs``: ``[R, D, K]`` from
    :func:`random_directions`. For each repeat, directions are processed ``k`` at a time with
    ``2 * k * M * 4 B <= chunk_bytes``: projections are computed as ``dirs_chunk^T @ A^T`` (one
    direction per contiguous row), each row sorted, and ``|sorted A - sorted B|`` summed in float64.
    Sorting is split over ``threads`` workers (default: ``torch.get_num_threads()``).
    """
    A = np.ascontiguousarray(A, dtype=np.float32)
    B = np.ascontiguousarray(B, dtype=np.float32)
    if A.ndim != 2 or A.shape != B.shape:
        raise ValueError(
            f"both sets need the same number of descriptors of the same size, got {A.shape} and {B.shape}"
        )
    dirs = np.asarray(dirs, dtype=np.float32)
    if dirs.ndim != 3 or dirs.shape[1] != A.shape[1]:
        raise ValueError(f"dirs must be [repeats, {A.shape[1]}, k], got {dirs.shape}")
    m = A.shape[0]
    if m == 0:
        raise ValueError("no descriptors")
    repeats, _, per_repeat = dirs.shape
    k = int(max(1, min(per_repeat, chunk_bytes // (2 * 4 * m))))
    threads = max(1, threads or torch.get_num_threads())
    results = []
    with ThreadPoolExecutor(threads) if threads > 1 else _Inline() as pool:
        for r in range(repeats):
            total = 0.0
            for j0 in range(0, per_repeat, k):
                dT = np.ascontiguousarray(dirs[r, :, j0:j0 + k].T)  # [k, D]
                pa = dT @ A.T  # [k, M], C-contiguous rows
                pb = dT @ B.T
                bounds = np.linspace(0, pa.shape[0], min(threads, pa.shape[0]) + 1).astype(int)
                parts = [(pa[a:b], pb[a:b]) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
                total += sum(pool.map(lambda ab: _sorted_abs_diff_sum(*ab), parts))
                del pa, pb, parts  # free this chunk before the next one is projected
            results.append(total / (m * per_repeat))
    return float(np.mean(results))


class _Inline:
    """A stand-in for a one-thread pool: ``map`` runs in the calling thread."""

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    @staticmethod
    def map(fn, items):  # noqa: ANN001, ANN205
        return map(fn, items)


def sliced_wasserstein(A: Any, B: Any, dir_repeats: int = DIR_REPEATS, dirs_per_repeat: int = DIRS_PER_REPEAT,
                       seed: int | np.random.Generator = 0, *, chunk_bytes: int = 256 * 2**20,
                       threads: int | None = None) -> float:
    """SWD between two sets of raw descriptors ``[M, C, k, k]`` of one level (not scaled by 1e3).

    Each set is normalised with its own per-channel statistics (:func:`normalize_descriptors`),
    then ``dir_repeats x dirs_per_repeat`` directions are drawn from ``seed`` (:func:`random_directions`)
    and :func:`projected_wasserstein` is returned. Raises ``ValueError`` unless both sets hold the
    same number of descriptors of the same shape.
    """
    shape_a, shape_b = tuple(np.shape(A)), tuple(np.shape(B))
    if len(shape_a) != 4 or shape_a != shape_b:
        raise ValueError(
            "sliced_wasserstein needs two [M, C, k, k] descriptor sets with the same number of "
            f"descriptors of the same size, got {shape_a} and {shape_b}"
        )
    a, b = normalize_descriptors(A), normalize_descriptors(B)
    dirs = random_directions(a.shape[1], dir_repeats, dirs_per_repeat, seed)
    return projected_wasserstein(a, b, dirs, chunk_bytes=chunk_bytes, threads=threads)


# -- streaming accumulation and the metric -------------------------------------------------------


class SWDAccumulator:
    """Streams uint8 NCHW batches of one image set into per-level descriptor sets.

    ``add(images)`` builds each batch's Laplacian pyramid (``num_levels(resolution)`` levels) and
    draws ``nhoods_per_image`` descriptors per image per level from one ``numpy.random.Generator``
    (``seed``: an int or a Generator). Descriptors are kept as float32 ``[M, C, 7, 7]`` per level
    (the authors' ``API.feed``). Memory: ``M x 49 C x 4 B`` per level, i.e. 2^21 x 147 x 4 B = 1.2 GB
    per level for the paper's 16,384 RGB images; the CIFAR protocol (32 px) has 2 levels.

    Two accumulators over the same images with different seeds give the noise floor ("Reals2" row
    of the authors' ``real_passes=2``).
    """

    def __init__(self, resolution: int, nhoods_per_image: int = NHOODS_PER_IMAGE,
                 seed: int | np.random.Generator = 0, nhood_size: int = NHOOD_SIZE) -> None:
        self.resolution = int(resolution)
        self.resolutions = level_resolutions(self.resolution)
        self.nhoods_per_image = int(nhoods_per_image)
        self.nhood_size = int(nhood_size)
        self.rng = _generator(seed)
        self.num_images = 0
        self.channels: int | None = None
        self._desc: list[list[np.ndarray]] = [[] for _ in self.resolutions]

    @property
    def num_levels(self) -> int:
        return len(self.resolutions)

    @property
    def num_descriptors(self) -> int:
        """Descriptors per level so far (``num_images * nhoods_per_image``)."""
        return self.num_images * self.nhoods_per_image

    def add(self, images: Any) -> None:
        """Add a uint8 NCHW batch (``H == W == resolution``)."""
        x = _uint8_images(images)
        n, c, h, w = x.shape
        if (h, w) != (self.resolution, self.resolution):
            raise ValueError(f"expected {self.resolution}x{self.resolution} images, got {h}x{w}")
        if self.channels is not None and c != self.channels:
            raise ValueError(f"expected {self.channels} channels, got {c}")
        if n == 0:
            return
        self.channels = c
        for lod, level in enumerate(laplacian_pyramid(x, self.num_levels)):
            self._desc[lod].append(draw_descriptors(level, self.nhoods_per_image, self.rng, self.nhood_size))
        self.num_images += n

    def descriptors(self, level: int) -> np.ndarray:
        """Raw float32 descriptors ``[M, C, 7, 7]`` of pyramid level ``level`` (0 = full resolution)."""
        chunks = self._desc[level]
        if not chunks:
            raise ValueError("no images were added")
        if len(chunks) > 1:
            self._desc[level] = chunks = [np.concatenate(chunks, axis=0)]
        return chunks[0]


def swd(real: SWDAccumulator, fake: SWDAccumulator, seed: int | np.random.Generator = 0,
        dir_repeats: int = DIR_REPEATS, dirs_per_repeat: int = DIRS_PER_REPEAT, *,
        chunk_bytes: int = 256 * 2**20, threads: int | None = None) -> dict[str, float]:
    """``{"swd_<res>": SWD x 1e3 per level, ..., "swd_avg": plain mean over levels}``.

    Directions for all levels come from one Generator (``seed``), level by level, as the authors'
    global RNG is consumed. Both accumulators need the same resolution and image count.
    """
    if real.resolutions != fake.resolutions:
        raise ValueError(f"resolutions differ: {real.resolutions} vs {fake.resolutions}")
    if real.num_descriptors != fake.num_descriptors:
        raise ValueError(
            f"both sets must hold the same number of descriptors: {real.num_descriptors} "
            f"({real.num_images} images) vs {fake.num_descriptors} ({fake.num_images} images)"
        )
    rng = _generator(seed)
    out: dict[str, float] = {}
    for lod, res in enumerate(real.resolutions):
        d = sliced_wasserstein(real.descriptors(lod), fake.descriptors(lod), dir_repeats, dirs_per_repeat,
                               rng, chunk_bytes=chunk_bytes, threads=threads)
        out[f"swd_{res}"] = d * 1e3
    out["swd_avg"] = float(np.mean([out[f"swd_{res}"] for res in real.resolutions]))
    return out
