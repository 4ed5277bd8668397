"""Built-in plugin: BigGAN (Brock, Donahue & Simonyan, ICLR 2019) after BigGAN-PyTorch.

Registers the architectures ``biggan`` (32 to 512 px; see :mod:`ganzoo_biggan.networks` and
:mod:`ganzoo_biggan.layers`) and ``biggan-deep`` (32 to 512 px; :mod:`ganzoo_biggan.deep`), and the
G regularizer ``ortho``,
BigGAN's modified orthogonal regularisation (:mod:`ganzoo_biggan.ortho`).
"""

from __future__ import annotations

from ganzoo import ArchitectureSpec, RegularizerSpec, hookimpl
from ganzoo_biggan.deep import BigGANDeepParams, build_biggan_deep
from ganzoo_biggan.networks import BigGANParams, build_biggan
from ganzoo_biggan.ortho import OrthoParams, ortho_penalty

__all__ = ["register_architectures", "register_regularizers"]


@hookimpl
def register_architectures() -> list[ArchitectureSpec]:
    return [
        ArchitectureSpec(
            name="biggan",
            build=build_biggan,
            params=BigGANParams,
            description="BigGAN (Brock et al. 2019) as in BigGAN-PyTorch: shared embedding, "
                        "hierarchical z, conditional BN, self-attention, SN in G and D, projection "
                        "D; 32, 64, 128, 256 or 512 px",
        ),
        ArchitectureSpec(
            name="biggan-deep",
            build=build_biggan_deep,
            params=BigGANDeepParams,
            description="BigGAN-deep (Brock et al. 2019, appendix B) as in BigGAN-PyTorch: "
                        "bottleneck residual blocks, 2 per stage, channel drop in G, whole z "
                        "concatenated with the shared embedding at every block; 32 to 512 px",
        ),
    ]


@hookimpl
def register_regularizers() -> list[RegularizerSpec]:
    return [
        RegularizerSpec(
            name="ortho",
            penalty=ortho_penalty,
            target="g",
            params=OrthoParams,
            description="BigGAN modified orthogonal regularisation of G: (beta/2) * sum_W "
                        "||W W^T (.) (1-I)||_F^2 on raw (pre-SN) weights with >= 2 dims, shared "
                        "embedding excluded (gradient = BigGAN-PyTorch's --G_ortho beta)",
        ),
    ]


@hookimpl
def register_suites():
    from pathlib import Path

    from ganzoo import SuiteSpec

    here = Path(__file__).parent / "suites"
    return [
        SuiteSpec("biggan-ablation", here / "biggan-ablation.toml",
                  "Brock et al. 2019 Table 1: batch, width, shared embedding, hierarchical z, ortho reg"),
        SuiteSpec("biggan-truncation", here / "biggan-truncation.toml",
                  "Brock et al. 2019 Table 2: FID/IS along the truncation sweep"),
    ]


@hookimpl
def register_tables():
    """BigGAN's table kinds (torch-free; see ganzoo_biggan.tables)."""
    from ganzoo import TableKind
    from ganzoo_biggan.tables import TABLE_KINDS

    return [TableKind(name=n, spec=s, rows=f, description=d) for n, (s, f, d) in TABLE_KINDS.items()]


@hookimpl
def register_figures():
    from ganzoo import FigureKind
    from ganzoo_biggan.tables import FIGURE_KINDS

    return [FigureKind(name=n, spec=s, draw=f, description=d) for n, (s, f, d) in FIGURE_KINDS.items()]
