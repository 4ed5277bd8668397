"""Adversarial losses as pure functions of D's logits.

Every function takes D's raw logits (shape ``[N]``; any float dtype: they are cast to float32 first,
so a bf16 autocast step still reduces in float32) and returns a float32 scalar to *minimise*.
``d_*`` functions have the signature ``(d_real, d_fake, params)`` and ``g_*`` functions
``(d_fake, params)``, as :class:`ganzoo.specs.LossSpec` requires; ``params`` is ignored by the
parameter-free losses (they register ``NoParams``) and may be left out when calling them by hand.

Sources: compare_gan ``gans/loss_lib.py`` (non-saturating 54-80, hinge 129-149, WGAN and LSGAN),
Arjovsky et al. 2017 (WGAN), Mao et al. 2017 (LSGAN), Lim & Ye 2017 / Miyato et al. 2018 (hinge).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field

from ganzoo import Params

# -- non-saturating ------------------------------------------------------------------------------


def ns_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor, params: Any = None) -> torch.Tensor:
    """Non-saturating D loss (Goodfellow et al. 2014; compare_gan ``loss_lib.py`` 54-80).

    ``L_D = mean softplus(-d_real) + mean softplus(d_fake)``
    ``    = BCE(sigmoid(d_real), 1) + BCE(sigmoid(d_fake), 0)``, since ``-log sigmoid(t) = softplus(-t)``
    and ``-log(1 - sigmoid(t)) = softplus(t)``.
    """
    return F.softplus(-d_real.float()).mean() + F.softplus(d_fake.float()).mean()


def ns_g_loss(d_fake: torch.Tensor, params: Any = None) -> torch.Tensor:
    """Non-saturating G loss: ``L_G = mean softplus(-d_fake) = BCE(sigmoid(d_fake), 1)``."""
    return F.softplus(-d_fake.float()).mean()


# -- hinge ---------------------------------------------------------------------------------------


def hinge_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor, params: Any = None) -> torch.Tensor:
    """Hinge D loss (Lim & Ye 2017; compare_gan ``loss_lib.py`` 129-149).

    ``L_D = mean relu(1 - d_real) + mean relu(1 + d_fake)``: zero (and zero gradient) for reals
    with ``d_real >= 1`` and fakes with ``d_fake <= -1``.
    """
    return F.relu(1.0 - d_real.float()).mean() + F.relu(1.0 + d_fake.float()).mean()


def hinge_g_loss(d_fake: torch.Tensor, params: Any = None) -> torch.Tensor:
    """Hinge G loss: ``L_G = -mean d_fake``."""
    return -d_fake.float().mean()


# -- wgan ----------------------------------------------------------------------------------------


def wgan_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor, params: Any = None) -> torch.Tensor:
    """Wasserstein critic loss (Arjovsky et al. 2017; compare_gan ``loss_lib.py``; PGGAN ``loss.py``).

    ``L_D = mean d_fake - mean d_real``. Needs a Lipschitz constraint from elsewhere (the
    ``wgan-gp`` regularizer, spectral norm, ...).
    """
    return d_fake.float().mean() - d_real.float().mean()


def wgan_g_loss(d_fake: torch.Tensor, params: Any = None) -> torch.Tensor:
    """Wasserstein G loss: ``L_G = -mean d_fake``."""
    return -d_fake.float().mean()


# -- lsgan ---------------------------------------------------------------------------------------


class LSGANParams(Params):
    """Targets of the least-squares GAN (Mao et al. 2017, eq. 2): a=0, b=1, c=1 by default."""

    a: float = Field(0.0, allow_inf_nan=False, description="target D gives fakes")
    b: float = Field(1.0, allow_inf_nan=False, description="target D gives reals")
    c: float = Field(1.0, allow_inf_nan=False, description="target G wants D to give fakes")


_LSGAN_DEFAULT = LSGANParams()


def lsgan_d_loss(
    d_real: torch.Tensor, d_fake: torch.Tensor, params: LSGANParams | None = None
) -> torch.Tensor:
    """Least-squares D loss (Mao et al. 2017, eq. 2; compare_gan ``loss_lib.py``).

    ``L_D = 0.5 * mean (d_real - b)^2 + 0.5 * mean (d_fake - a)^2`` with ``a = 0``, ``b = 1`` by default.
    """
    p = params if params is not None else _LSGAN_DEFAULT
    return 0.5 * (d_real.float() - p.b).pow(2).mean() + 0.5 * (d_fake.float() - p.a).pow(2).mean()


def lsgan_g_loss(d_fake: torch.Tensor, params: LSGANParams | None = None) -> torch.Tensor:
    """Least-squares G loss (Mao et al. 2017, eq. 2): ``L_G = 0.5 * mean (d_fake - c)^2``, ``c = 1``."""
    p = params if params is not None else _LSGAN_DEFAULT
    return 0.5 * (d_fake.float() - p.c).pow(2).mean()
