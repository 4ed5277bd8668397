"""G and D of a run config, and G rebuilt from a checkpoint (for ``ganzoo sample`` and metrics)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ganzoo import checkpoint
from ganzoo.config import RunConfig, component_params, resolve
from ganzoo.errors import CheckpointError, ConfigError
from ganzoo.specs import DataInfo, Growing


def build_networks(cfg: RunConfig, registry: Any, info: DataInfo) -> tuple[torch.nn.Module, torch.nn.Module]:
    """G and D of the configured architecture, checked against the contract's basic promises.

    An architecture with a growth schedule must give networks that are :class:`Growing`.
    """
    spec = registry.get("architectures", cfg.model.name, where="model.name")
    params = component_params("architectures", cfg.model, registry)
    G, D = spec.build(params, info)
    if not isinstance(getattr(G, "z_dim", None), int):
        raise ConfigError(f"architecture {cfg.model.name!r}: G has no integer z_dim")
    if spec.schedule is not None:
        for label, net in (("G", G), ("D", D)):
            if not isinstance(net, Growing):
                raise ConfigError(f"architecture {cfg.model.name!r} has a growth schedule but its {label} "
                                  "lacks set_lod/observe_real (ganzoo.specs.Growing)")
    return G, D


def load_weights(net: torch.nn.Module, weights: dict[str, torch.Tensor], label: str, where: str | Path) -> None:
    """``net.load_state_dict(weights)``, with a one-line CheckpointError naming a misfit tensor."""
    own = net.state_dict()
    for name, tensor in weights.items():
        if name in own and tuple(own[name].shape) != tuple(tensor.shape):
            raise CheckpointError(f"{where}: {label}.{name} has shape {tuple(tensor.shape)} in the checkpoint "
                                  f"but {tuple(own[name].shape)} in the network")
    missing = sorted(set(own) - set(weights))
    extra = sorted(set(weights) - set(own))
    if missing or extra:
        what = "; ".join(x for x in (f"missing {', '.join(missing[:3])}" if missing else "",
                                      f"unexpected {', '.join(extra[:3])}" if extra else "") if x)
        raise CheckpointError(f"{where}: {label} weights do not fit the network: {what}")
    net.load_state_dict(weights)


def load_generator(path: str | Path, registry: Any, use_ema: bool = True,
                   device: str = "cpu") -> tuple[torch.nn.Module, RunConfig, DataInfo, str]:
    """Rebuild G from a checkpoint, in eval mode: G_ema when it exists and ``use_ema``, else the raw G.

    Returns ``(G, cfg, info, which)`` with ``which`` "ema" or "raw", the weights actually loaded.
    """
    state = checkpoint.load(path)
    cfg = resolve(checkpoint.config_of(state), registry)
    info = DataInfo(**state["data_info"])
    G, _ = build_networks(cfg, registry, info)
    which = "ema" if use_ema and state.get("G_ema") is not None else "raw"
    load_weights(G, state["G_ema"] if which == "ema" else state["G"], "G_ema" if which == "ema" else "G", path)
    return G.to(device).eval(), cfg, info, which
