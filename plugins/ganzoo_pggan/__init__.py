"""Built-in plugin: PGGAN (Karras, Aila, Laine & Lehtinen, ICLR 2018).

Registers the architecture ``pggan``: the paper's generator and discriminator at any power-of-two
resolution, with progressive growing (fade-in of new blocks, :class:`GrowthSchedule`), pixel norm,
equalized learning rate and minibatch stddev, and the switches of the paper's ablations (Table 1,
Table 4). See :mod:`ganzoo_pggan.layers` and :mod:`ganzoo_pggan.networks`.
"""

from __future__ import annotations

from ganzoo import ArchitectureSpec, hookimpl
from ganzoo_pggan.networks import (
    CRIPPLED_D,
    GrowthSchedule,
    PGGANParams,
    Phase,
    build_pggan,
    fade_reals,
    lod_at,
    phase_of,
)

__all__ = ["CRIPPLED_D", "GrowthSchedule", "PGGANParams", "Phase", "build_pggan", "fade_reals",
           "lod_at", "phase_of"]


@hookimpl
def register_architectures() -> list[ArchitectureSpec]:
    return [
        ArchitectureSpec(
            name="pggan",
            build=build_pggan,
            params=PGGANParams,
            description="Progressive GAN (Karras et al. 2018): pixel norm, equalized LR, minibatch "
                        "stddev, fade-in growing; switches for the Table 1 / Table 4 ablations",
            schedule=GrowthSchedule,
        ),
    ]


@hookimpl
def register_suites():
    from pathlib import Path

    from ganzoo import SuiteSpec

    here = Path(__file__).parent / "suites"
    return [
        SuiteSpec("pggan-ablation", here / "pggan-ablation.toml",
                  "Karras et al. 2018 Table 1: contributions enabled one by one; SWD and MS-SSIM"),
        SuiteSpec("pggan-mode-coverage", here / "pggan-mode-coverage.toml",
                  "Karras et al. 2018 Table 4: stacked-MNIST modes with crippled K/4 and K/2 discriminators"),
    ]


@hookimpl
def register_tables():
    """PGGAN's table kinds (torch-free; see ganzoo_pggan.tables)."""
    from ganzoo import TableKind
    from ganzoo_pggan.tables import TABLE_KINDS

    return [TableKind(name=n, spec=s, rows=f, description=d) for n, (s, f, d) in TABLE_KINDS.items()]


@hookimpl
def register_figures():
    from ganzoo import FigureKind
    from ganzoo_pggan.tables import FIGURE_KINDS

    return [FigureKind(name=n, spec=s, draw=f, description=d) for n, (s, f, d) in FIGURE_KINDS.items()]
