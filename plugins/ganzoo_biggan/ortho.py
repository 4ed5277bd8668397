"""BigGAN's modified orthogonal regularisation of G, as a G-loss penalty.

Paper (Brock et al. 2019, Eq. 3): ``R_beta(W) = beta * ||W^T W (.) (1 - I)||_F^2``, beta = 1e-4,
which drives the filters of each layer towards pairwise orthogonality without constraining
their norms.

BigGAN-PyTorch (``utils.ortho``, implementation notes C.1) does not add a loss: after
``backward()`` it adds ``beta * 2 * ((W W^T) (.) (1 - I)) W`` to the gradient of every G parameter
with at least two dimensions (``W = param.view(out, -1)``, rows = output filters), except the
shared class embedding. That is the gradient of ``(beta / 2) * ||W W^T (.) (1 - I)||_F^2``, half the
paper's coefficient.

**Convention used here: the code's.** The penalty returned is

    (beta / 2) * sum_W ||W W^T (.) (1 - I)||_F^2

so that the gradient it adds to each ``W`` is exactly the code's ``2 beta ((W W^T) (.) (1 - I)) W``;
``beta`` is the value passed to ``--G_ortho`` (the paper's "beta = 1e-4" setting). To reproduce the
paper's formula literally, use ``beta = 2e-4``.

Details:

* It acts on the **raw, pre-spectral-norm** weights: with torch's parametrizations a SN layer's
  parameter is ``<layer>.parametrizations.weight.original`` (its ``weight`` is a computed tensor,
  not a parameter), so iterating ``G.parameters()`` already sees the raw weights, as the code does.
* Excluded: 1-D and 0-D parameters (biases, BN affines, attention gamma) and ``G.blacklist()``
  (BigGAN's shared class embedding) when G has that method.
* For tall matrices (more rows than columns, e.g. the first linear layer, ``4*4*16ch x chunk``)
  it uses ``||W W^T||_F^2 = ||W^T W||_F^2`` so that no ``rows x rows`` matrix is formed:
  ``||W W^T (.) (1 - I)||_F^2 = ||W^T W||_F^2 - sum_i ||w_i||^4``. Same value and gradient.
* Computed in float32.
* BigGAN-PyTorch's default is ``--G_ortho 0.0`` and every launch script passes 0.0; the released
  models were trained without it (notes C.1). The paper's Table 1 rows with "Ortho." use it.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from pydantic import Field
from torch import nn

from ganzoo import Params, RegContext


class OrthoParams(Params):
    """Modified orthogonal regularisation of G (BigGAN Eq. 3, BigGAN-PyTorch ``--G_ortho``)."""

    beta: float = Field(1e-4, ge=0, allow_inf_nan=False,
                        description="strength in BigGAN-PyTorch's convention: the penalty is "
                                    "(beta/2)*||W W^T (.) (1-I)||_F^2 per weight, i.e. gradient "
                                    "2*beta*(W W^T (.) (1-I)) W (the paper's Eq. 3 with "
                                    "coefficient beta/2); paper/code value 1e-4")


def _unwrap(module: nn.Module) -> nn.Module:
    """The model inside a DDP (``.module``) or ``torch.compile`` (``._orig_mod``) wrapper."""
    for attr in ("module", "_orig_mod"):
        inner = getattr(module, attr, None)
        if isinstance(inner, nn.Module):
            return _unwrap(inner)
    return module


def blacklisted(module: nn.Module) -> list[nn.Parameter]:
    """``module.blacklist()`` (or attribute) of the unwrapped model, else nothing."""
    bl = getattr(_unwrap(module), "blacklist", None)
    if bl is None:
        return []
    return list(bl() if callable(bl) else bl)


def ortho_weights(module: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """``(name, param)`` for every parameter with >= 2 dims that is not blacklisted."""
    skip = {id(p) for p in blacklisted(module)}
    return [(n, p) for n, p in module.named_parameters() if p.dim() >= 2 and id(p) not in skip]


def offdiag_gram_sq(w: torch.Tensor) -> torch.Tensor:
    """``||W W^T (.) (1 - I)||_F^2`` for ``W = w.view(w.shape[0], -1)``, in float32."""
    W = w.reshape(w.shape[0], -1).float()
    rows, cols = W.shape
    if rows <= cols:
        gram = W @ W.t()
        off = gram - torch.diag_embed(torch.diagonal(gram))
        return (off * off).sum()
    gram = W.t() @ W  # cols x cols: same Frobenius norm as W W^T
    row_sq = (W * W).sum(dim=1)
    return (gram * gram).sum() - (row_sq * row_sq).sum()


def ortho_loss(params: Iterable[torch.Tensor], beta: float) -> torch.Tensor:
    """``(beta / 2) * sum_W ||W W^T (.) (1 - I)||_F^2`` over the given weights."""
    total = None
    for p in params:
        term = offdiag_gram_sq(p)
        total = term if total is None else total + term
    if total is None:
        return torch.zeros(())
    return 0.5 * beta * total


def ortho_penalty(ctx: RegContext, params: OrthoParams) -> torch.Tensor:
    """The penalty added to G's loss: :func:`ortho_loss` over ``ortho_weights(ctx.G)``."""
    return ortho_loss((p for _, p in ortho_weights(ctx.G)), params.beta)
