"""Built-in regularizers: ``wgan-gp``, ``r1`` and ``drift`` (all added to D's loss).

The maths lives in :mod:`ganzoo_regularizers.penalties`.
"""

from __future__ import annotations

from ganzoo import RegularizerSpec, hookimpl

from ganzoo_regularizers.penalties import (
    DriftParams,
    R1Params,
    WGANGPParams,
    drift_penalty,
    r1_penalty,
    wgan_gp_penalty,
)

__all__ = ["register_regularizers"]


@hookimpl
def register_regularizers() -> list[RegularizerSpec]:
    return [
        RegularizerSpec(
            name="wgan-gp",
            penalty=wgan_gp_penalty,
            target="d",
            params=WGANGPParams,
            description="weight/target^2 * mean (sqrt(eps + ||grad D(x_hat)||^2) - target)^2 on "
            "real/fake interpolates (Gulrajani et al. 2017; PGGAN target gamma)",
        ),
        RegularizerSpec(
            name="r1",
            penalty=r1_penalty,
            target="d",
            params=R1Params,
            description="gamma/2 * mean ||grad D(x_real)||^2 (Mescheder et al. 2018)",
        ),
        RegularizerSpec(
            name="drift",
            penalty=drift_penalty,
            target="d",
            params=DriftParams,
            description="weight * mean D(x_real)^2 (PGGAN epsilon_drift)",
        ),
    ]
