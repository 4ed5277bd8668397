"""The built-in metric protocols: each a few lines over the algorithms in this package.

Counts and splits follow the papers' code where they define one:

* ``fid10k``: 10,000 generated vs up to 10,000 *test* images, the self-modulation study's protocol
  (compare_gan ``eval_test_samples``; notes A.6). ``fid50k``: 50,000 vs up to 50,000 *train* images.
  ``fid2k`` is the CPU-scale variant. ``fid10k-d64``, ``-d192``, ``-d768`` (and the same for
  ``fid50k``, ``fid2k``) are the same protocols on the FID Inception's block features that
  pytorch-fid's ``--dims 64/192/768`` selects; ``dims`` is in their protocol (and hash). The
  plain names are ``--dims 2048`` (pool_3) and keep the protocol, and hash, they always had.
* ``is50k`` (PGGAN/OpenAI: 50,000 images, 10 splits), ``is10k``, ``is2k``; ``is-data10k`` and
  ``is-data2k`` score up to that many real *test* images the same way (value ``is_data``: the
  "IS of the data" that BigGAN's truncation table matches). ``fid100``, ``is100`` and
  ``is-data100`` are for smoke tests only (BigGAN's 256 and 512 px rows on a CPU).
* ``kid10k`` / ``kid2k``: unbiased MMD^2 with the cubic kernel, 100 subsets of up to 1,000.
* ``pr10k`` / ``pr2k``: improved precision and recall with k = 3.
* ``swd16k``: PGGAN's SWD on 16,384 real (train) and generated images, 128 descriptors per image
  and level, 4 x 128 directions (notes B.7). ``swd2k`` is the CPU-scale variant. Both sets use the
  same count, capped by the size of the train split. ``swd256`` is for smoke tests only.
* ``msssim10k``: PGGAN's MS-SSIM over 10,000 pairs of consecutive generated images (20,000
  images; notes B.8). ``msssim1k`` is the CPU-scale variant, ``msssim100`` for smoke tests only.
* ``cacc2k`` / ``cacc10k``: for class-conditional generators, the fraction of generated images the
  extractor's classifier puts in the class they were generated for (value ``cacc``).
* ``modes25k``: the stacked-MNIST mode test of the PGGAN paper's appendix (Metz et al.): 25,600
  generated images, each channel classified by the shipped MNIST classifier, covered modes and
  KL(histogram || uniform) over the 1,000 modes. ``modes10k`` (10,240 images) is the CPU-scale
  variant: a perfect generator covers about 1000 (1 - e^-10) of the modes with it; ``modes2k``
  (2,048) and ``modes256`` are for smoke tests.

Feature-based protocols (FID, IS, KID, PR) use the evaluation's extractor, and their name is
printed with it: ``fid10k@inception-v3-fid``, ``fid10k@mnist-cnn``.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch

from ganzoo.api import ConfigError
from ganzoo.api import MetricContext
from ganzoo.api import MetricSpec
from ganzoo_metrics import msssim, scores, swd
from ganzoo_metrics.classifier import DIGITS_CLASSIFIER_INFO, load_digits_classifier, predict_stacked

SPLITS = 10


def _softmax(logits: np.ndarray) -> np.ndarray:
    return torch.softmax(torch.from_numpy(logits).double(), dim=1).numpy()


def fid(ctx: MetricContext, n_fake: int, n_real: int, split: str, dims: int = 2048) -> dict[str, float]:
    """Frechet distance of the extractor's pool features, or (``dims`` 64, 192, 768) of the FID
    Inception's block features, pytorch-fid's ``--dims`` (:mod:`ganzoo_metrics.inception`)."""
    if dims == 2048:
        fake = ctx.fake_features(n_fake)["pool"]
        real = ctx.real_features(split, n_real)["pool"]
    else:
        key = f"block{dims}"
        fake = ctx.fake_features(n_fake, outputs=(key,))[key]
        real = ctx.real_features(split, n_real, outputs=(key,))[key]
    ctx.notes.update(n_fake_used=len(fake), n_real_used=len(real))
    fs, rs = scores.FeatureStats(), scores.FeatureStats()
    fs.add(fake)
    rs.add(real)
    return {"fid": scores.frechet_distance(fs.mean(), fs.cov(), rs.mean(), rs.cov())}


def inception_score(ctx: MetricContext, n_fake: int) -> dict[str, float]:
    probs = _softmax(ctx.fake_features(n_fake)["logits"])
    ctx.notes.update(n_fake_used=len(probs))
    mean, std = scores.inception_score(probs, splits=SPLITS)
    return {"is": mean, "is_std": std}


def data_inception_score(ctx: MetricContext, n_real: int, split: str) -> dict[str, float]:
    """The Inception Score of real images (BigGAN Table 2's "IS of the validation data")."""
    probs = _softmax(ctx.real_features(split, n_real)["logits"])
    ctx.notes.update(n_real_used=len(probs))
    mean, std = scores.inception_score(probs, splits=SPLITS)
    return {"is_data": mean, "is_data_std": std}


def kid(ctx: MetricContext, n_fake: int, n_real: int, split: str) -> dict[str, float]:
    fake = ctx.fake_features(n_fake)["pool"]
    real = ctx.real_features(split, n_real)["pool"]
    ctx.notes.update(n_fake_used=len(fake), n_real_used=len(real))
    mean, std = scores.kernel_inception_distance(real, fake, num_subsets=100, subset_size=1000)
    return {"kid": mean, "kid_std": std}


def precision_recall(ctx: MetricContext, n_fake: int, n_real: int, split: str) -> dict[str, float]:
    fake = ctx.fake_features(n_fake)["pool"]
    real = ctx.real_features(split, n_real)["pool"]
    n = min(len(fake), len(real))  # equal set sizes keep the k-NN radii comparable
    ctx.notes.update(n_fake_used=n, n_real_used=n)
    p, r = scores.precision_recall(real[:n], fake[:n], k=3)
    return {"precision": p, "recall": r}


def sliced_wasserstein(ctx: MetricContext, n: int) -> dict[str, float]:
    res = ctx.cfg.data.resolution
    if res < 16:
        raise ConfigError(f"SWD needs images of at least 16 px (its coarsest level); these are {res} px")
    limit = getattr(getattr(ctx, "fake", None), "limit", None)  # a real-data reference has one
    n = min(n, len(ctx.real_data("train")), limit or n)
    ctx.notes.update(n_fake_used=n, n_real_used=n)
    real_rng, fake_rng, dirs_rng = swd_streams(ctx.settings.seed)
    real = swd.SWDAccumulator(res, seed=real_rng)
    fake = swd.SWDAccumulator(res, seed=fake_rng)
    for batch in ctx.real_batches("train", n):
        real.add(batch)
    for batch in ctx.fake_batches(n):
        fake.add(batch)
    return swd.swd(real, fake, seed=dirs_rng)


def swd_streams(seed: int) -> tuple[np.random.Generator, np.random.Generator, np.random.Generator]:
    """Independent streams for the real patch positions, the fake ones, and the directions.

    Children of one ``SeedSequence(seed)``: numpy guarantees spawned streams are independent, where
    ``default_rng(seed)`` for two uses would replay the same numbers in both.
    """
    real, fake, dirs = np.random.SeedSequence(seed).spawn(3)
    return np.random.default_rng(real), np.random.default_rng(fake), np.random.default_rng(dirs)


def ms_ssim(ctx: MetricContext, pairs: int) -> dict[str, float]:
    """Consecutive generated images are paired; an odd batch hands its last image to the next."""
    acc = msssim.MSSSIMAccumulator()
    carry = None
    for batch in ctx.fake_batches(2 * pairs):
        if carry is not None:
            batch = torch.cat([carry, batch])
        carry = batch[-1:] if len(batch) % 2 else None
        if len(batch) > 1:
            acc.add(batch[: len(batch) // 2 * 2])
    return acc.compute()


def stacked_modes(ctx: MetricContext, n_fake: int) -> dict[str, float]:
    if ctx.fake.info.channels != 3:
        raise ConfigError("modes25k counts the modes of stacked digits: it needs 3-channel images "
                          "(dataset 'stacked-digits')")
    model = load_digits_classifier()
    ctx.notes["classifier_sha256"] = DIGITS_CLASSIFIER_INFO["sha256"]
    preds = [predict_stacked(model, batch) for batch in ctx.fake_batches(n_fake)]
    ctx.notes.update(n_fake_used=sum(len(p) for p in preds))
    covered, kl = scores.mode_coverage(torch.cat(preds).numpy(), num_modes=1000)
    return {"modes": covered, "kl": kl}


def class_accuracy(ctx: MetricContext, n_fake: int) -> dict[str, float]:
    """Fraction of generated images the extractor's classifier assigns to the class they were
    generated for (class-conditional generators only)."""
    if not ctx.fake.info.num_classes:
        raise ConfigError("the class-accuracy metric (cacc) needs a class-conditional generator and labelled data")
    ext = ctx.extractor()
    right = total = 0
    with torch.no_grad():
        for images, labels in ctx.fake.labelled_batches(n_fake):
            if labels is None:
                raise ConfigError("the class-accuracy metric (cacc) needs a class-conditional generator")
            pred = ext(images.to(ctx.settings.device))["logits"].argmax(1).cpu()
            right += int((pred == labels).sum())
            total += len(labels)
    ctx.notes.update(n_fake_used=total)
    return {"cacc": right / total}


# Which values have a "best" during training, and in which direction (the self-mod study reports
# the best FID). MS-SSIM has none: it measures diversity, and closer to the data's is what matters.
BETTER = {
    fid: {"fid": "lower"}, kid: {"kid": "lower"}, sliced_wasserstein: {"swd_avg": "lower"},
    inception_score: {"is": "higher"}, precision_recall: {"precision": "higher", "recall": "higher"},
    stacked_modes: {"modes": "higher", "kl": "lower"}, class_accuracy: {"cacc": "higher"},
}


# The value keys each protocol returns (checked against suite tables before any training).
VALUES = {
    fid: ("fid",), kid: ("kid", "kid_std"), sliced_wasserstein: ("swd_avg", "swd_*"),
    inception_score: ("is", "is_std"), data_inception_score: ("is_data", "is_data_std"),
    precision_recall: ("precision", "recall"), ms_ssim: ("ms_ssim",), stacked_modes: ("modes", "kl"),
    class_accuracy: ("cacc",),
}


def _spec(name: str, fn, algorithm: str, uses_extractor: bool = False, fixed: dict | None = None,
          **counts) -> MetricSpec:
    """A protocol: ``fn`` with its counts bound, and every fixed choice written into ``protocol``."""
    protocol = {"algorithm": algorithm, **counts, **(fixed or {})}
    description = algorithm + ": " + ", ".join(f"{k}={v}" for k, v in protocol.items() if k != "algorithm")
    return MetricSpec(name=name, compute=partial(fn, **counts), protocol=protocol,
                      uses_extractor=uses_extractor, description=description, better=BETTER.get(fn, {}),
                      values=VALUES.get(fn, ()))


_feature = partial(_spec, uses_extractor=True)
SWD = {"real_split": "train", "nhoods_per_image": 128, "directions": "4x128", "scale": 1e3,
       "streams": "seedsequence-spawn3"}  # real patches, fake patches, directions: see swd_streams
MSSSIM = {"pairing": "consecutive", "window": 11, "sigma": 1.5, "scales": 5}

PROTOCOLS = [
    _feature("fid10k", fid, "frechet-distance", n_fake=10_000, n_real=10_000, split="test"),
    _feature("fid50k", fid, "frechet-distance", n_fake=50_000, n_real=50_000, split="train"),
    _feature("fid2k", fid, "frechet-distance", n_fake=2_000, n_real=2_000, split="test"),
    *[_feature(f"{name}-d{dims}", fid, "frechet-distance", n_fake=n, n_real=n, split=split, dims=dims)
      for name, n, split in (("fid10k", 10_000, "test"), ("fid50k", 50_000, "train"),
                             ("fid2k", 2_000, "test"))
      for dims in (64, 192, 768)],
    _feature("is50k", inception_score, f"inception-score-{SPLITS}-splits", n_fake=50_000),
    _feature("is10k", inception_score, f"inception-score-{SPLITS}-splits", n_fake=10_000),
    _feature("is2k", inception_score, f"inception-score-{SPLITS}-splits", n_fake=2_000),
    _feature("is-data10k", data_inception_score, f"inception-score-{SPLITS}-splits-real",
             n_real=10_000, split="test"),
    _feature("is-data2k", data_inception_score, f"inception-score-{SPLITS}-splits-real",
             n_real=2_000, split="test"),
    # Smoke-test sizes: plumbing checks of suites whose images are too large for 2,000 on a CPU.
    _feature("fid100", fid, "frechet-distance", n_fake=100, n_real=100, split="test"),
    _feature("is100", inception_score, f"inception-score-{SPLITS}-splits", n_fake=100),
    _feature("is-data100", data_inception_score, f"inception-score-{SPLITS}-splits-real",
             n_real=100, split="test"),
    _feature("kid10k", kid, "kid-cubic-100x1000", n_fake=10_000, n_real=10_000, split="test"),
    _feature("kid2k", kid, "kid-cubic-100x1000", n_fake=2_000, n_real=2_000, split="test"),
    _feature("pr10k", precision_recall, "precision-recall-k3", n_fake=10_000, n_real=10_000, split="test"),
    _feature("pr2k", precision_recall, "precision-recall-k3", n_fake=2_000, n_real=2_000, split="test"),
    _feature("cacc2k", class_accuracy, "classifier-accuracy-on-conditioning-labels", n_fake=2_000),
    _feature("cacc10k", class_accuracy, "classifier-accuracy-on-conditioning-labels", n_fake=10_000),
    _spec("swd16k", sliced_wasserstein, "pggan-swd", fixed=SWD, n=16_384),
    _spec("swd2k", sliced_wasserstein, "pggan-swd", fixed=SWD, n=2_048),
    _spec("swd256", sliced_wasserstein, "pggan-swd", fixed=SWD, n=256),  # smoke tests only
    _spec("msssim10k", ms_ssim, "pggan-ms-ssim", fixed=MSSSIM, pairs=10_000),
    _spec("msssim1k", ms_ssim, "pggan-ms-ssim", fixed=MSSSIM, pairs=1_000),
    _spec("msssim100", ms_ssim, "pggan-ms-ssim", fixed=MSSSIM, pairs=100),  # smoke tests only
    _spec("modes25k", stacked_modes, "stacked-mnist-modes", fixed={"modes": 1000, "classifier": "mnist-cnn"},
          n_fake=25_600),
    _spec("modes2k", stacked_modes, "stacked-mnist-modes", fixed={"modes": 1000, "classifier": "mnist-cnn"},
          n_fake=2_048),
    _spec("modes256", stacked_modes, "stacked-mnist-modes", fixed={"modes": 1000, "classifier": "mnist-cnn"},
          n_fake=256),  # smoke tests only
    _spec("modes10k", stacked_modes, "stacked-mnist-modes", fixed={"modes": 1000, "classifier": "mnist-cnn"},
          n_fake=10_240),
]
