"""Unrolled discriminator for the generator's step (Metz, Poole, Pfau & Sohl-Dickstein, ICLR 2017).

The generator's loss is taken against a *surrogate* discriminator: a copy of D's parameters after
``k`` further Adam steps on fresh real and fake batches, with the gradient flowing back through
those steps (the paper's Eq. 9-12; the fakes of every unrolled step come from the current G, so G
sees how D would react to it). The real D is not changed by the unrolling: its own update is the
ordinary D step of the trainer.

Choices, stated because the paper leaves them open or its code is not available here:

* the unrolled steps are Adam steps that start from D's *current* optimizer state (moments and step
  count), with D's learning rate and betas, written out differentiably;
* they use the adversarial loss only: D's regularizers (gradient penalties) are not unrolled;
* D's buffers (batch-norm running statistics) are copied, so the surrogate never changes them.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch.func import functional_call


def adam_step(params: dict[str, torch.Tensor], grads: dict[str, torch.Tensor], state: dict[str, dict],
              lr: float, betas: tuple[float, float], eps: float) -> tuple[dict, dict]:
    """One differentiable Adam step: new params and new per-parameter state (nothing in place)."""
    b1, b2 = betas
    new_params, new_state = {}, {}
    for name, p in params.items():
        g = grads[name]
        st = state.get(name) or {}
        m = st.get("exp_avg", torch.zeros_like(p))
        v = st.get("exp_avg_sq", torch.zeros_like(p))
        t = float(st.get("step", 0.0)) + 1.0
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1 ** t)
        v_hat = v / (1 - b2 ** t)
        # The tiny constant keeps d sqrt(v)/dv finite where a gradient is exactly zero.
        new_params[name] = p - lr * m_hat / ((v_hat + 1e-30).sqrt() + eps)
        new_state[name] = {"exp_avg": m, "exp_avg_sq": v, "step": t}
    return new_params, new_state


def optimizer_state(D: torch.nn.Module, opt: torch.optim.Optimizer) -> dict[str, dict]:
    """D's Adam state keyed by parameter name (detached copies)."""
    out = {}
    for name, p in D.named_parameters():
        st = opt.state.get(p)
        if st:
            out[name] = {"exp_avg": st["exp_avg"].detach().clone(),
                         "exp_avg_sq": st["exp_avg_sq"].detach().clone(),
                         "step": float(st["step"])}
    return out


def unrolled_parameters(D: torch.nn.Module, opt: torch.optim.Optimizer, steps: int,
                        batch: Callable[[], tuple[Any, ...]], d_loss: Callable[..., torch.Tensor],
                        joint: bool = False) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """D's parameters after ``steps`` differentiable Adam steps, and the copied buffers to use with them.

    ``batch()`` returns ``(real, y_real, fake, y_fake)`` with ``fake`` still attached to G's graph;
    ``d_loss(d_real, d_fake)`` is the adversarial D loss; ``joint``: D sees reals and fakes in one
    call, as the training loop's D steps do with ``train.d_batch = "joint"``.
    """
    from ganzoo.train.batches import discriminate

    group = opt.param_groups[0]
    lr, betas, eps = group["lr"], tuple(group["betas"]), group["eps"]
    # Fresh leaves: G's loss must not train D, only flow through D's unrolled updates.
    params = {n: p.detach().requires_grad_(True) for n, p in D.named_parameters()}
    buffers = {n: b.detach().clone() for n, b in D.named_buffers()}
    state = optimizer_state(D, opt)
    for _ in range(steps):
        real, y_real, fake, y_fake = batch()
        d_real, d_fake = discriminate(lambda x, y: functional_call(D, (params, buffers), (x, y)),
                                      real, y_real, fake, y_fake, joint)
        loss = d_loss(d_real.float(), d_fake.float())
        names = list(params)
        grads = torch.autograd.grad(loss, [params[n] for n in names], create_graph=True)
        params, state = adam_step(params, dict(zip(names, grads)), state, lr, betas, eps)
    return params, buffers


def surrogate_logits(D: torch.nn.Module, params: dict, buffers: dict, x: torch.Tensor,
                     y: torch.Tensor | None) -> torch.Tensor:
    """The unrolled discriminator's logits on ``x``."""
    return functional_call(D, (params, buffers), (x, y))
