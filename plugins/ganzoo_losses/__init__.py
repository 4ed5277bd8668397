"""Built-in adversarial losses: ``non-saturating``, ``hinge``, ``wgan`` and ``lsgan``.

The maths lives in :mod:`ganzoo_losses.losses`, one pure ``d_*``/``g_*`` pair per loss.
"""

from __future__ import annotations

from ganzoo import LossSpec, hookimpl

from ganzoo_losses.losses import (
    LSGANParams,
    hinge_d_loss,
    hinge_g_loss,
    lsgan_d_loss,
    lsgan_g_loss,
    ns_d_loss,
    ns_g_loss,
    wgan_d_loss,
    wgan_g_loss,
)

__all__ = ["register_losses"]


@hookimpl
def register_losses() -> list[LossSpec]:
    return [
        LossSpec(
            name="non-saturating",
            d_loss=ns_d_loss,
            g_loss=ns_g_loss,
            description="D: softplus(-D(x)) + softplus(D(G(z))); G: softplus(-D(G(z))) "
            "(Goodfellow et al. 2014; compare_gan)",
        ),
        LossSpec(
            name="hinge",
            d_loss=hinge_d_loss,
            g_loss=hinge_g_loss,
            description="D: relu(1 - D(x)) + relu(1 + D(G(z))); G: -D(G(z)) (Lim & Ye 2017)",
        ),
        LossSpec(
            name="wgan",
            d_loss=wgan_d_loss,
            g_loss=wgan_g_loss,
            description="D: D(G(z)) - D(x); G: -D(G(z)) (Arjovsky et al. 2017); pair with wgan-gp",
        ),
        LossSpec(
            name="lsgan",
            d_loss=lsgan_d_loss,
            g_loss=lsgan_g_loss,
            params=LSGANParams,
            description="D: 0.5 (D(x) - b)^2 + 0.5 (D(G(z)) - a)^2; G: 0.5 (D(G(z)) - c)^2 "
            "(Mao et al. 2017; a=0, b=1, c=1)",
        ),
    ]
