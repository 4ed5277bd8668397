"""CIFAR-10 (Krizhevsky, 2009) from its official "python version" batch files.

The dataset page (https://www.cs.toronto.edu/~kriz/cifar.html) distributes
``cifar-10-python.tar.gz``, which extracts to ``cifar-10-batches-py/`` holding ``data_batch_1`` ..
``data_batch_5`` (the 50,000 training images) and ``test_batch`` (the 10,000 test images). Each is a
pickled dict with ``b"data"`` (uint8 [n, 3072], channel-major 3x32x32 rows) and ``b"labels"`` (n ints
in 0..9). This loader reads those files under ``<data_root>/cifar-10-batches-py/`` (default data
root: ``~/.cache/ganzoo/data``) and, when they are missing and ``download`` is on, fetches the
archive once, checks its published MD5 and extracts it there.
"""

from __future__ import annotations

import os
import pickle
import tarfile
import urllib.request
from pathlib import Path

import numpy as np
import torch

from ganzoo import Params
from ganzoo.api import DataRequest, ImageData, resize_uint8
from ganzoo.api import DOWNLOAD_ERRORS, download_checked, file_hash
from ganzoo.api import DatasetUnavailable

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"  # as published on the dataset's page
ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{k}" for k in range(1, 6))
TEST_FILES = ("test_batch",)
DOWNLOAD_TIMEOUT_S = 15.0
DEFAULT_DATA_ROOT = Path("~/.cache/ganzoo/data")


class Cifar10Params(Params):
    """``download``: fetch the official archive when the batch files are missing."""

    download: bool = True


def data_root(request: DataRequest) -> Path:
    """The directory that holds (or will hold) ``cifar-10-batches-py/``."""
    root = request.data_root if request.data_root is not None else DEFAULT_DATA_ROOT
    return Path(root).expanduser()


def _open_url(url: str, timeout: float):
    """Open ``url`` for reading (a separate function so tests can simulate the network)."""
    return urllib.request.urlopen(url, timeout=timeout)


def _fetch_and_extract(root: Path) -> None:
    """Get the archive (reusing a verified one already in ``root``) and extract it into ``root``."""
    archive = root / ARCHIVE
    if not (archive.is_file() and file_hash(archive, "md5") == MD5):
        # _open_url is looked up at call time, so tests can simulate the network.
        download_checked(URL, archive, "md5", MD5, DOWNLOAD_TIMEOUT_S,
                         opener=lambda url, timeout: _open_url(url, timeout))
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(root, filter="data")  # the "data" filter refuses absolute paths, links out, ...


def _missing(folder: Path, names: tuple[str, ...]) -> list[str]:
    return [n for n in names if not (folder / n).is_file()]


def _unavailable(root: Path, missing: list[str], why: str) -> DatasetUnavailable:
    folder = root / FOLDER
    return DatasetUnavailable(
        f"cifar10: missing {', '.join(missing)} in {folder} ({why}). Expected the official batches "
        f"{', '.join(TRAIN_FILES + TEST_FILES)}: download {URL} (md5 {MD5}) and extract it in "
        f"{root} so that {root}{os.sep}{FOLDER}{os.sep} holds them (or point --data-root at the "
        f"directory that contains {FOLDER}/)"
    )


# The only globals an official batch file refers to: numpy's array reconstructor, ndarray and
# dtype (under numpy 1's and numpy 2's module names), and the two ways a protocol-2 pickle written
# by Python 3 spells bytes (``_codecs.encode``, and ``bytes()`` for empty ones). Dicts, lists, ints,
# str and (protocol 2 from Python 2, as the official files are) bytes need no global at all.
SAFE_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    ("__builtin__", "bytes"), ("builtins", "bytes"),
})


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that admits only the numpy array, list, dict, str and bytes of a batch file.

    The official format is a pickle, and a plain ``pickle.load`` runs whatever callable a planted
    file names; this one refuses every other global before anything is called.
    """

    def find_class(self, module: str, name: str):
        if (module, name) not in SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"refuses the global {module}.{name}, which no CIFAR-10 "
                                         "batch file contains")
        return super().find_class(module, name)


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file: uint8 [n, 3, 32, 32] images and int64 [n] labels (n may be anything, even 0)."""
    with open(path, "rb") as f:
        try:
            batch = _BatchUnpickler(f, encoding="bytes").load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
            raise DatasetUnavailable(f"cifar10: {path} is not a CIFAR-10 batch file "
                                     f"({type(exc).__name__}: {exc})") from None
    if not isinstance(batch, dict):
        raise DatasetUnavailable(f"cifar10: {path} is not a CIFAR-10 batch file (holds a "
                                 f"{type(batch).__name__}, expected a dict)")
    try:
        data = np.asarray(batch[b"data"])
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (TypeError, KeyError, ValueError) as exc:
        raise DatasetUnavailable(f"cifar10: {path} is not a CIFAR-10 batch file ({exc!r})") from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DatasetUnavailable(
            f"cifar10: {path} holds data of {data.dtype} {data.shape}, expected uint8 [n, 3072]"
        )
    if labels.shape != (len(data),) or (len(labels) and (labels.min() < 0 or labels.max() > 9)):
        raise DatasetUnavailable(f"cifar10: {path} has {labels.shape} labels for {len(data)} images,"
                                 " expected one label in 0..9 per image")
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10(params: Cifar10Params, request: DataRequest) -> ImageData:
    """The official train (50,000) or test (10,000) split, 3x32x32, labels 0-9, resized if asked."""
    root = data_root(request)
    folder = root / FOLDER
    names = TRAIN_FILES if request.split == "train" else TEST_FILES
    missing = _missing(folder, names)
    if missing:
        if not params.download:
            raise _unavailable(root, missing, "download is off")
        try:
            _fetch_and_extract(root)
        except (*DOWNLOAD_ERRORS, tarfile.TarError, EOFError) as exc:
            raise _unavailable(root, missing, f"the download failed: {exc}") from None
        missing = _missing(folder, names)
        if missing:
            raise _unavailable(root, missing, "not in the downloaded archive")
    batches = [_read_batch(folder / n) for n in names]
    images = torch.from_numpy(np.concatenate([b[0] for b in batches]))
    labels = torch.from_numpy(np.concatenate([b[1] for b in batches]))
    return ImageData(resize_uint8(images, request.resolution), labels, num_classes=10,
                     name=f"cifar10/{request.split}")
