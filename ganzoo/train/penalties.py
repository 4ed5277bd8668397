"""The run's regularizers, each on its own schedule (lazy regularization).

A regularizer with interval k runs on minibatches 0, k, 2k, ... of its network (D minibatches for
``target="d"``, G steps for ``target="g"``) and its penalty is multiplied by k, so its weight per
step is unchanged on average: StyleGAN2's lazy R1 (k = 16) saves most of the cost of the double
backward pass. With k = 1 every minibatch gets the plain penalty.
"""

from __future__ import annotations

from typing import Any

import torch

from ganzoo.config import RunConfig, component_params
from ganzoo.specs import RegContext


class Penalties:
    def __init__(self, cfg: RunConfig, registry: Any, target: str) -> None:
        self.items = []  # (spec, params, interval)
        for r in cfg.regularizers:
            spec = registry.get("regularizers", r.name)
            if spec.target == target:
                interval = r.interval if r.interval is not None else spec.interval
                self.items.append((spec, component_params("regularizers", r, registry), interval))

    def due(self, minibatch: int) -> list[tuple[Any, Any, int]]:
        return [item for item in self.items if minibatch % item[2] == 0]

    def add_to(self, loss: torch.Tensor, minibatch: int, make_ctx) -> torch.Tensor:
        """``loss`` plus every penalty due at ``minibatch`` (times its interval)."""
        due = self.due(minibatch)
        if not due:
            return loss
        ctx: RegContext = make_ctx()
        for spec, p, interval in due:
            term = spec.penalty(ctx, p)
            loss = loss + (term * interval if interval != 1 else term)
        return loss
