"""The metric engine: named, hashed protocols over streamed uint8 images and cached real statistics.

A metric (``fid10k``, ``swd16k``, ``msssim10k``...) is registered by a plugin as a
:class:`~ganzoo.specs.MetricSpec` whose ``protocol`` fixes its algorithm, sample counts and reference
split. :func:`evaluate` adds everything else that changes the value (feature extractor and the
sha256 of its weights, its resizer, uint8 quantisation, generator mode: EMA or raw, BN running or
standing statistics, truncation, the latent seed) and returns each value with the protocol's name
and a hash of it. Generated and real images reach metrics as uint8 NCHW batches (generated images
are rounded and clipped exactly like saved PNGs); real features are cached on disk under a content
hash of the images, the extractor and its weights, written atomically.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import io
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from ganzoo.atomic import atomic_write_bytes
from ganzoo.config import RunConfig
from ganzoo.data import ImageData, load_data, to_uint8
from ganzoo.errors import ConfigError
from ganzoo.specs import DataInfo
from ganzoo.train.latents import LatentSampler
from ganzoo.train.networks import load_generator

DEFAULT_CACHE = Path(os.environ.get("GANZOO_CACHE", Path.home() / ".cache" / "ganzoo"))
QUANTISATION = "uint8-round-clip"  # generated images: round(127.5 x + 127.5), clipped to [0, 255]


@dataclass(frozen=True)
class ExtractorRequest:
    """What an extractor's ``load`` is given: an explicit weights file, a cache dir, download rights."""

    weights: Path | None = None
    cache_dir: Path = DEFAULT_CACHE / "weights"
    download: bool = True


@dataclass(frozen=True)
class EvalSettings:
    """Every evaluation-time choice that changes a metric's value (all go into the protocol)."""

    extractor: str = "inception-v3-fid"
    extractor_weights: Path | None = None
    generator: Literal["ema", "raw"] = "ema"
    bn: Literal["running", "standing"] = "running"
    standing_batches: int = 16
    truncation: float | None = None
    seed: int = 42  # compare_gan fixes the evaluation latents with np.random.seed(42)
    batch_size: int = 100
    cache_dir: Path = DEFAULT_CACHE
    download: bool = True
    device: str = "cpu"
    progress: bool = True


@dataclass
class MetricResult:
    """One metric's values with the protocol that produced them."""

    name: str  # e.g. "fid10k@mnist-cnn"
    values: dict[str, float]
    protocol: dict[str, Any]
    protocol_hash: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "values": self.values, "protocol": self.protocol,
                "protocol_hash": self.protocol_hash, "seconds": self.seconds}


def protocol_hash(protocol: dict[str, Any]) -> str:
    blob = json.dumps(protocol, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def images_hash(data: ImageData) -> str:
    """sha256 of a split's pixels and labels: the content key of its cached statistics."""
    h = hashlib.sha256()
    h.update(str(tuple(data.images.shape)).encode())
    h.update(data.images.contiguous().numpy().tobytes())
    if data.labels is not None:
        h.update(data.labels.numpy().astype(np.int64).tobytes())
    return h.hexdigest()


# -- generators at evaluation time -------------------------------------------------------------------
@torch.no_grad()
def standing_statistics(G: torch.nn.Module, sampler: LatentSampler, batches: int, batch_size: int) -> torch.nn.Module:
    """A copy of G whose BN layers hold standing statistics (BigGAN): running means and variances
    replaced by the average over ``batches`` training-mode forward passes of fresh latents."""
    G = copy.deepcopy(G)
    norms = [m for m in G.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return G.eval()
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the passes
    G.train()
    for _ in range(batches):
        G(*sampler.sample(batch_size))
    for m, mom in zip(norms, saved):
        m.momentum = mom
    return G.eval()


class FakeImages:
    """Generated images as uint8 NCHW batches, from fixed latents (the same prefix for every metric)."""

    def __init__(self, G: torch.nn.Module, cfg: RunConfig, info: DataInfo, settings: EvalSettings) -> None:
        self.cfg, self.info, self.settings = cfg, info, settings
        self.device = torch.device(settings.device)
        G = G.to(self.device).eval()
        if settings.bn == "standing":
            warm = LatentSampler(G.z_dim, cfg.train.latent, info.num_classes, settings.seed + 1,
                                 self.device, settings.truncation)
            G = standing_statistics(G, warm, settings.standing_batches, settings.batch_size)
        self.G = G

    limit: int | None = None  # generated images are unlimited; a real split is not (RealImages)

    def batches(self, n: int, desc: str = "generating") -> Iterator[torch.Tensor]:
        for images, _ in self.labelled_batches(n, desc):
            yield images

    @torch.no_grad()
    def labelled_batches(self, n: int, desc: str = "generating") -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """(uint8 images, the class labels they were generated for, or None when unconditional)."""
        s = self.settings
        sampler = LatentSampler(self.G.z_dim, self.cfg.train.latent, self.info.num_classes, s.seed,
                                self.device, s.truncation)
        bar = tqdm(total=n, desc=desc, unit="img", disable=not s.progress, leave=False)
        done = 0
        while done < n:
            b = min(s.batch_size, n - done)
            z, y = sampler.sample(b)
            yield to_uint8(self.G(z, y)).cpu(), (None if y is None else y.cpu())
            done += b
            bar.update(b)
        bar.close()


class RealImages:
    """Real images standing in for generated ones: the real-data reference of a metric protocol.

    The images come from a split the protocol does not compare against (see
    :func:`evaluate_real_reference`), so FID/KID are those of two disjoint real sets, IS and MS-SSIM
    those of real digits, and the class accuracy that of the classifier on real labelled images.
    """

    def __init__(self, data: ImageData, info: DataInfo, split: str, batch_size: int) -> None:
        self.data, self.info, self.split, self.batch_size = data, info, split, batch_size
        self.limit = len(data)

    def batches(self, n: int, desc: str = "real") -> Iterator[torch.Tensor]:
        for images, _ in self.labelled_batches(n, desc):
            yield images

    def labelled_batches(self, n: int, desc: str = "real") -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        n = min(n, len(self.data))
        for i in range(0, n, self.batch_size):
            j = min(n, i + self.batch_size)
            yield self.data.images[i:j], (None if self.data.labels is None else self.data.labels[i:j])


# -- the context metrics compute in ----------------------------------------------------------------
@dataclass
class MetricContext:
    """What a metric's ``compute`` works with. Images are uint8 NCHW; features are numpy float32."""

    fake: FakeImages | RealImages
    cfg: RunConfig
    settings: EvalSettings
    registry: Any
    _real: dict[str, ImageData] = field(default_factory=dict)
    _fake_feats: dict[tuple, dict[str, np.ndarray]] = field(default_factory=dict)  # (n, outputs) ->
    _extractor: torch.nn.Module | None = None
    notes: dict[str, Any] = field(default_factory=dict)  # e.g. the real-image counts actually used

    # Real images.
    def real_data(self, split: str) -> ImageData:
        if split not in self._real:
            self._real[split] = load_data(self.cfg, self.registry, split)
        return self._real[split]

    def real_batches(self, split: str, n: int) -> Iterator[torch.Tensor]:
        """The first ``min(n, len(split))`` images of a split, in batches."""
        data = self.real_data(split)
        n = min(n, len(data))
        for i in range(0, n, self.settings.batch_size):
            yield data.images[i : min(n, i + self.settings.batch_size)]

    def fake_batches(self, n: int) -> Iterator[torch.Tensor]:
        return self.fake.batches(n)

    # Features.
    def extractor(self) -> torch.nn.Module:
        if self._extractor is None:
            spec = self.registry.get("extractors", self.settings.extractor, where="--extractor")
            req = ExtractorRequest(self.settings.extractor_weights,
                                   Path(self.settings.cache_dir) / "weights", self.settings.download)
            self._extractor = spec.load(req).to(self.settings.device).eval()
        return self._extractor

    @torch.no_grad()
    def _features(self, batches: Iterator[torch.Tensor], total: int, desc: str,
                  outputs: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        ext = self.extractor()
        out: dict[str, list[np.ndarray]] = {}
        bar = tqdm(total=total, desc=desc, unit="img", disable=not self.settings.progress, leave=False)
        for batch in batches:
            batch = batch.to(self.settings.device)
            feats = ext(batch) if outputs is None else ext(batch, outputs=outputs)
            for key, value in feats.items():
                out.setdefault(key, []).append(value.float().cpu().numpy())
            bar.update(len(batch))
        bar.close()
        return {k: np.concatenate(v) for k, v in out.items()}

    def _check_outputs(self, outputs: tuple[str, ...] | None) -> None:
        """Named outputs need an extractor that offers them (``block_outputs``, e.g. the FID Inception's)."""
        if outputs is None:
            return
        offered = getattr(self.extractor(), "block_outputs", {})
        missing = [k for k in outputs if k not in offered]
        if missing:
            raise ConfigError(f"--extractor {self.settings.extractor}: has no feature output(s) "
                              f"{missing} (offers {sorted(offered) or 'none'} besides pool and logits)")

    def fake_features(self, n: int, outputs: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        """Extractor features of the first ``n`` generated images (memoised for this evaluation).

        ``outputs``: named extra outputs of the extractor (e.g. ``("block768",)``) instead of its
        default pool and logits.
        """
        self._check_outputs(outputs)
        for (have, kind), feats in self._fake_feats.items():
            if have >= n and kind == outputs:
                return {k: v[:n] for k, v in feats.items()}
        feats = self._features(self.fake.batches(n, "generating"), n,
                               f"features ({self.settings.extractor}, fake)",
                               **({"outputs": outputs} if outputs is not None else {}))
        self._fake_feats[(n, outputs)] = feats
        return feats

    def real_features(self, split: str, n: int,
                      outputs: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        """Extractor features of the first ``min(n, len(split))`` real images, cached on disk."""
        self._check_outputs(outputs)
        data = self.real_data(split)
        n = min(n, len(data))
        ext = self.extractor()
        ident = {"images": images_hash(data), "n": n, "extractor": self.settings.extractor,
                 "weights": getattr(ext, "weights_hash", "?"), "resizer": getattr(ext, "resizer", "?")}
        if outputs is not None:  # default outputs keep the cache key they always had
            ident["outputs"] = list(outputs)
        key = protocol_hash(ident)
        path = Path(self.settings.cache_dir) / "stats" / f"{self.cfg.data.name}-{split}-{n}-{key}.npz"
        if path.exists():
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        feats = self._features(self.real_batches(split, n), n,
                               f"features ({self.settings.extractor}, real)",
                               **({"outputs": outputs} if outputs is not None else {}))
        buf = io.BytesIO()
        np.savez(buf, **feats)
        atomic_write_bytes(path, lambda f: f.write(buf.getvalue()))
        return feats


# -- evaluation --------------------------------------------------------------------------------------
def _protocol(spec: Any, ctx: MetricContext) -> tuple[str, dict[str, Any]]:
    s = ctx.settings
    protocol = {"metric": spec.name, **spec.protocol, "quantisation": QUANTISATION,
                "dataset": ctx.cfg.data.name, "dataset_params": ctx.cfg.data.params,
                "resolution": ctx.cfg.data.resolution, "generator": s.generator, "bn": s.bn,
                "truncation": s.truncation, "latent_seed": s.seed}
    if s.bn == "standing":
        protocol["standing_batches"] = s.standing_batches
    name = spec.name
    if spec.uses_extractor:
        ext = ctx.extractor()
        protocol.update(extractor=s.extractor, extractor_weights_sha256=getattr(ext, "weights_hash", "?"),
                        resizer=getattr(ext, "resizer", "?"))
        name = f"{spec.name}@{s.extractor}"
    return name, protocol


def evaluate_generator(G: torch.nn.Module, cfg: RunConfig, info: DataInfo, metrics: list[str],
                       settings: EvalSettings, registry: Any) -> list[MetricResult]:
    """Compute ``metrics`` (registered protocol names) for a generator."""
    specs = [registry.get("metrics", m, where="--metrics") for m in metrics]
    ctx = MetricContext(FakeImages(G, cfg, info, settings), cfg, settings, registry)
    results = []
    for spec in specs:
        t0 = time.time()
        name, protocol = _protocol(spec, ctx)
        ctx.notes = {}
        values = {k: float(v) for k, v in spec.compute(ctx).items()}
        protocol.update(ctx.notes)
        results.append(MetricResult(name, values, protocol, protocol_hash(protocol), time.time() - t0))
    return results


def evaluate(checkpoint_path: str | Path, metrics: list[str], settings: EvalSettings, registry: Any,
             data_overrides: dict[str, Any] | None = None) -> list[MetricResult]:
    """Compute ``metrics`` for the generator in a checkpoint (G_ema unless ``settings.generator='raw'``).

    ``data_overrides`` replaces fields of the run's ``data`` config (e.g. ``data_root``) for the
    real images.
    """
    G, cfg, info, which = load_generator(checkpoint_path, registry, use_ema=settings.generator == "ema",
                                         device=settings.device)
    settings = dataclasses.replace(settings, generator=which)  # a run without EMA is evaluated raw
    if data_overrides:
        data = cfg.data.model_copy(update=data_overrides)
        if data.resolution != info.resolution:
            raise ConfigError(f"the generator makes {info.resolution}px images, "
                              f"the data is set to {data.resolution}px")
        cfg = cfg.model_copy(update={"data": data})
    return evaluate_generator(G, cfg, info, metrics, settings, registry)


def reference_split(spec: Any) -> str:
    """The split real images stand in for generated ones from: never the one the protocol compares
    against ("train" when it compares with test images, else "test", unseen by a shipped classifier)."""
    compared = spec.protocol.get("split") or spec.protocol.get("real_split")
    return "train" if compared == "test" else "test"


def evaluate_real_reference(cfg: RunConfig, info: DataInfo, metrics: list[str], settings: EvalSettings,
                            registry: Any) -> list[MetricResult]:
    """Each protocol's value for real images in place of generated ones (the tables' real-data row).

    The protocol (and so its hash) is the generator protocol's with ``generator`` set to
    ``real-<split>``; the image counts actually used are in it as for any metric.
    """
    results = []
    for m in metrics:
        spec = registry.get("metrics", m, where="--metrics")
        split = reference_split(spec)
        ctx = MetricContext(None, cfg, settings, registry)  # type: ignore[arg-type]
        ctx.fake = RealImages(ctx.real_data(split), info, split, settings.batch_size)
        t0 = time.time()
        name, protocol = _protocol(spec, ctx)
        protocol.update(generator=f"real-{split}", bn=None, truncation=None, latent_seed=None)
        ctx.notes = {}
        values = {k: float(v) for k, v in spec.compute(ctx).items()}
        protocol.update(ctx.notes)
        results.append(MetricResult(name, values, protocol, protocol_hash(protocol), time.time() - t0))
    return results
