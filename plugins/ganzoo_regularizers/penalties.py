"""Discriminator penalties: WGAN-GP (with PGGAN's target gamma), R1 and PGGAN's drift term.

Each penalty is a function ``(ctx, params) -> scalar`` (see :class:`ganzoo.specs.RegContext`) that
returns the *already weighted* float32 term to add to D's loss, built on a pure helper that does the
maths on tensors (``gradient_penalty``, ``r1_from_gradients``, ``drift_from_logits``), so the
formulas can be checked by hand.

Precision: D is run again under ``ctx.autocast()`` (the step's precision setting), but its output,
the input gradients and every norm and mean are taken in float32.
"""

from __future__ import annotations

import torch
from pydantic import Field

from ganzoo import Params, RegContext

# -- shared --------------------------------------------------------------------------------------


def _run_d(ctx: RegContext, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """D's logits on ``x`` (labels ``y`` only when there are any), under the step's autocast, as float32."""
    with ctx.autocast():
        out = ctx.D(x) if y is None else ctx.D(x, y)
    return out.float()


def _input_gradients(ctx: RegContext, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """``d/dx sum_i D(x)_i`` with ``create_graph=True`` (so the penalty trains D), as float32.

    ``x`` must be a leaf with ``requires_grad``. When each logit depends only on its own image this
    is the per-sample gradient ``d D(x_i) / d x_i``; with layers that couple samples (minibatch
    stddev) it is the gradient of the sum, which is what PGGAN's code takes too (notes B.5).
    """
    out = _run_d(ctx, x, y)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.float()


# -- wgan-gp -------------------------------------------------------------------------------------


class WGANGPParams(Params):
    """WGAN-GP: ``weight / target^2 * mean (sqrt(eps + ||grad||^2) - target)^2``."""

    weight: float = Field(10.0, ge=0, allow_inf_nan=False, description="lambda")
    target: float = Field(
        1.0, gt=0, allow_inf_nan=False,
        description="gamma, the target gradient norm (1: Gulrajani et al.; PGGAN CIFAR-10: 750)",
    )
    eps: float = Field(
        0.0, ge=0, allow_inf_nan=False,
        description="added inside the square root of the norm (compare_gan uses 1e-4)",
    )


def sample_alpha(n: int, device: torch.device | str | None = None) -> torch.Tensor:
    """``alpha ~ U(0, 1)``, one per sample, shape ``[n]``, float32.

    Drawn with ``torch.rand(n, device=device)``: it consumes the global torch RNG of ``device``
    (one float32 draw per sample), so seeding torch makes the penalty reproducible.
    """
    return torch.rand(n, device=device, dtype=torch.float32)


def interpolate(real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """``x_hat = real + alpha * (fake - real)`` per sample (``alpha`` shape ``[N]``), in float32."""
    a = alpha.float().reshape(-1, *([1] * (real.dim() - 1)))
    r = real.float()
    return r + a * (fake.float() - r)


def gradient_norms(grad: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    """Per-sample L2 norms ``sqrt(eps + sum grad^2)`` over all but the batch dimension, float32.

    With ``eps == 0`` this is ``torch.linalg.vector_norm``, whose derivative at a zero gradient is
    defined (zero) instead of the NaN that ``sqrt(0)`` would give in the double backward.
    """
    g = grad.float().flatten(1)
    if eps == 0.0:
        return torch.linalg.vector_norm(g, ord=2, dim=1)
    return torch.sqrt(eps + g.pow(2).sum(dim=1))


def gradient_penalty(
    grad: torch.Tensor, weight: float = 10.0, target: float = 1.0, eps: float = 0.0
) -> torch.Tensor:
    """The WGAN-GP term from the gradients of D at the interpolates, shape ``[N, ...]``.

    ``weight / target^2 * mean_i (sqrt(eps + ||grad_i||^2) - target)^2``.
    With ``target = 1``, ``eps = 0`` this is Gulrajani et al. 2017 (eq. 3); compare_gan
    (``penalty_lib.py`` 60-82) uses ``eps = 1e-4``; PGGAN (``loss.py`` 25-80, B.5 of the notes)
    divides by ``target^2`` and uses ``target = 750`` on CIFAR-10.
    """
    slopes = gradient_norms(grad, eps)
    return (weight / target**2) * (slopes - target).pow(2).mean()


def wgan_gp_penalty(ctx: RegContext, p: WGANGPParams) -> torch.Tensor:
    """WGAN-GP on interpolates between ``ctx.real`` and ``ctx.fake`` (Gulrajani et al. 2017).

    ``alpha ~ U(0,1)`` per sample (``sample_alpha``: consumes the global torch RNG on the images'
    device), ``x_hat = real + alpha (fake - real)`` (both detached: the penalty only trains D),
    grad of ``sum D(x_hat, y)`` w.r.t. ``x_hat`` with ``create_graph=True``, then
    :func:`gradient_penalty`. ``x_hat`` is cast back to the dtype of ``ctx.real`` before D sees it.

    Labels: a conditional D gets ``ctx.y_real`` (None for unconditional data) for every
    interpolate. An interpolate blends a real image with a fake one whose label may differ; we
    choose the real sample's label, so the constraint is on the critic conditioned on the real
    data's classes (``ctx.y_fake`` is not used).
    """
    real, fake = ctx.real.detach(), ctx.fake.detach()
    # In a multi-process run, draw for the global batch and keep this process's share.
    alpha = ctx.shard(sample_alpha(real.shape[0] * ctx.world_size, device=real.device))
    x_hat = interpolate(real, fake, alpha).to(real.dtype).requires_grad_(True)
    grad = _input_gradients(ctx, x_hat, ctx.y_real)
    return gradient_penalty(grad, weight=p.weight, target=p.target, eps=p.eps)


# -- r1 ------------------------------------------------------------------------------------------


class R1Params(Params):
    """R1: ``gamma / 2 * mean ||grad_x D(x_real)||^2``."""

    gamma: float = Field(10.0, ge=0, allow_inf_nan=False, description="gamma")


def r1_from_gradients(grad: torch.Tensor, gamma: float = 10.0) -> torch.Tensor:
    """``gamma / 2 * mean_i sum_pixels grad_i^2`` (Mescheder et al. 2018, eq. 9), float32."""
    return (gamma / 2.0) * grad.float().flatten(1).pow(2).sum(dim=1).mean()


def r1_penalty(ctx: RegContext, p: R1Params) -> torch.Tensor:
    """R1 (Mescheder, Geiger, Nowozin 2018): gradient penalty on the reals only.

    Runs D again on ``ctx.real.detach().requires_grad_(True)`` (with ``ctx.y_real``) under
    ``ctx.autocast()`` and applies :func:`r1_from_gradients`. Draws no random numbers.
    """
    x = ctx.real.detach().requires_grad_(True)
    grad = _input_gradients(ctx, x, ctx.y_real)
    return r1_from_gradients(grad, gamma=p.gamma)


# -- drift ---------------------------------------------------------------------------------------


class DriftParams(Params):
    """PGGAN's drift term: ``weight * mean D(x_real)^2``."""

    weight: float = Field(0.001, ge=0, allow_inf_nan=False, description="epsilon_drift")


def drift_from_logits(d_real: torch.Tensor, weight: float = 0.001) -> torch.Tensor:
    """``weight * mean d_real^2`` (PGGAN ``loss.py``, epsilon_drift = 0.001), float32."""
    return weight * d_real.float().pow(2).mean()


def drift_penalty(ctx: RegContext, p: DriftParams) -> torch.Tensor:
    """PGGAN's drift penalty on ``ctx.d_real`` (the step's logits on the reals; no extra forward).

    Keeps the critic's output from drifting far from zero (Karras et al. 2018, sec. A.1).
    """
    if ctx.d_real is None:
        raise ValueError("the drift penalty needs D's logits on the reals (ctx.d_real is None)")
    return drift_from_logits(ctx.d_real, weight=p.weight)
