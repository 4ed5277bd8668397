"""PGGAN's sliced Wasserstein distance (notes B.7): pyramid, descriptors, distance and its checks."""

from __future__ import annotations

import numpy as np
import ot
import pytest
import scipy.ndimage
import torch

from ganzoo_metrics import swd as S

KERNEL = (np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0).astype(np.float32)[None, None]


# -- references written from the notes, in plain numpy/scipy ---------------------------------------


def scipy_pyr_down(x: np.ndarray) -> np.ndarray:
    return scipy.ndimage.convolve(x, KERNEL, mode="mirror")[:, :, ::2, ::2]


def scipy_pyr_up(x: np.ndarray) -> np.ndarray:
    n, c, h, w = x.shape
    z = np.zeros((n, c, 2 * h, 2 * w), x.dtype)
    z[:, :, ::2, ::2] = x
    return scipy.ndimage.convolve(z, KERNEL * 4.0, mode="mirror")


def numpy_swd(A: np.ndarray, B: np.ndarray, dirs: np.ndarray) -> float:
    """The authors' algorithm, unchunked: normalise each set, project, sort along descriptors, mean."""

    def finalize(d: np.ndarray) -> np.ndarray:
        d = d.astype(np.float32).copy()
        d -= d.mean(axis=(0, 2, 3), keepdims=True)
        d /= d.std(axis=(0, 2, 3), keepdims=True)
        return d.reshape(d.shape[0], -1)

    a, b = finalize(A), finalize(B)
    results = []
    for r in range(dirs.shape[0]):
        pa = np.sort(a @ dirs[r], axis=0)
        pb = np.sort(b @ dirs[r], axis=0)
        results.append(np.mean(np.abs(pa - pb)))
    return float(np.mean(results))


def palette_images(n: int, res: int = 32, seed: int = 0, top: int = 255) -> np.ndarray:
    """uint8 NCHW images: random Voronoi regions in a few palette colours, slightly noisy and blurred.

    Flat colour regions give descriptors that cluster around the palette, so a change in the shape of
    one channel's distribution is visible to SWD well above its noise floor. ``top`` rescales the
    0..255 result to 0..top before rounding.
    """
    rng = np.random.default_rng(seed)
    palette = np.array([[60, 90, 40], [200, 180, 60], [110, 150, 220], [230, 230, 230]], float)
    cells = 6
    centres = rng.random((n, cells, 2)) * res
    yy, xx = np.mgrid[0:res, 0:res] + 0.5
    dist = (yy - centres[..., 0, None, None]) ** 2 + (xx - centres[..., 1, None, None]) ** 2
    region = dist.argmin(axis=1)  # [n, res, res]
    colour = np.take_along_axis(rng.integers(0, len(palette), (n, cells)), region.reshape(n, -1), axis=1)
    x = palette[colour].reshape(n, res, res, 3).transpose(0, 3, 1, 2)
    x = scipy.ndimage.gaussian_filter(x + rng.normal(0, 6, x.shape), (0, 0, 0.7, 0.7))
    return np.round(np.clip(x, 0, 255) * (top / 255)).astype(np.uint8)


def accumulate(images: np.ndarray, seed: int, batch: int = 64) -> S.SWDAccumulator:
    acc = S.SWDAccumulator(images.shape[-1], seed=seed)
    for i in range(0, len(images), batch):
        acc.add(torch.from_numpy(images[i:i + batch]))
    return acc


@pytest.fixture(scope="module")
def reals() -> np.ndarray:
    return palette_images(96, seed=1)


@pytest.fixture(scope="module")
def noise_floor(reals) -> dict[str, float]:
    """Two independent patch draws from the same images (the authors' 'Reals2' row)."""
    return S.swd(accumulate(reals, seed=10), accumulate(reals, seed=11), seed=5)


# -- pyramid -------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (5, 7), (16, 16), (32, 32)])
def test_pyr_down_and_up_match_scipy_mirror(shape):
    x = (np.random.default_rng(0).random((2, 3) + shape) * 255).astype(np.float32)
    np.testing.assert_allclose(S.pyr_down(x).numpy(), scipy_pyr_down(x), rtol=0, atol=1e-4)
    np.testing.assert_allclose(S.pyr_up(x).numpy(), scipy_pyr_up(x), rtol=0, atol=1e-4)


def test_laplacian_pyramid_matches_the_scipy_definition():
    x = (np.random.default_rng(1).random((3, 3, 32, 32)) * 255).astype(np.float32)
    g1 = scipy_pyr_down(x)
    g2 = scipy_pyr_down(g1)
    expected = [x - scipy_pyr_up(g1), g1 - scipy_pyr_up(g2), g2]
    for level, ref in zip(S.laplacian_pyramid(x, 3), expected):
        assert level.dtype == torch.float32
        np.testing.assert_allclose(level.numpy(), ref, rtol=0, atol=1e-3)


def test_pyramid_reconstructs_its_input():
    x = torch.from_numpy(np.random.default_rng(2).integers(0, 256, (4, 3, 64, 64), dtype=np.uint8))
    pyr = S.laplacian_pyramid(x, 3)
    assert [tuple(p.shape[-2:]) for p in pyr] == [(64, 64), (32, 32), (16, 16)]
    back = S.reconstruct_laplacian_pyramid(pyr)
    np.testing.assert_allclose(back.numpy(), x.float().numpy(), rtol=0, atol=1e-3)  # float error only


def test_levels_run_from_full_resolution_down_to_16():
    assert S.level_resolutions(32) == [32, 16] and S.num_levels(32) == 2
    assert S.level_resolutions(128) == [128, 64, 32, 16] and S.num_levels(128) == 4
    assert S.num_levels(1024) == 7
    assert S.SWDAccumulator(32).resolutions == [32, 16]
    x = torch.zeros(1, 3, 128, 128, dtype=torch.uint8)
    assert [p.shape[-1] for p in S.laplacian_pyramid(x, S.num_levels(128))] == [128, 64, 32, 16]
    with pytest.raises(ValueError, match="at least 16"):
        S.SWDAccumulator(8)


# -- descriptors ---------------------------------------------------------------------------------


def test_descriptors_are_7x7xC_patches_at_uniform_valid_centres():
    level = np.random.default_rng(3).standard_normal((5, 3, 16, 20)).astype(np.float32)
    desc = S.draw_descriptors(level, 128, np.random.default_rng(7))
    assert desc.shape == (5 * 128, 3, 7, 7) and desc.dtype == np.float32
    # replay the draws: all x (over width), then all y (over height), randint(3, S - 3)
    rng = np.random.default_rng(7)
    cx, cy = rng.integers(3, 20 - 3, 640), rng.integers(3, 16 - 3, 640)
    for i in (0, 127, 128, 639):
        img = i // 128
        np.testing.assert_array_equal(desc[i], level[img, :, cy[i] - 3:cy[i] + 4, cx[i] - 3:cx[i] + 4])
    many = np.random.default_rng(8).integers(3, 16 - 3, 100_000)
    assert many.min() == 3 and many.max() == 16 - 4  # upper bound exclusive: every valid centre


def test_accumulator_keeps_128_descriptors_per_image_and_level_and_wants_uint8():
    acc = S.SWDAccumulator(32, seed=0)
    acc.add(np.zeros((3, 3, 32, 32), np.uint8))
    acc.add(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
    assert acc.num_images == 5 and acc.num_descriptors == 640
    assert acc.descriptors(0).shape == (640, 3, 7, 7) and acc.descriptors(1).shape == (640, 3, 7, 7)
    with pytest.raises(TypeError, match="uint8"):
        acc.add(torch.zeros(2, 3, 32, 32))
    with pytest.raises(ValueError, match="32x32"):
        acc.add(torch.zeros(2, 3, 16, 16, dtype=torch.uint8))


# -- the distance ----------------------------------------------------------------------------------


def test_same_descriptor_matrix_gives_zero():
    A = np.random.default_rng(4).standard_normal((2000, 3, 7, 7)).astype(np.float32)
    assert S.sliced_wasserstein(A, A, seed=0) == 0.0


def test_sets_of_different_sizes_are_refused():
    A = np.zeros((100, 3, 7, 7), np.float32)
    with pytest.raises(ValueError, match="same number of descriptors"):
        S.sliced_wasserstein(A, A[:99])
    small, big = S.SWDAccumulator(32), S.SWDAccumulator(32)
    small.add(np.zeros((1, 3, 32, 32), np.uint8))
    big.add(np.zeros((2, 3, 32, 32), np.uint8))
    with pytest.raises(ValueError, match="same number of descriptors"):
        S.swd(small, big)


def test_noise_floor_is_small_and_positive(noise_floor):
    assert set(noise_floor) == {"swd_32", "swd_16", "swd_avg"}
    assert noise_floor["swd_avg"] == pytest.approx((noise_floor["swd_32"] + noise_floor["swd_16"]) / 2)
    for v in noise_floor.values():
        assert 0 < v < 30  # x1e3; about 10-18 with 12,288 descriptors per level


def test_affine_intensity_change_of_one_set_is_normalised_away():
    rng = np.random.default_rng(5)
    A = rng.gamma(2.0, 1.0, (3000, 3, 7, 7)).astype(np.float32)
    B = rng.standard_normal((3000, 3, 7, 7)).astype(np.float32)
    scale = np.array([2.5, 0.3, 7.0], np.float32).reshape(1, 3, 1, 1)
    offset = np.array([10.0, -4.0, 100.0], np.float32).reshape(1, 3, 1, 1)
    base = S.sliced_wasserstein(A, B, seed=3)
    assert base > 0.01
    assert S.sliced_wasserstein(A * scale + offset, B, seed=3) == pytest.approx(base, rel=1e-4)


def test_affine_change_of_images_is_normalised_away(reals):
    # 2x + 1 maps 0..127 onto odd values 1..255 exactly, so the uint8 images carry no rounding.
    # The pyramid is linear, so every descriptor of the new set is 2 d + const per channel for the
    # same centres (same seed); the per-channel normalisation removes that.
    half = palette_images(96, seed=1, top=127)
    stretched = (2 * half.astype(np.int64) + 1).astype(np.uint8)
    ref = accumulate(reals, seed=21)
    before = S.swd(ref, accumulate(half, seed=22), seed=4)
    after = S.swd(ref, accumulate(stretched, seed=22), seed=4)
    for key in before:
        assert after[key] == pytest.approx(before[key], rel=1e-4)


def test_blurring_one_set_raises_swd(reals, noise_floor):
    blurred = np.round(scipy.ndimage.gaussian_filter(reals.astype(np.float64), (0, 0, 1, 1))).astype(np.uint8)
    d = S.swd(accumulate(reals, seed=10), accumulate(blurred, seed=11), seed=5)
    assert d["swd_32"] > 2.5 * noise_floor["swd_32"]  # the finest band loses most of its energy
    assert d["swd_avg"] > 1.8 * noise_floor["swd_avg"]


def test_reshaping_one_colour_channel_raises_swd(reals, noise_floor):
    # A pure offset (or gain) on one channel is normalised away (checked last): the colour change
    # must alter the shape of that channel's distribution, here a gamma curve.
    shifted = reals.copy()
    shifted[:, 0] = np.round(255.0 * (reals[:, 0] / 255.0) ** 2.5).astype(np.uint8)
    d = S.swd(accumulate(reals, seed=10), accumulate(shifted, seed=11), seed=5)
    assert d["swd_16"] > 2 * noise_floor["swd_16"]  # the low-pass residual carries the colours
    assert d["swd_avg"] > 1.5 * noise_floor["swd_avg"]
    # the same channel moved by a constant (no clipping: the images are >= 29) scores as the floor
    offset = reals.copy()
    offset[:, 0] -= 20
    same = S.swd(accumulate(reals, seed=10), accumulate(offset, seed=11), seed=5)
    assert same["swd_avg"] == pytest.approx(noise_floor["swd_avg"], rel=1e-4)


def test_chunked_projection_equals_unchunked_numpy():
    rng = np.random.default_rng(6)
    A = rng.gamma(3.0, 1.0, (4096, 3, 7, 7)).astype(np.float32)
    B = (rng.standard_normal((4096, 3, 7, 7)) + 0.3 * rng.standard_normal((4096, 1, 1, 1))).astype(np.float32)
    dirs = S.random_directions(147, 4, 128, seed=9)
    expected = numpy_swd(A, B, dirs)
    # 7 directions per chunk (does not divide 128), two sort threads
    chunk = 2 * 4 * 4096 * 7
    got = S.sliced_wasserstein(A, B, seed=9, chunk_bytes=chunk, threads=2)
    assert got == pytest.approx(expected, rel=1e-5)
    assert S.sliced_wasserstein(A, B, seed=9, threads=1) == pytest.approx(expected, rel=1e-5)


def test_directions_are_unit_gaussian_columns():
    dirs = S.random_directions(147, 4, 128, seed=0)
    assert dirs.shape == (4, 147, 128) and dirs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(dirs, axis=1), 1.0, rtol=1e-6)
    assert not np.allclose(dirs[0], dirs[1])


def test_one_dimensional_distance_matches_pot():
    rng = np.random.default_rng(7)
    a = S.normalize_descriptors(rng.gamma(2.0, 1.0, (300, 3, 7, 7)))
    b = S.normalize_descriptors(rng.standard_normal((300, 3, 7, 7)))
    dirs = S.random_directions(147, 1, 32, seed=1)
    ours = S.projected_wasserstein(a, b, dirs)
    a64, b64, d64 = a.astype(np.float64), b.astype(np.float64), dirs[0].astype(np.float64)
    pot_sliced = ot.sliced_wasserstein_distance(a64, b64, projections=d64, p=1)
    pot_1d = np.mean(ot.wasserstein_1d(a64 @ d64, b64 @ d64, p=1))
    assert ours == pytest.approx(pot_sliced, rel=1e-5)
    assert ours == pytest.approx(pot_1d, rel=1e-5)


def test_protocol_draws_patches_and_directions_from_separate_streams(monkeypatch):
    """swd2k: real patch positions, fake patch positions and directions are three seeded streams."""
    from types import SimpleNamespace

    from ganzoo_metrics import protocols

    used = {}

    class Recorder(S.SWDAccumulator):
        def __init__(self, resolution, seed):
            super().__init__(resolution, seed=seed)
            used.setdefault("acc", []).append(seed)

    def fake_swd(real, fake, seed):
        used["dirs"] = seed
        return {"swd_avg": 0.0}

    monkeypatch.setattr(protocols.swd, "SWDAccumulator", Recorder)
    monkeypatch.setattr(protocols.swd, "swd", fake_swd)
    images = torch.zeros(4, 3, 16, 16, dtype=torch.uint8)
    ctx = SimpleNamespace(cfg=SimpleNamespace(data=SimpleNamespace(resolution=16)), notes={},
                          settings=SimpleNamespace(seed=7), real_data=lambda split: images,
                          real_batches=lambda split, n: iter([images]), fake_batches=lambda n: iter([images]))
    protocols.sliced_wasserstein(ctx, 4)
    real, fake = used["acc"]
    draws = [g.bit_generator.state["state"] for g in (real, fake, used["dirs"])]
    assert len({str(d) for d in draws}) == 3  # three different streams...
    fresh = protocols.swd_streams(7)  # ...that are the seed's spawned children, reproducibly
    first = [g.random(16) for g in fresh]
    assert not np.allclose(first[0], first[2]) and not np.allclose(first[0], first[1])
    again = [g.random(16) for g in protocols.swd_streams(7)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert protocols.SWD["streams"] == "seedsequence-spawn3"  # part of the protocol hash
