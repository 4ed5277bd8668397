"""PGGAN's sliced Wasserstein distance: ganzoo's chunked path against a straightforward NumPy one.

Both get the same raw descriptors (``[M, 3, 7, 7]`` float32 per set, drawn from the Laplacian
pyramids of synthetic 32x32 images by :class:`ganzoo_metrics.swd.SWDAccumulator`) and the same
``4 x 128`` unit directions (:func:`ganzoo_metrics.swd.random_directions`), so the two values must
agree to float rounding (the script fails if they differ by 1% or more).

* ``numpy (authors')``: the authors' ``metrics/sliced_wasserstein.py`` algorithm written plainly:
  normalise each set per channel, ``A @ dirs`` (``[M, 128]``), ``np.sort(axis=0)`` over descriptors,
  mean ``|sorted A - sorted B|``, mean over repeats.
* ``ganzoo``: :func:`ganzoo_metrics.swd.sliced_wasserstein`: float64 statistics, projections laid
  out one direction per contiguous row, chunked by ``chunk_bytes``, each row sorted in place by a
  small thread pool (``torch.get_num_threads()`` workers).

Times are medians over ``--rounds`` (the two run alternately in each round); the ratio is taken per
round, then medianed, because these machines are shared and noisy. Peak extra memory is measured
with ``tracemalloc`` (both paths allocate through NumPy) in a separate untimed run. Usage::

    python benchmarks/perf/swd.py                      # 2^17 descriptors per set (cpu-measurements.md)
    python benchmarks/perf/swd.py --descriptors 16384 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import tracemalloc

os.environ.setdefault("GANZOO_DISABLE_PLUGIN_AUTOLOAD", "1")

import numpy as np  # noqa: E402
import scipy.ndimage  # noqa: E402
import torch  # noqa: E402

from ganzoo_metrics import swd as S  # noqa: E402

NHOODS = 128


def synthetic_images(n: int, seed: int, blur: float = 0.0) -> np.ndarray:
    """uint8 ``[n, 3, 32, 32]`` images with structure at several scales; ``blur`` softens them."""
    rng = np.random.default_rng(seed)
    coarse = scipy.ndimage.gaussian_filter(rng.standard_normal((n, 3, 32, 32)), (0, 0, 2, 2)) * 4
    fine = scipy.ndimage.gaussian_filter(rng.standard_normal((n, 3, 32, 32)), (0, 0, 0.8, 0.8)) * 1.5
    x = coarse + fine
    if blur:
        x = scipy.ndimage.gaussian_filter(x, (0, 0, blur, blur))
    x = 127.5 + 40 * x / x.std()
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def descriptors(m: int, seed: int, blur: float) -> np.ndarray:
    """``m`` raw level-0 descriptors ``[m, 3, 7, 7]`` (``m / 128`` images, 128 each)."""
    n_images = -(-m // NHOODS)
    acc = S.SWDAccumulator(32, seed=seed)
    images = synthetic_images(n_images, seed, blur)
    for i in range(0, n_images, 256):
        acc.add(images[i:i + 256])
    return acc.descriptors(0)[:m]


def numpy_authors(A: np.ndarray, B: np.ndarray, dirs: np.ndarray) -> float:
    """The authors' algorithm, unchunked, as plain NumPy (float32 like theirs)."""

    def finalize(d: np.ndarray) -> np.ndarray:
        d = d.copy()
        d -= np.mean(d, axis=(0, 2, 3), keepdims=True)
        d /= np.std(d, axis=(0, 2, 3), keepdims=True)
        return d.reshape(d.shape[0], -1)

    a, b = finalize(A), finalize(B)
    results = []
    for r in range(dirs.shape[0]):
        pa = np.sort(np.matmul(a, dirs[r]), axis=0)
        pb = np.sort(np.matmul(b, dirs[r]), axis=0)
        results.append(np.mean(np.abs(pa - pb)))
    return float(np.mean(results))


def ganzoo(A: np.ndarray, B: np.ndarray, dirs: np.ndarray) -> float:
    return S.projected_wasserstein(S.normalize_descriptors(A), S.normalize_descriptors(B), dirs)


def peak_extra_mb(fn, *args) -> float:
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fn(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return (peak - base) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--descriptors", type=int, default=2**17, help="descriptors per set (default 2^17)")
    parser.add_argument("--repeats", type=int, default=4, help="direction repeats (default 4)")
    parser.add_argument("--dirs", type=int, default=128, help="directions per repeat (default 128)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    t0 = time.perf_counter()
    A = descriptors(args.descriptors, args.seed + 1, blur=0.0)
    B = descriptors(args.descriptors, args.seed + 2, blur=0.7)
    dirs = S.random_directions(A.shape[1] * A.shape[2] * A.shape[3], args.repeats, args.dirs, args.seed)
    prep = time.perf_counter() - t0

    impls = {"numpy (authors')": numpy_authors, "ganzoo (chunked)": ganzoo}
    times: dict[str, list[float]] = {k: [] for k in impls}
    values: dict[str, float] = {}
    ratios = []
    for rnd in range(args.rounds):
        order = list(impls) if rnd % 2 == 0 else list(impls)[::-1]
        for name in order:
            t = time.perf_counter()
            values[name] = impls[name](A, B, dirs)
            times[name].append(time.perf_counter() - t)
        ratios.append(times["numpy (authors')"][-1] / times["ganzoo (chunked)"][-1])
    memory = {name: peak_extra_mb(fn, A, B, dirs) for name, fn in impls.items()}

    ref = values["numpy (authors')"]
    rel = abs(values["ganzoo (chunked)"] - ref) / abs(ref)
    print(f"SWD of {args.descriptors:,} x {A.shape[1] * 49} descriptors per set, {args.repeats}x{args.dirs} "
          f"directions; torch {torch.__version__}, numpy {np.__version__}, {os.cpu_count()} CPUs "
          f"({platform.processor() or platform.machine()}), {torch.get_num_threads()} sort threads; "
          f"{args.rounds} rounds; descriptors built in {prep:.1f} s\n")
    print("| implementation | SWD x 1e3 | median time (s) | speed-up | peak extra memory (MB) |")
    print("| --- | --- | --- | --- | --- |")
    for name in impls:
        speed = "1.00x" if name.startswith("numpy") else f"{statistics.median(ratios):.2f}x"
        print(f"| {name} | {values[name] * 1e3:.4f} | {statistics.median(times[name]):.2f} | {speed} | "
              f"{memory[name]:.0f} |")
    print(f"\nrelative difference of the values: {rel:.2e}")
    if rel >= 0.01:
        raise SystemExit("the two implementations disagree by 1% or more")


if __name__ == "__main__":
    main()
