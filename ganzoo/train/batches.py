"""Batches: this process's share of the next global minibatch of reals or latents, on its device.

Every process draws the *global* batch from the run's seeded samplers and keeps its slice, so the
stream of data and latents is the one a single process would see (see :mod:`ganzoo.distributed`).
Reals come in the step's memory format and, in a growing run, faded the way the phase wants.
"""

from __future__ import annotations

from typing import Any

import torch

from ganzoo.errors import ConfigError
from ganzoo.train.state import TrainState


class Batches:
    def __init__(self, st: TrainState, world: Any, memory_format: torch.memory_format,
                 schedule: Any = None) -> None:
        self.st, self.world, self.memory_format, self.schedule = st, world, memory_format, schedule

    def reals(self, phase: Any, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``n`` reals of the global batch (this process's share) and their labels."""
        real, y = self.st.sampler.next(n)
        real, y = self.world.shard(real), self.world.shard(y)
        real = real.to(self.st.device, non_blocking=True, memory_format=self.memory_format)
        if phase is not None:
            real = self.schedule.reals(real, phase)
        return real, (y.to(self.st.device, non_blocking=True) if y is not None else None)

    def latents(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``n`` latents of the global batch (this process's share) and their fake labels."""
        z, y = self.st.latents.sample(n)
        return self.world.shard(z), self.world.shard(y)


def micro_batches(k: int, *tensors: torch.Tensor | None) -> list[tuple[torch.Tensor | None, ...]]:
    """The minibatch as ``k`` micro-batches (``train.accumulate``); a ``None`` (no labels) stays ``None``."""
    if k == 1:
        return [tensors]
    for t in tensors:
        if t is not None and len(t) % k:
            raise ConfigError(f"train.accumulate: a batch of {len(t)} on this process is not divisible "
                              f"by {k} micro-batches")
    return list(zip(*((t.chunk(k) if t is not None else (None,) * k) for t in tensors)))


def discriminate(D: Any, real: torch.Tensor, y_real: torch.Tensor | None, fake: torch.Tensor,
                 y_fake: torch.Tensor | None, joint: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """D's logits on reals and on fakes: two calls, or one on their concatenation (``train.d_batch``).

    ``D`` is any callable ``D(x, y)`` (the module, or the unrolled D's functional call).
    """
    if not joint:
        return D(real, y_real), D(fake, y_fake)
    y = None if y_real is None else torch.cat([y_real, y_fake])
    logits = D(torch.cat([real, fake]), y)
    return logits[: len(real)], logits[len(real):]
