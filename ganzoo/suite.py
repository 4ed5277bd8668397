"""Benchmark suite files: a base run config, axes, seeds, named scales, tables and the paper's numbers.

A suite expands into a grid of runs: base config, then one value of every axis (each value a label
plus ``--set``-style overrides), then the scale's overrides, then the command line's. Each run is
keyed by the hash of its resolved config, so the same run in two suites or two invocations is the
same run. Suites are TOML files registered by plugins (``register_suites``) or given by path.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ganzoo.config import (
    RunConfig,
    apply_overrides,
    format_validation_error,
    read_config_file,
    resolve,
)
from ganzoo.config import Strict as _Strict
from ganzoo.errors import ConfigError
from ganzoo.report.verdicts import Claim, Health, VerdictRule


class AxisValue(_Strict):
    label: str
    group: str | None = Field(None, description="a coarser label tables can group by (axis.group)")
    set: dict[str, Any] = Field(default_factory=dict, description="KEY.PATH -> value overrides")
    tags: dict[str, str] = Field(default_factory=dict,
                                 description="extra labels tables can use as rows/columns, e.g. "
                                             "{conditioning = 'p-cgan', method = 'selfmod'}")


class Axis(_Strict):
    name: str
    values: list[AxisValue] = Field(min_length=1)


class Scale(_Strict):
    description: str = ""
    seeds: list[int] = Field(min_length=1)
    set: dict[str, Any] = Field(default_factory=dict)
    select: dict[str, list[str]] = Field(default_factory=dict, description="axis -> labels to keep")
    by: dict[str, dict[str, dict[str, Any]]] = Field(
        default_factory=dict, description="axis -> label -> overrides applied after 'set' at this scale "
        "(e.g. G steps per row so that every row sees the same number of images)")
    sweep: dict[str, Any] = Field(default_factory=dict, description="overrides of the suite's [sweep] at this scale")
    minutes_per_run: float | None = Field(None, description="measured wall time of one run here")
    workers: int = Field(1, ge=1, description="the process-pool size the estimate assumes")


class TableSpec(BaseModel):
    """A ``[[tables]]`` entry: ``kind`` names a registered table kind (``register_tables``), whose own
    pydantic spec validates the other fields when the report is made (``ganzoo.report.validate_kinds``)."""

    model_config = ConfigDict(extra="allow")

    kind: str
    title: str


class PaperValue(_Strict):
    table: str
    row: dict[str, str] | str
    column: str
    value: float | None = None
    std: float | None = None
    text: str | None = Field(None, description="the published cell as printed, when it is not one number")
    dataset: str
    metric: str = "fid"
    cite: str


class Sweep(_Strict):
    """Evaluations of each finished run's final G at several truncation thresholds (BigGAN Table 2)."""

    truncation: list[float] = Field(min_length=1, description="thresholds psi (|z_i| <= psi)")
    untruncated: bool = Field(True, description="also evaluate without truncation")
    metrics: list[str] = Field(min_length=1, description="protocols, e.g. ['fid2k', 'is2k']")
    data_metric: str | None = Field(None, description="a protocol scoring the real data, e.g. 'is-data2k'")
    bn: Literal["running", "standing"] = "standing"


class PlotSpec(BaseModel):
    """A ``[[plots]]`` entry: ``kind`` names a registered figure kind (``register_figures``), whose
    spec validates the other fields; ``file`` gives the PNG's name (``<suite>-<file>.png``)."""

    model_config = ConfigDict(extra="allow")

    kind: str
    title: str
    file: str = ""


class Suite(_Strict):
    name: str
    title: str
    paper: str
    description: str = ""
    base: dict[str, Any]
    axes: list[Axis] = Field(default_factory=list)
    scales: dict[str, Scale]
    tables: list[TableSpec] = Field(default_factory=list)
    published: list[PaperValue] = Field(default_factory=list)
    plots: list[PlotSpec] = Field(default_factory=list)
    sweep: Sweep | None = None
    claims: list[Claim] = Field(default_factory=list, description="the paper's claims this suite tests")
    health: Health = Field(default_factory=Health, description="collapse, first-eval and reference criteria")
    verdicts: VerdictRule = Field(default_factory=VerdictRule, description="the rule from statistic to verdict")
    reference_metrics: list[str] = Field(
        default_factory=list, description="protocols evaluated on real images for the real-data reference "
        "(default: the scale's eval metrics)")

    def scale(self, name: str) -> Scale:
        if name not in self.scales:
            raise ConfigError(f"--scale: suite {self.name!r} has no scale {name!r}; "
                              f"available: {', '.join(self.scales)}")
        return self.scales[name]


@dataclass
class RunSpec:
    """One run of an expanded suite."""

    setting: dict[str, str]  # axis -> label (and "<axis>.group" -> group)
    seed: int
    config: RunConfig
    key: str = field(init=False)

    def __post_init__(self) -> None:
        self.key = self.config.hash()


def load_suite(path: str | Path) -> Suite:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"suite file not found: {path}")
    raw = read_config_file(path)
    try:
        suite = Suite.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {format_validation_error(exc)}") from None
    names = [a.name for a in suite.axes]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: axis names repeat: {names}")
    check_references(suite, path)
    return suite


def setting_names(suite: Suite) -> dict[str, set[str]]:
    """Every name a table or plot can group by (axes, ``<axis>.group``, value tags) -> its labels."""
    names: dict[str, set[str]] = {}
    for axis in suite.axes:
        names[axis.name] = {v.label for v in axis.values}
        groups = {v.group for v in axis.values if v.group is not None}
        if groups:
            names[f"{axis.name}.group"] = groups
        for v in axis.values:
            for tag, label in v.tags.items():
                names.setdefault(tag, set()).add(label)
    return names


def check_references(suite: Suite, where: str | Path) -> None:
    """Tables and plots may only name axes (or groups, tags) and labels that the suite has.

    Checked when the suite is loaded, so a misspelt ``rows = ["archh"]`` fails before any training
    (and under ``--dry-run``), not after every run of the suite. Only the fields a table or plot
    sets are checked (an unset ``columns`` default applies only to the kinds that use it).
    """
    names = setting_names(suite)
    known = ", ".join(sorted(names)) or "(none)"

    def axis(name: str, field_path: str) -> None:
        if name not in names:
            raise ConfigError(f"{where}: {field_path}: unknown axis {name!r}; the suite's axes, groups "
                              f"and tags are: {known}")

    def label(axis_name: str, value: str, field_path: str) -> None:
        if axis_name in names and value not in names[axis_name]:
            raise ConfigError(f"{where}: {field_path}: {axis_name!r} has no label {value!r}; its labels "
                              f"are: {', '.join(sorted(names[axis_name]))}")

    for kind, specs in (("tables", suite.tables), ("plots", suite.plots)):
        for i, spec in enumerate(specs):
            at = f"{kind}.{i} ({spec.title!r})"
            d = spec.model_dump()  # open models: a kind's own fields are extra keys here
            for j, row in enumerate(d.get("rows") or []):
                axis(row, f"{at}.rows.{j}")
            columns = d.get("columns") or ""
            if columns:
                axis(columns, f"{at}.columns")
            for j, name in enumerate(d.get("minimize_over") or []):
                axis(name, f"{at}.minimize_over.{j}")
            for name, labels in (d.get("select") or {}).items():
                axis(name, f"{at}.select")
                for value in labels:
                    label(name, value, f"{at}.select.{name}")
            # baseline/treatment/column_order are labels of the columns axis ("method" by default)
            by = columns or ("method" if "method" in names else "")
            for fld in ("baseline", "treatment"):
                if fld in d and by:
                    label(by, d[fld], f"{at}.{fld}")
            for value in d.get("column_order") or []:
                label(by, value, f"{at}.column_order")
    for name, labels in {k: v for sc in suite.scales.values() for k, v in sc.select.items()}.items():
        axis(name, "scales.*.select")
    for i, c in enumerate(suite.claims):  # the claims and the reference setting name axes and labels too
        for sel, fld in ((c.select, "select"), (c.a, "a"), (c.b, "b")):
            for name, value in sel.items():
                axis(name, f"claims.{i} ({c.id}).{fld}")
                label(name, value, f"claims.{i} ({c.id}).{fld}")
        if c.healthy and (not suite.health.collapsed_metric or suite.health.collapsed_below is None):
            raise ConfigError(f"{where}: claims.{i} ({c.id}).healthy: needs [health] collapsed_metric and "
                              "collapsed_below (which runs collapsed)")
        if c.test == "paired-sign":
            axis(c.axis, f"claims.{i} ({c.id}).axis")
            label(c.axis, c.baseline, f"claims.{i} ({c.id}).baseline")
            label(c.axis, c.treatment, f"claims.{i} ({c.id}).treatment")
        if c.test == "trend" and c.over == "axis":
            axis(c.axis, f"claims.{i} ({c.id}).axis")
            for value in c.order:
                label(c.axis, value, f"claims.{i} ({c.id}).order")
    for name, value in suite.health.reference.items():
        axis(name, "health.reference")
        label(name, value, "health.reference")


def find_suite(name: str, registry: Any) -> Suite:
    """A suite by registered name, or by path to a TOML file."""
    if name.endswith(".toml") or "/" in name:
        return load_suite(name)
    return load_suite(registry.get("suites", name, where="--suite").path)


def expand(suite: Suite, scale_name: str, registry: Any, extra_set: dict[str, Any] | None = None,
           seeds: list[int] | None = None, only: dict[str, list[str]] | None = None) -> list[RunSpec]:
    """Every run of ``suite`` at ``scale_name``: the product of the (selected) axis values and seeds."""
    scale = suite.scale(scale_name)
    unknown = set(only or {}) - {a.name for a in suite.axes}
    if unknown:
        raise ConfigError(f"{suite.name}: no axis {sorted(unknown)}; axes: {', '.join(a.name for a in suite.axes)}")
    select = dict(scale.select)
    for axis_name, labels in (only or {}).items():  # --only narrows the scale's selection, never widens it
        outside = [x for x in labels if axis_name in select and x not in select[axis_name]]
        if outside:
            raise ConfigError(f"{suite.name}: scale {scale_name!r} does not run {axis_name} = {outside}")
        select[axis_name] = list(labels)
    axes = []
    for axis in suite.axes:
        keep = select.get(axis.name)
        values = [v for v in axis.values if keep is None or v.label in keep]
        if keep is not None:
            missing = set(keep) - {v.label for v in axis.values}
            if missing:
                raise ConfigError(f"{suite.name}: axis {axis.name!r} has no value(s) {sorted(missing)}")
        axes.append((axis.name, values))
    runs = []
    for combo in itertools.product(*(values for _, values in axes)):
        setting: dict[str, str] = {}
        overrides: dict[str, Any] = {}
        for (axis_name, _), value in zip(axes, combo):
            setting[axis_name] = value.label
            if value.group is not None:
                setting[f"{axis_name}.group"] = value.group
            setting.update(value.tags)
            overrides.update(value.set)
        overrides.update(scale.set)
        for axis_name, label in list(setting.items()):
            overrides.update(scale.by.get(axis_name, {}).get(label, {}))
        overrides.update(extra_set or {})
        for seed in seeds or scale.seeds:
            sets = [f"{k}={_toml(v)}" for k, v in {**overrides, "train.seed": seed}.items()]
            raw = apply_overrides(suite.base, sets)
            raw["name"] = f"{suite.name}-" + "-".join(setting[a] for a, _ in axes) + f"-s{seed}"
            try:
                cfg = resolve(raw, registry)
            except ConfigError as exc:
                raise ConfigError(f"suite {suite.name!r}, run {raw['name']}: {exc}") from None
            runs.append(RunSpec(setting, seed, cfg))
    return runs


def _toml(value: Any) -> str:
    """A Python value back as a TOML value string for apply_overrides (never evaluated)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{k}" = {_toml(v)}' for k, v in value.items()) + "}"
    raise ConfigError(f"cannot use {value!r} as a config value")
