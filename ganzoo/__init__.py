"""ganzoo: a plugin-based GAN zoo. Here: ``hookimpl`` and the specs; :mod:`ganzoo.api` has all a plugin needs."""

from ganzoo.hookspecs import hookimpl
from ganzoo.specs import (
    ArchitectureSpec,
    CommandSpec,
    DataInfo,
    DatasetSpec,
    ExtractorSpec,
    FigureKind,
    Growing,
    GrowthSchedule,
    LossSpec,
    MetricSpec,
    NoParams,
    Params,
    Phase,
    RegContext,
    RegularizerSpec,
    SuiteSpec,
    TableKind,
)

__version__ = "0.1.0"

__all__ = [
    "ArchitectureSpec",
    "CommandSpec",
    "DataInfo",
    "DatasetSpec",
    "ExtractorSpec",
    "FigureKind",
    "Growing",
    "GrowthSchedule",
    "LossSpec",
    "MetricSpec",
    "NoParams",
    "Params",
    "Phase",
    "RegContext",
    "RegularizerSpec",
    "SuiteSpec",
    "TableKind",
    "__version__",
    "hookimpl",
]
