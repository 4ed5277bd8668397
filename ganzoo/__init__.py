"""ganzoo: a plugin-based GAN zoo. The public surface: ``hookimpl`` for plugin authors and the specs."""

from ganzoo.hookspecs import hookimpl
from ganzoo.specs import (
    ArchitectureSpec,
    CommandSpec,
    DataInfo,
    DatasetSpec,
    ExtractorSpec,
    FigureKind,
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
