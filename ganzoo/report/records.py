"""Typed run records: what a report knows about one run, read once from the result store.

Every metric value's name is parsed once into a :class:`MetricName` (protocol, extractor,
truncation, value key); a :class:`RunRecord` holds the run's setting, seed, status, resolved
config, its metric values (best during training and final), the metric series, and what the bench
kept from the run directory when the run ended: images shown (kimg) per step, the singular-value
series and the final sample grid (PNG bytes). No renderer opens a run directory.

Records also come from plain dicts (``RunRecord.from_dict``), the shape the store used to return,
so hand-made records in tests and exported stores read the same way.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable

COUNTED_STATUSES = ("finished", "diverged")
UNFINISHED_STATUSES = ("pending", "running", "interrupted")  # not ended: neither a result nor a failure


@dataclass(frozen=True)
class MetricName:
    """A stored metric value name, parsed.

    ``fid2k@mnist-cnn/fid``: protocol ``fid2k@mnist-cnn`` (metric ``fid2k``, extractor
    ``mnist-cnn``), value key ``fid``. Truncation sweeps store ``fid2k@mnist-cnn~t=0.5/fid``
    (``sweep`` True, ``truncation`` 0.5; ``~t=none`` untruncated), the real data's score
    ``is-data2k@mnist-cnn~data/is_data`` (``data`` True). ``monitor/collapse_step`` is the
    singular-value monitor's pseudo-metric (protocol ``monitor``).
    """

    name: str
    protocol: str
    metric: str
    extractor: str | None
    key: str
    sweep: bool = False
    truncation: float | None = None
    data: bool = False

    @classmethod
    def parse(cls, name: str) -> "MetricName":
        head, _, key = name.rpartition("/")
        if not head:
            head, key = name, ""
        sweep = data = False
        truncation = None
        if "~t=" in head:
            head, _, psi = head.partition("~t=")
            sweep = True
            truncation = None if psi == "none" else float(psi)
        elif head.endswith("~data"):
            head, data = head[: -len("~data")], True
        metric, _, extractor = head.partition("@")
        return cls(name, head, metric, extractor or None, key, sweep, truncation, data)

    @property
    def plain(self) -> bool:
        """A value of the run's own evaluation (not a sweep point, not the data's score)."""
        return not (self.sweep or self.data)

    @property
    def base(self) -> str:
        """The name without the sweep/data part: ``fid2k@mnist-cnn/fid``."""
        return f"{self.protocol}/{self.key}"


@dataclass(frozen=True)
class MetricValue:
    """One metric value of a run: best during training (and its step), final model's, protocol hash."""

    name: MetricName
    protocol_hash: str
    best: float | None = None
    best_step: int | None = None
    final: float | None = None


@dataclass
class RunRecord:
    """One run of a suite at a scale, as the report sees it.

    ``status``: finished | diverged | failed | pending | running. Only finished and diverged runs
    are results (:meth:`value` is None for the others). ``series``: ``(step, metric name, value)``
    at every evaluation; ``kimg``: images shown (thousands) at each logged or evaluated step, as
    the trainer counted them (exact under PGGAN's per-resolution batch sizes); ``sv``: the
    singular-value monitor's records ``{"step", "G": {layer: sigma0}, "D": {...}}``;
    ``samples``: the run's sample-grid file names; ``grid``: the last sample grid as PNG bytes.
    """

    key: str
    setting: dict[str, str]
    seed: int
    status: str
    values: dict[str, MetricValue] = field(default_factory=dict)
    step: int | None = None
    seconds: float | None = None
    error: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    run_dir: str = ""
    series: list[tuple[int, str, float | None]] = field(default_factory=list)
    kimg: dict[int, float] = field(default_factory=dict)
    sv: list[dict[str, Any]] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)
    grid: bytes | None = None

    @property
    def counted(self) -> bool:
        return self.status in COUNTED_STATUSES

    def value(self, name: str | None, which: str = "best") -> float | None:
        """The value this run contributes to a table, or None: finished/diverged runs, non-NaN numbers."""
        if name is None or not self.counted:
            return None
        mv = self.values.get(name)
        v = getattr(mv, which, None) if mv is not None else None
        if v is None:
            return None
        try:
            v = float(v)
        except (TypeError, ValueError):
            return None
        return None if math.isnan(v) else v

    def curve(self, name: str) -> list[tuple[int, float]]:
        """(step, value) of one metric at every evaluation, in step order (non-finite values dropped)."""
        return sorted((s, float(v)) for s, m, v in self.series
                      if m == name and v is not None and math.isfinite(float(v)))

    def kimg_at(self, step: int) -> float | None:
        """Images shown (thousands) at ``step``, as logged; None when the step was never logged."""
        return self.kimg.get(step)

    @property
    def eval_steps(self) -> list[int]:
        """The steps at which metrics were evaluated (the first is the first eval)."""
        return sorted({s for s, _, _ in self.series})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunRecord":
        """A record from the plain-dict shape (``values[name] = {best, best_step, final, protocol_hash}``)."""
        values = {}
        for name, v in (d.get("values") or {}).items():
            values[name] = MetricValue(MetricName.parse(name), str(v.get("protocol_hash", "")), v.get("best"),
                                       v.get("best_step"), v.get("final"))
        cfg = d.get("config") or {}
        if isinstance(cfg, str):
            cfg = json.loads(cfg) if cfg else {}
        return cls(key=str(d.get("key", "")), setting={str(k): str(x) for k, x in (d.get("setting") or {}).items()},
                   seed=int(d.get("seed", 0)), status=str(d.get("status", "pending")), values=values,
                   step=d.get("step"), seconds=d.get("seconds"), error=d.get("error"), config=cfg,
                   run_dir=str(d.get("run_dir") or ""), series=[tuple(x) for x in d.get("series") or []],
                   kimg={int(k): float(v) for k, v in (d.get("kimg") or {}).items()}, sv=list(d.get("sv") or []),
                   samples=list(d.get("samples") or []), grid=d.get("grid"))


def coerce(records: Iterable[RunRecord | dict]) -> list[RunRecord]:
    """Records as :class:`RunRecord` (plain dicts are converted)."""
    return [r if isinstance(r, RunRecord) else RunRecord.from_dict(r) for r in records]


def in_suite_order(suite: Any, records: list[RunRecord]) -> list[RunRecord]:
    """``records`` in the order the suite expands its runs (axes and their values as the file lists
    them, then the seed), whatever order a store holds them in: the rows of a report must not
    depend on which bench, or which ``--from-export``, wrote a run first. Labels the suite does not
    list (a run of an older suite file) keep their order, after the ones it does."""
    ranks = [(a.name, {v.label: i for i, v in enumerate(a.values)}) for a in getattr(suite, "axes", None) or []]

    def key(r: RunRecord) -> tuple:
        return tuple(rank.get(str(r.setting.get(name)), len(rank)) for name, rank in ranks) + (r.seed,)

    return sorted(records, key=key)


def load_records(store: Any, suite: str, scale: str) -> list[RunRecord]:
    """Every run of ``suite`` at ``scale`` from a :class:`ganzoo.store.Store`, with series and artefacts."""
    out = []
    for d in store.records(suite, scale):
        rec = RunRecord.from_dict(d)
        rec.series = [tuple(x) for x in store.series(rec.key)]
        art = store.artifacts(rec.key)
        rec.kimg = {int(k): float(v) for k, v in (art.get("kimg") or {}).items()}
        rec.sv = list(art.get("sv") or [])
        rec.samples = list(art.get("samples") or [])
        rec.grid = art.get("grid")
        out.append(rec)
    return out
