"""Built-in plugin: the architectures of the self-modulation study (Chen et al., ICLR 2019).

Registers ``sndcgan`` and ``resnet``, and the study's benchmark suites (``suites/*.toml``). Both take ``g_norm`` = ``bn`` (baseline), ``selfmod``
(self-modulated BN), ``cbn`` (class-conditional BN) or ``cselfmod`` (conditional self-modulation);
see :mod:`ganzoo_selfmod.layers` and :mod:`ganzoo_selfmod.networks`.
"""

from __future__ import annotations

from pathlib import Path

from ganzoo import ArchitectureSpec, SuiteSpec, hookimpl
from ganzoo_selfmod.networks import ResNetParams, SNDCGANParams, build_resnet, build_sndcgan


@hookimpl
def register_architectures() -> list[ArchitectureSpec]:
    return [
        ArchitectureSpec(
            name="sndcgan",
            build=build_sndcgan,
            params=SNDCGANParams,
            description="SNDCGAN (Miyato et al. 2018) as in compare_gan; G norm: bn, selfmod, "
                        "cbn or cselfmod",
        ),
        ArchitectureSpec(
            name="resnet",
            build=build_resnet,
            params=ResNetParams,
            description="ResNet-CIFAR (r <= 64) / ResNet19 (128) as in compare_gan; G norm: bn, "
                        "selfmod, cbn or cselfmod",
        ),
    ]


@hookimpl
def register_suites():
    here = Path(__file__).parent / "suites"
    return [
        SuiteSpec("selfmod-robustness", here / "selfmod-robustness.toml",
                  "Chen et al. 2019 Tables 2-3: 36 settings x {BN, self-mod} x seeds"),
        SuiteSpec("selfmod-conditional", here / "selfmod-conditional.toml",
                  "Chen et al. 2019 Table 4: unconditional, G-cond and P-cGAN, baseline vs self-mod"),
        SuiteSpec("selfmod-where", here / "selfmod-where.toml",
                  "Chen et al. 2019 Figure 2: self-modulate every BN vs a single layer"),
    ]


@hookimpl
def register_tables():
    """The self-modulation paper's table kinds (torch-free; see ganzoo_selfmod.tables)."""
    from ganzoo import TableKind
    from ganzoo_selfmod.tables import TABLE_KINDS

    return [TableKind(name=n, spec=s, rows=f, description=d) for n, (s, f, d) in TABLE_KINDS.items()]


@hookimpl
def register_figures():
    from ganzoo import FigureKind
    from ganzoo_selfmod.tables import FIGURE_KINDS

    return [FigureKind(name=n, spec=s, draw=f, description=d) for n, (s, f, d) in FIGURE_KINDS.items()]
