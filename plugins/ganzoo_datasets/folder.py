"""Your own images: a folder of PNG/JPEG files (``image-folder``) or a NumPy archive (``npz``).

Both read only what the user points them at (``path``; a relative path is taken relative to
``--data-root`` when one is given). Neither has an official split unless the ``.npz`` carries
``test_images``, so they get a fixed seeded one (:func:`ganzoo.data.split_indices`, seed 0).
Typical use: a CelebA or LSUN dump turned into JPEGs, or a preprocessed array saved with
``np.savez(path, images=..., labels=...)``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from ganzoo import Params
from ganzoo.api import DataRequest, ImageData, resize_uint8, split_indices
from ganzoo.api import ConfigError, DatasetUnavailable

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
PROGRESS_MIN_FILES = 2000
SPLIT_SEED = 0


class ImageFolderParams(Params):
    """``image-folder``: where, how many channels, labels from subfolders, test fraction, strictness."""

    path: str
    channels: Literal[1, 3] = 3
    labels: bool = False
    test_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    strict: bool = Field(False, description="an unreadable file is an error (default: skipped, "
                                            "with one warning that counts them)")


class NpzParams(Params):
    """``npz``: the ``.npz`` file and the test fraction used when it has no ``test_images``."""

    path: str
    test_fraction: float = Field(0.1, ge=0.0, lt=1.0)


def resolve_path(path: str, request: DataRequest) -> Path:
    """``path`` with ``~`` expanded; relative paths are taken relative to ``request.data_root``."""
    p = Path(path).expanduser()
    if not p.is_absolute() and request.data_root is not None:
        p = Path(request.data_root).expanduser() / p
    return p


# -- image-folder ---------------------------------------------------------------------------------

def find_images(folder: Path) -> list[Path]:
    """Every PNG/JPEG under ``folder`` (recursively, hidden files skipped), sorted by relative path."""
    found = [
        p for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def load_image(path: Path, resolution: int, mode: str) -> np.ndarray:
    """One file as uint8 [resolution, resolution, C]: converted to ``mode``, centre-cropped, resized."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert(mode)
            w, h = im.size
            s = min(w, h)
            left, top = (w - s) // 2, (h - s) // 2
            im = im.crop((left, top, left + s, top + s))
            if s != resolution:
                resample = Image.Resampling.LANCZOS if s > resolution else Image.Resampling.BICUBIC
                im = im.resize((resolution, resolution), resample)
            arr = np.asarray(im, dtype=np.uint8)
    except Exception as exc:  # PIL raises many kinds (OSError, SyntaxError, ValueError...)
        raise DatasetUnavailable(f"image-folder: cannot read image {path}: {exc}") from None
    return arr.reshape(resolution, resolution, -1)


def load_image_folder(params: ImageFolderParams, request: DataRequest) -> ImageData:
    """All PNG/JPEG files of a folder tree; labels from first-level subfolder names if asked."""
    from tqdm import tqdm

    folder = resolve_path(params.path, request)
    if not folder.is_dir():
        raise DatasetUnavailable(f"image-folder: {folder} is not a directory (params.path)")
    files = find_images(folder)
    if not files:
        raise DatasetUnavailable(
            f"image-folder: no {'/'.join(s[1:].upper() for s in IMAGE_SUFFIXES)} files under {folder}"
        )
    labels_all = None
    num_classes = 0
    if params.labels:
        rel = [f.relative_to(folder).parts for f in files]
        loose = [files[i] for i, parts in enumerate(rel) if len(parts) < 2]
        if loose:
            raise ConfigError(
                f"image-folder: labels = true needs every image inside a class subfolder of "
                f"{folder}, but {loose[0]} is not (and {len(loose) - 1} more)"
            )
        classes = sorted({parts[0] for parts in rel})
        index = {c: i for i, c in enumerate(classes)}
        labels_all = np.array([index[parts[0]] for parts in rel], dtype=np.int64)
        num_classes = len(classes)

    idx = split_indices(len(files), params.test_fraction, SPLIT_SEED)[request.split]
    mode = "RGB" if params.channels == 3 else "L"
    chosen = [files[i] for i in idx]
    out = np.empty((len(chosen), request.resolution, request.resolution, params.channels), np.uint8)
    ok = np.ones(len(chosen), dtype=bool)
    bad: list[DatasetUnavailable] = []
    for k, f in enumerate(tqdm(chosen, desc=f"reading {folder.name}", unit="img", leave=False,
                               disable=len(chosen) <= PROGRESS_MIN_FILES)):
        try:
            out[k] = load_image(f, request.resolution, mode)
        except DatasetUnavailable as exc:
            if params.strict:
                raise
            ok[k] = False
            bad.append(exc)
    if bad:
        if not ok.any():
            raise DatasetUnavailable(f"image-folder: none of the {len(chosen)} {request.split} images "
                                     f"under {folder} could be read (first: {bad[0]})")
        warnings.warn(f"image-folder: skipped {len(bad)} unreadable file(s) of {len(chosen)} in the "
                      f"{request.split} split of {folder} (first: {bad[0]}); set params.strict = true "
                      "to make this an error", stacklevel=2)
    images = torch.from_numpy(out[ok]).permute(0, 3, 1, 2).contiguous()
    labels = torch.from_numpy(labels_all[idx][ok]) if labels_all is not None else None
    return ImageData(images, labels, num_classes=num_classes,
                     name=f"image-folder:{folder.name}/{request.split}")


# -- npz --------------------------------------------------------------------------------------------

def to_nchw(images: np.ndarray, where: str) -> np.ndarray:
    """uint8 NHWC or NCHW (or NHW, one channel) -> NCHW, centre-cropped to square.

    The layout is the one whose channel axis holds 1 or 3; when both axes 1 and 3 do (images 1 or
    3 pixels wide), NCHW is assumed.
    """
    if images.dtype != np.uint8:
        raise ConfigError(f"npz: {where} must be uint8 (0..255), got {images.dtype}")
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4:
        raise ConfigError(f"npz: {where} must be NHWC or NCHW, got shape {images.shape}")
    if images.shape[1] not in (1, 3):
        if images.shape[3] not in (1, 3):
            raise ConfigError(
                f"npz: {where} has shape {images.shape}: neither axis 1 (NCHW) nor axis 3 (NHWC) "
                "holds 1 or 3 channels"
            )
        images = images.transpose(0, 3, 1, 2)
    h, w = images.shape[2:]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return np.ascontiguousarray(images[:, :, top : top + s, left : left + s])


def _labels(arr: np.ndarray, n: int, where: str) -> np.ndarray:
    if arr.ndim != 1 or len(arr) != n or not np.issubdtype(arr.dtype, np.integer):
        raise ConfigError(f"npz: {where} must be {n} integers, got {arr.dtype} {arr.shape}")
    if n and arr.min() < 0:
        raise ConfigError(f"npz: {where} holds negative values")
    return arr.astype(np.int64)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of a ``.npz`` file, read without unpickling anything."""
    try:
        z = np.load(path, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive (np.savez writes one)")
        with z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:  # includes object arrays, which need pickle
        raise ConfigError(f"npz: cannot read {path}: {exc}") from None


def load_npz(params: NpzParams, request: DataRequest) -> ImageData:
    """Arrays from a ``.npz``: ``images`` (+ ``labels``), and ``test_images`` (+ ``test_labels``).

    Without ``test_images`` the test split is a seeded ``test_fraction`` of ``images``.
    """
    path = resolve_path(params.path, request)
    if not path.is_file():
        raise DatasetUnavailable(f"npz: no file {path} (params.path)")
    z = _read_npz(path)
    if "images" not in z:
        raise ConfigError(
            f"npz: {path} has no 'images' array (it has: {', '.join(sorted(z)) or 'nothing'})"
        )
    has_test = "test_images" in z
    has_labels = "labels" in z
    if "test_labels" in z and not has_test:
        raise ConfigError(f"npz: {path} has 'test_labels' but no 'test_images'")
    if has_test and has_labels != ("test_labels" in z):
        raise ConfigError(
            f"npz: {path} has 'test_images', so it needs both 'labels' and 'test_labels' or neither"
        )

    parts = ("", "test_") if has_test else ("",)
    images = {p: to_nchw(z[p + "images"], f"{path}:{p}images") for p in parts}
    labels = ({p: _labels(z[p + "labels"], len(images[p]), f"{path}:{p}labels") for p in parts}
              if has_labels else {})
    num_classes = max((int(a.max()) + 1 for a in labels.values() if len(a)), default=0)

    if has_test:
        key = "" if request.split == "train" else "test_"
        x, y = images[key], labels.get(key)
    else:
        idx = split_indices(len(images[""]), params.test_fraction, SPLIT_SEED)[request.split]
        x = images[""][idx]
        y = labels[""][idx] if has_labels else None
    return ImageData(
        resize_uint8(torch.from_numpy(x), request.resolution),
        torch.from_numpy(y) if y is not None else None,
        num_classes=num_classes,
        name=f"npz:{path.stem}/{request.split}",
    )
