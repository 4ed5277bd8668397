"""G_ema: an exponential moving average of G's weights, the generator most papers evaluate.

Parameters follow ``G_ema = decay * G_ema + (1 - decay) * G``; buffers (batch-norm running
statistics, PGGAN's lod) are copied, so G_ema samples with G's statistics until a metric asks for
standing ones. Both updates are one fused ``foreach`` call over all tensors, not a Python loop.
"""

from __future__ import annotations

import copy

import torch


def make_ema(G: torch.nn.Module) -> torch.nn.Module:
    """A frozen copy of G in eval mode."""
    G_ema = copy.deepcopy(G).eval()
    G_ema.requires_grad_(False)
    return G_ema


@torch.no_grad()
def update_ema(G_ema: torch.nn.Module, G: torch.nn.Module, decay: float) -> None:
    """G_ema = decay * G_ema + (1 - decay) * G for parameters; buffers are copied."""
    ema_p = list(G_ema.parameters())
    if ema_p:
        torch._foreach_lerp_(ema_p, [p.detach() for p in G.parameters()], 1.0 - decay)
    ema_b = list(G_ema.buffers())
    if ema_b:
        torch._foreach_copy_(ema_b, list(G.buffers()))
