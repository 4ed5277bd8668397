"""From a resolved RunConfig to live objects: datasets, networks, latents, and back from checkpoints."""

from __future__ import annotations

import copy
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from ganzoo import checkpoint
from ganzoo.config import RunConfig, component_params, resolve
from ganzoo.data import DataRequest, ImageData
from ganzoo.errors import CheckpointError, ConfigError
from ganzoo.specs import DataInfo


def load_data(cfg: RunConfig, registry: Any, split: str = "train") -> ImageData:
    """The configured dataset's ``split``, at the configured resolution, as uint8 NCHW."""
    spec = registry.get("datasets", cfg.data.name, where="data.name")
    params = component_params("datasets", cfg.data, registry)
    root = Path(cfg.data.data_root).expanduser() if cfg.data.data_root else None
    data = spec.load(params, DataRequest(cfg.data.resolution, split, root))
    if data.resolution != cfg.data.resolution:
        raise ConfigError(
            f"dataset {cfg.data.name!r} returned {data.resolution}px images, "
            f"data.resolution is {cfg.data.resolution}"
        )
    return data


def data_info(data: ImageData) -> DataInfo:
    return DataInfo(resolution=data.resolution, channels=data.channels, num_classes=data.num_classes)


def build_networks(cfg: RunConfig, registry: Any, info: DataInfo) -> tuple[torch.nn.Module, torch.nn.Module]:
    """G and D of the configured architecture, checked against the contract's basic promises."""
    spec = registry.get("architectures", cfg.model.name, where="model.name")
    params = component_params("architectures", cfg.model, registry)
    G, D = spec.build(params, info)
    if not isinstance(getattr(G, "z_dim", None), int):
        raise ConfigError(f"architecture {cfg.model.name!r}: G has no integer z_dim")
    return G, D


def make_ema(G: torch.nn.Module) -> torch.nn.Module:
    G_ema = copy.deepcopy(G).eval()
    G_ema.requires_grad_(False)
    return G_ema


@torch.no_grad()
def update_ema(G_ema: torch.nn.Module, G: torch.nn.Module, decay: float) -> None:
    """G_ema = decay * G_ema + (1 - decay) * G for parameters; buffers (BN statistics) are copied."""
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.lerp_(p.detach(), 1.0 - decay)
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)


LABEL_STREAM = 0x1ABE15  # XORed into the seed of the label generator: a stream apart from z's


class LatentSampler:
    """Draws z (and fake labels for labelled data) from its own seeded generators.

    ``truncation`` applies BigGAN's truncation trick as its paper defines it: every entry of z whose
    magnitude exceeds the threshold is drawn again from the same distribution until none does.
    Labels come from a second generator seeded from the same seed (:data:`LABEL_STREAM`), so the
    resampling loop cannot shift them: with one seed, every threshold of a truncation sweep sees
    the same labels, and the points of the IS-FID curve are paired comparisons.
    """

    def __init__(self, z_dim: int, dist: str, num_classes: int, seed: int,
                 device: torch.device | str = "cpu", truncation: float | None = None) -> None:
        if truncation is not None and truncation <= 0:
            raise ConfigError(f"truncation must be positive, got {truncation}")
        if truncation is not None and dist != "normal":
            raise ConfigError(f"truncation resamples a normal latent; train.latent is {dist!r}")
        self.z_dim, self.dist, self.num_classes = z_dim, dist, num_classes
        self.device = torch.device(device)
        self.truncation = truncation
        self.gen = torch.Generator().manual_seed(seed)
        self.label_gen = torch.Generator().manual_seed(seed ^ LABEL_STREAM)

    def _draw(self, shape: tuple[int, ...]) -> torch.Tensor:
        g = self.gen
        if self.dist == "uniform":
            return torch.rand(shape, generator=g).mul_(2).sub_(1)
        if self.dist == "normal":
            return torch.randn(shape, generator=g)
        # BigGAN appendix E's alternatives (the two annealed/variable-variance ones are not offered).
        coin = lambda: (torch.rand(shape, generator=g) < 0.5).float()  # noqa: E731
        if self.dist == "bernoulli":
            return coin()
        if self.dist == "censored-normal":
            return torch.randn(shape, generator=g).clamp_min_(0)
        if self.dist == "bernoulli-pm1":
            return coin().mul_(2).sub_(1)
        if self.dist == "categorical3":
            return torch.randint(3, shape, generator=g).float().sub_(1)
        if self.dist == "normal-x-bernoulli":
            return torch.randn(shape, generator=g) * coin()
        if self.dist == "normal-and-bernoulli":  # first half of the entries normal, second half 0/1
            z = torch.randn(shape, generator=g)
            half = shape[-1] // 2
            z[..., half:] = coin()[..., half:]
            return z
        raise ConfigError(f"unknown latent distribution {self.dist!r}")

    def sample(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        z = self._draw((n, self.z_dim))
        if self.truncation is not None:
            outside = z.abs() > self.truncation
            while outside.any():
                z[outside] = self._draw((int(outside.sum()),))
                outside = z.abs() > self.truncation
        y = (torch.randint(self.num_classes, (n,), generator=self.label_gen)
             if self.num_classes > 0 else None)
        z = z.to(self.device)
        return z, (y.to(self.device) if y is not None else None)

    def state_dict(self) -> dict:
        return {"gen": self.gen.get_state(), "label_gen": self.label_gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.gen.set_state(state["gen"])
        if "label_gen" in state:  # checkpoints from before the label stream keep its seeded start
            self.label_gen.set_state(state["label_gen"])


def load_generator(path: str | Path, use_ema: bool = True, registry: Any = None,
                   device: str = "cpu") -> tuple[torch.nn.Module, RunConfig, DataInfo, str]:
    """Rebuild G from a checkpoint, in eval mode: G_ema when it exists and ``use_ema``, else the raw G.

    Returns ``(G, cfg, info, which)`` with ``which`` "ema" or "raw", the weights actually loaded.
    """
    if registry is None:
        from ganzoo.registry import get_registry

        registry = get_registry()
    state = checkpoint.load(path)
    cfg = resolve(checkpoint.config_of(state), registry)
    info = DataInfo(**state["data_info"])
    G, _ = build_networks(cfg, registry, info)
    which = "ema" if use_ema and state.get("G_ema") is not None else "raw"
    weights = state["G_ema"] if which == "ema" else state["G"]
    try:
        G.load_state_dict(weights)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit the {cfg.model.name!r} network: {exc}") from None
    return G.to(device).eval(), cfg, info, which


def info_dict(info: DataInfo) -> dict:
    return asdict(info)
