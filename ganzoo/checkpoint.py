"""Checkpoints: plain dicts of tensors, numbers and strings, written atomically, loaded safely.

A checkpoint holds everything a lossless resume needs (networks, G_ema, optimizer states, step,
images shown, every RNG state, the sampler's position, bookkeeping) plus the resolved config as JSON,
so ``ganzoo sample`` and ``ganzoo eval`` can rebuild the networks through the registry. Loading
always uses ``torch.load(weights_only=True)``: a checkpoint cannot run code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ganzoo.atomic import atomic_write_bytes, atomic_write_text  # noqa: F401  (re-exported)
from ganzoo.errors import CheckpointError

FORMAT = 1
LATEST = "checkpoint.pt"


def save(state: dict[str, Any], path: str | Path) -> None:
    """Save a checkpoint dict atomically (a crash mid-write leaves the previous file intact)."""
    state = {"format": FORMAT, **state}
    atomic_write_bytes(Path(path), lambda f: torch.save(state, f))


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; a clear CheckpointError if that is impossible."""
    path = Path(path)
    if path.is_dir():
        path = path / LATEST
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT or "config" not in state:
        raise CheckpointError(f"{path} is not a ganzoo checkpoint (format {FORMAT})")
    return state


def config_of(state: dict[str, Any]) -> dict[str, Any]:
    """The resolved run config stored in a checkpoint, as a dict."""
    return json.loads(state["config"])
