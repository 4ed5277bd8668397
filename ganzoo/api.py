"""Everything a plugin may import from ganzoo, in one place; the rest of ``ganzoo.*`` is private.

A plugin returns specs from its hooks (``hookimpl``, the ``*Spec`` records, ``Params``), works on
the data and metric types the core hands it (``DataRequest``, ``ImageData``, ``MetricContext``,
``ExtractorRequest``, ``RegContext``), raises the core's user errors, and may use a few helpers
(resizing, splits, checked downloads, atomic writes). ``tests/test_api.py`` fails if a built-in
plugin imports anything else, so these names are the contract that core refactors keep.
"""

from ganzoo import (
    ArchitectureSpec,
    CommandSpec,
    FigureKind,
    TableKind,
    DataInfo,
    DatasetSpec,
    ExtractorSpec,
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
    hookimpl,
)
from ganzoo.checkpoint import atomic_write_bytes, atomic_write_text
from ganzoo.data import DataRequest, ImageData, resize_uint8, split_indices
from ganzoo.download import DOWNLOAD_ERRORS, download_checked, file_hash
from ganzoo.errors import CheckpointError, ConfigError, DatasetUnavailable, GanzooError, PluginError, user_errors
from ganzoo.metrics import ExtractorRequest, MetricContext
from ganzoo.registry import load_registry

__all__ = [
    "DOWNLOAD_ERRORS", "ArchitectureSpec", "CommandSpec", "FigureKind", "TableKind", "CheckpointError", "ConfigError", "DataInfo", "DataRequest",
    "DatasetSpec", "DatasetUnavailable", "ExtractorRequest", "ExtractorSpec", "GanzooError", "Growing",
    "GrowthSchedule", "ImageData", "LossSpec", "MetricContext", "MetricSpec", "NoParams", "Params",
    "Phase", "PluginError", "RegContext", "RegularizerSpec", "SuiteSpec", "atomic_write_bytes",
    "atomic_write_text", "download_checked", "file_hash", "hookimpl", "load_registry", "resize_uint8",
    "split_indices", "user_errors",
]
