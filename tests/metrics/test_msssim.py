"""PGGAN's MS-SSIM (notes B.8): window, single-scale SSIM against scipy, the scales, the pairing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.signal import fftconvolve

from ganzoo_metrics import msssim as M

C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2


# -- an independent reference: numpy + scipy.signal.fftconvolve, NHWC as the authors ------------------


def fspecial_gauss(size: int, sigma: float) -> np.ndarray:
    """MATLAB fspecial('gaussian') with the 2-D formula; even sizes sample at half-integers."""
    coords = np.arange(size) - size // 2 + (0.5 if size % 2 == 0 else 0.0)
    x, y = np.meshgrid(coords, coords)
    g = np.exp(-(x**2 + y**2) / (2.0 * sigma**2))
    return g / g.sum()


def reference_ssim_cs(img1: np.ndarray, img2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-image (ssim, cs) of float32 NHWC batches: float32 products, float64 'valid' filtering."""
    _, h, w, _ = img1.shape
    size = min(11, h, w)
    window = fspecial_gauss(size, size * 1.5 / 11)[None, :, :, None]

    def blur(t: np.ndarray) -> np.ndarray:
        return fftconvolve(t.astype(np.float64), window, mode="valid")

    mu1, mu2 = blur(img1), blur(img2)
    var1 = blur(img1 * img1) - mu1**2
    var2 = blur(img2 * img2) - mu2**2
    cov = blur(img1 * img2) - mu1 * mu2
    cs_map = (2 * cov + C2) / (var1 + var2 + C2)
    ssim_map = (2 * mu1 * mu2 + C1) / (mu1**2 + mu2**2 + C1) * cs_map
    return ssim_map.mean(axis=(1, 2, 3)), cs_map.mean(axis=(1, 2, 3))


def reference_ms_ssim(a: np.ndarray, b: np.ndarray, weights=(0.0448, 0.2856, 0.3001, 0.2363, 0.1333)) -> np.ndarray:
    """MS-SSIM per pair of uint8 NCHW batches: 2x2 box means between scales, clipped terms."""
    x = a.transpose(0, 2, 3, 1).astype(np.float32)
    y = b.transpose(0, 2, 3, 1).astype(np.float32)
    ssims, css = [], []
    for level in range(len(weights)):
        if level:
            x, y = (t[:, : t.shape[1] // 2 * 2, : t.shape[2] // 2 * 2] for t in (x, y))
            x, y = ((t[:, 0::2, 0::2] + t[:, 1::2, 0::2] + t[:, 0::2, 1::2] + t[:, 1::2, 1::2]) * np.float32(0.25)
                    for t in (x, y))
        s, cs = reference_ssim_cs(x, y)
        ssims.append(np.maximum(s, 0))
        css.append(np.maximum(cs, 0))
    out = ssims[-1] ** weights[-1]
    for cs, w in zip(css[:-1], weights[:-1]):
        out = out * cs**w
    return out


def random_images(n: int, h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 3, h, w), dtype=np.uint8)


def noisy(x: np.ndarray, amount: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(x.astype(np.int64) + rng.integers(-amount, amount + 1, x.shape), 0, 255).astype(np.uint8)


def smooth_images(n: int, size: int, seed: int) -> np.ndarray:
    """Images with structure (so SSIM is far from 0 between an image and its noisy copy)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    f = rng.uniform(1, 4, (n, 3, 1, 1))
    phase = rng.uniform(0, 6.3, (n, 3, 1, 1))
    x = 127.5 + 100 * np.sin(2 * np.pi * f * (xx + 0.7 * yy) + phase)
    return np.round(x).astype(np.uint8)


# -- tests -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("h, w", [(32, 32), (64, 48)])
def test_identical_images_give_exactly_one(h, w):
    x = torch.from_numpy(random_images(6, h, w, seed=0))
    assert torch.equal(M.ms_ssim(x, x.clone()), torch.ones(6, dtype=torch.float64))
    acc = M.MSSSIMAccumulator()
    acc.add(x.repeat_interleave(2, dim=0))  # x0, x0, x1, x1, ...
    assert acc.compute()["ms_ssim"] == 1.0


def test_single_scale_ssim_matches_fftconvolve_reference():
    a, b = random_images(4, 32, 32, seed=1), noisy(random_images(4, 32, 32, seed=1), 40, seed=2)
    expected, _ = reference_ssim_cs(a.transpose(0, 2, 3, 1).astype(np.float32),
                                    b.transpose(0, 2, 3, 1).astype(np.float32))
    got = M.ssim(torch.from_numpy(a), torch.from_numpy(b))
    assert got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-9)
    # one scale with weight 1 is the clipped single-scale SSIM
    one = M.ms_ssim(a, b, weights=[1.0])
    np.testing.assert_allclose(one.numpy(), np.maximum(expected, 0), rtol=1e-9)


@pytest.mark.parametrize("h, w", [(32, 32), (64, 48), (40, 36)])
def test_five_scale_ms_ssim_matches_reference(h, w):
    a = smooth_images(3, max(h, w), seed=3)[:, :, :h, :w]
    b = noisy(a, 30, seed=4)
    np.testing.assert_allclose(M.ms_ssim(a, b).numpy(), reference_ms_ssim(a, b), rtol=1e-8)


@pytest.mark.parametrize("px, size, sigma, valid", [
    (32, 11, 1.5, 22), (16, 11, 1.5, 6), (8, 8, 8 * 1.5 / 11, 1), (4, 4, 4 * 1.5 / 11, 1), (2, 2, 2 * 1.5 / 11, 1),
])
def test_window_shrinks_for_small_images(px, size, sigma, valid):
    assert M.window_size_and_sigma(px, px) == (size, pytest.approx(sigma))
    window = M.gaussian_window(size, sigma)
    np.testing.assert_allclose(window, fspecial_gauss(size, sigma), rtol=1e-12)
    assert window.sum() == pytest.approx(1.0)
    x = torch.rand(2, 3, px, px) * 255
    ssim_map, cs_map = M.ssim_cs_maps(x, x.flip(0))
    assert ssim_map.shape == cs_map.shape == (2, 3, valid, valid)


def test_even_window_uses_half_integer_offsets():
    np.testing.assert_allclose(M.gaussian_window(2, 0.27), np.full((2, 2), 0.25), rtol=1e-12)
    w4 = M.gaussian_window(4, 0.545)
    np.testing.assert_allclose(w4, w4[::-1, ::-1], rtol=1e-12)  # centred between samples 1 and 2
    assert np.argmax(w4[0]) in (1, 2) and w4[0, 1] == pytest.approx(w4[0, 2])


def test_box_downsampling_averages_2x2_blocks_and_floors_odd_sizes():
    x = torch.arange(2 * 1 * 5 * 7, dtype=torch.float32).reshape(2, 1, 5, 7)
    y = M.box_downsample(x)
    assert y.shape == (2, 1, 2, 3)
    expected = x[..., :4, :6].reshape(2, 1, 2, 2, 3, 2).mean(dim=(3, 5))
    torch.testing.assert_close(y, expected, rtol=0, atol=0)


def test_different_images_score_below_one():
    a = smooth_images(4, 32, seed=5)
    unrelated = M.ms_ssim(a, smooth_images(4, 32, seed=6))
    close = M.ms_ssim(a, noisy(a, 10, seed=7))
    assert torch.all(unrelated < 1) and torch.all(close < 1)
    assert torch.all(close > unrelated)
    assert torch.all(M.ms_ssim(random_images(4, 32, 32, 8), random_images(4, 32, 32, 9)) < 0.3)


def test_accumulator_pairs_consecutive_images_weighted_by_pairs():
    a = smooth_images(4, 32, seed=10)
    b = noisy(a, 25, seed=11)
    batch = np.stack([a, b], axis=1).reshape(8, 3, 32, 32)  # a0, b0, a1, b1, ...
    per_pair = M.ms_ssim(a, b)
    acc = M.MSSSIMAccumulator()
    acc.add(torch.from_numpy(batch[:2]))  # one pair
    acc.add(torch.from_numpy(batch[2:]))  # three pairs
    assert acc.num_pairs == 4
    assert acc.compute()["ms_ssim"] == pytest.approx(per_pair.mean().item(), rel=1e-12)
    # weighting by pairs, not a mean of batch means
    assert acc.compute()["ms_ssim"] != pytest.approx((per_pair[0] + per_pair[1:].mean()).item() / 2, rel=1e-6)
    with pytest.raises(ValueError, match="even"):
        acc.add(torch.from_numpy(batch[:3]))


def test_weights_are_wangs_and_do_not_sum_to_one():
    # implementation-notes D says "sum to 0.9999"; the authors' weights in fact sum to 1.0001
    # (0.0448 + 0.2856 + 0.3001 + 0.2363 + 0.1333). Their code only says "don't sum to 1.0".
    assert M.MSSSIM_WEIGHTS == (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
    assert sum(M.MSSSIM_WEIGHTS) == pytest.approx(1.0001, abs=1e-12)


def test_inputs_are_checked():
    x = random_images(2, 32, 32, seed=12)
    with pytest.raises(TypeError, match="uint8"):
        M.ms_ssim(x.astype(np.float32), x)
    with pytest.raises(ValueError, match="same shape"):
        M.ms_ssim(x, x[:, :, :16])
    with pytest.raises(ValueError, match="at least 16 px"):
        M.ms_ssim(x[:, :, :8, :8], x[:, :, :8, :8])
    with pytest.raises(ValueError, match="no image pairs"):
        M.MSSSIMAccumulator().compute()
