"""TrainState: everything a training run is at one step, and the checkpoint it saves and resumes.

One object holds G, D, G_ema, both optimizers, the data and latent samplers, the counters and the
best metric values; ``state_dict()`` is the checkpoint (plus the global RNG states, which are part of
where training stands), ``load_state_dict()`` puts it all back. Resuming is lossless: N steps
straight and k steps + resume + N-k steps give bit-identical networks on CPU
(``tests/test_trainer.py``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ganzoo.config import RunConfig
from ganzoo.data import BatchSampler, ImageData, data_info
from ganzoo.specs import DataInfo
from ganzoo.train.ema import make_ema
from ganzoo.train.latents import LatentSampler
from ganzoo.train.networks import build_networks, load_weights


@dataclass
class TrainState:
    cfg: RunConfig
    info: DataInfo
    device: torch.device
    G: torch.nn.Module
    D: torch.nn.Module
    G_ema: torch.nn.Module | None
    G_opt: torch.optim.Optimizer
    D_opt: torch.optim.Optimizer
    sampler: BatchSampler
    latents: LatentSampler
    step: int = 0  # G steps done
    images_shown: int = 0  # reals shown to D
    seconds_before: float = 0.0  # training time of earlier sessions of this run
    best: dict[str, dict] = field(default_factory=dict)  # "metric/value" -> {"value", "step"}
    phase_key: tuple[int, int] | None = None  # a growing run's (floor(lod), ceil(lod)) of the last step
    started: float = field(default_factory=time.time)

    @property
    def seconds(self) -> float:
        return self.seconds_before + time.time() - self.started

    def state_dict(self) -> dict[str, Any]:
        """The checkpoint: plain tensors, numbers and strings (loadable with ``weights_only=True``)."""
        cuda = self.device.type == "cuda"
        return {
            "config": self.cfg.to_json(), "data_info": asdict(self.info),
            "step": self.step, "images_shown": self.images_shown, "seconds": self.seconds,
            "G": self.G.state_dict(), "D": self.D.state_dict(),
            "G_ema": self.G_ema.state_dict() if self.G_ema is not None else None,
            "G_opt": self.G_opt.state_dict(), "D_opt": self.D_opt.state_dict(),
            "sampler": self.sampler.state_dict(), "latents": self.latents.state_dict(),
            "rng_torch": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state(self.device) if cuda else None,
            "best": json.dumps(self.best),
            "phase_key": list(self.phase_key) if self.phase_key is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any], where: str | Path = "checkpoint") -> None:
        """Resume from :meth:`state_dict`'s output; a one-line CheckpointError if weights do not fit."""
        load_weights(self.G, state["G"], "G", where)
        load_weights(self.D, state["D"], "D", where)
        if self.G_ema is not None:
            load_weights(self.G_ema, state["G_ema"], "G_ema", where)
        self.G_opt.load_state_dict(state["G_opt"])
        self.D_opt.load_state_dict(state["D_opt"])
        self.sampler.load_state_dict(state["sampler"])
        self.latents.load_state_dict(state["latents"])
        torch.set_rng_state(state["rng_torch"])
        if self.device.type == "cuda" and state.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(state["rng_cuda"], self.device)
        self.step, self.images_shown = int(state["step"]), int(state["images_shown"])
        self.seconds_before, self.started = float(state["seconds"]), time.time()
        self.best = dict(json.loads(state.get("best", "{}")))
        key = state.get("phase_key")
        self.phase_key = tuple(int(k) for k in key) if key is not None else None

    def update_best(self, results: list, specs: list, step: int) -> None:
        """Keep, per metric value with a direction (``MetricSpec.better``), the best seen so far."""
        for r, spec in zip(results, specs):
            for key, value in r.values.items():
                way = spec.better.get(key)
                if way is None:
                    continue
                name = f"{r.name}/{key}"
                old = self.best.get(name)
                if old is None or (value < old["value"] if way == "lower" else value > old["value"]):
                    self.best[name] = {"value": value, "step": step}


def adam(params, opt: Any, fused: bool) -> torch.optim.Adam:
    """Adam with the config's settings, as torch's fused kernel on the fast path.

    The fused kernel made the optimizer step 3-4x faster on a 2-core CPU (``benchmarks/perf``); it
    rounds differently from the per-tensor loop, so it belongs to the fast path, which is recorded
    in the config as changing the numbers slightly. The plain path keeps the per-tensor loop.
    """
    return torch.optim.Adam(params, lr=opt.lr, betas=(opt.beta1, opt.beta2), eps=opt.eps,
                            **({"fused": True} if fused else {}))


def build_state(cfg: RunConfig, registry: Any, data: ImageData, device: torch.device, world: Any,
                memory_format: torch.memory_format) -> TrainState:
    """A fresh TrainState: networks from the run's seed, optimizers, EMA and seeded samplers."""
    from ganzoo import distributed

    info = data_info(data)
    torch.manual_seed(cfg.train.seed)
    G, D = build_networks(cfg, registry, info)
    if world.active:  # batch statistics over the global batch, as one process would compute them
        G, D = distributed.convert_batchnorm(G, device), distributed.convert_batchnorm(D, device)
        world.check_batch(cfg.train.batch_size)
    G, D = G.to(device, memory_format=memory_format), D.to(device, memory_format=memory_format)
    fused = cfg.fast.bf16 or cfg.fast.channels_last
    return TrainState(
        cfg=cfg, info=info, device=device, G=G, D=D,
        G_ema=make_ema(G) if cfg.ema.enabled else None,
        G_opt=adam(G.parameters(), cfg.g_optim, fused), D_opt=adam(D.parameters(), cfg.d_optim, fused),
        sampler=BatchSampler(data, cfg.train.batch_size, seed=cfg.train.seed),
        latents=LatentSampler(G.z_dim, cfg.train.latent, info.num_classes, cfg.train.seed + 1, device),
    )
