"""LossMeter: the losses summed on the device, read (one sync) only when the loop needs them.

Calling ``.item()`` on a loss every step makes a GPU wait for the step to finish before the host
can queue the next one; the meter instead adds each step's detached losses to device tensors and
counts the steps whose losses were finite. :meth:`read` (at log, evaluation and checkpoint steps)
is the only sync: the mean losses since the last log line and, if a loss became non-finite, the
number of steps that were still finite (the run is then diverged at the next one).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Reading:
    d_loss: float
    g_loss: float
    finite_steps: int | None  # None: every step so far was finite; else the G steps done before the first that was not


class LossMeter:
    def __init__(self, device: torch.device, start_step: int, world: object) -> None:
        self.world = world
        self.start_step = start_step
        self.sums = torch.zeros(2, device=device)
        self.count = 0
        self.bad = torch.zeros((), dtype=torch.bool, device=device)
        self.finite = torch.zeros((), dtype=torch.int64, device=device)  # steps before the first bad one

    def add(self, d_loss: torch.Tensor, g_loss: torch.Tensor) -> None:
        """Record one G step's losses (no sync)."""
        pair = torch.stack([d_loss.detach().float(), g_loss.detach().float()])
        self.sums += pair
        self.bad |= ~torch.isfinite(pair).all()
        self.finite += ~self.bad
        self.count += 1

    def read(self, reset: bool) -> Reading:
        """Mean losses since the last reset (averaged over processes) and the divergence verdict."""
        sums = self.sums.clone()
        flags = torch.stack([self.bad.to(torch.int64), -self.finite])
        if getattr(self.world, "active", False):  # every rank must reach the same verdict
            dist.all_reduce(sums)
            sums /= self.world.size
            dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        d, g = (sums / max(self.count, 1)).tolist()
        bad, neg_finite = flags.tolist()
        if reset:
            self.sums.zero_()
            self.count = 0
        return Reading(d, g, self.start_step - neg_finite if bad else None)
