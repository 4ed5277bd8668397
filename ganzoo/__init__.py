"""ganzoo: a plugin-based GAN zoo. The public surface: ``hookimpl`` for plugin authors and the specs."""

from ganzoo.hookspecs import hookimpl
from ganzoo.specs import (
    ArchitectureSpec,
    DataInfo,
    DatasetSpec,
    ExtractorSpec,
    GrowthSchedule,
    LossSpec,
    MetricSpec,
    NoParams,
    Params,
    Phase,
    RegContext,
    RegularizerSpec,
    SuiteSpec,
)

__version__ = "0.1.0"

__all__ = [
    "ArchitectureSpec",
    "DataInfo",
    "DatasetSpec",
    "ExtractorSpec",
    "GrowthSchedule",
    "LossSpec",
    "MetricSpec",
    "NoParams",
    "Params",
    "Phase",
    "RegContext",
    "RegularizerSpec",
    "SuiteSpec",
    "__version__",
    "hookimpl",
]
