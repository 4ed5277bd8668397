"""Where and how a run computes: device, threads, memory format and autocast (``fast.*``).

The fast path (``fast.channels_last``, ``fast.bf16``) is opt-in and recorded in the config because
it changes the numbers slightly. Losses and penalties stay float32: the loop casts D's logits, and
regularizers get :meth:`Precision.autocast` to run D again at the step's precision.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import torch

from ganzoo.config import RunConfig
from ganzoo.errors import GanzooError


class Precision:
    def __init__(self, cfg: RunConfig, world: Any) -> None:
        device = torch.device(cfg.train.device)
        if cfg.fast.threads:
            torch.set_num_threads(cfg.fast.threads)
        elif world.active:  # share the cores between the processes of this machine
            local = int(os.environ.get("LOCAL_WORLD_SIZE", world.size))
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))
        if world.active and device.type == "cuda" and cfg.train.device == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        if device.type == "cuda" and not torch.cuda.is_available():
            raise GanzooError(f"train.device: {cfg.train.device!r} requested but CUDA is not available")
        self.device = device
        self.bf16 = cfg.fast.bf16
        self.memory_format = torch.channels_last if cfg.fast.channels_last else torch.contiguous_format

    def autocast(self):
        """The step's autocast context (a no-op without ``fast.bf16``)."""
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
