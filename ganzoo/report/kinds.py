"""Table and figure kinds: what a plugin's kind returns, and the one protocol check every kind passes.

A suite file names a kind per table (``[[tables]] kind = "best-of"``); plugins register kinds with
``register_tables`` / ``register_figures`` (:class:`ganzoo.specs.TableKind`, ``FigureKind``). A kind
gets the typed run records, its validated spec and a :class:`Context`, and returns :class:`Rows`.

Every metric value a kind shows is looked up through :meth:`Context.metric` (or
:meth:`Context.sweep`). That is where the core enforces, for every kind alike, that

* a value key (``fid``) comes from exactly one protocol in the table's runs (two protocols giving
  ``fid``, e.g. ``fid2k@mnist-cnn`` and ``fid10k@inception-v3-fid``, is an error), and
* that protocol was computed with one protocol hash (a changed sample count or extractor weight
  changes the hash: mixing them is an error),

and it remembers each protocol and hash so that the caption states them. A key no run has is
"not available" (a required one) or a column of dashes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ganzoo.errors import GanzooError
from ganzoo.report.records import RunRecord


class KindSpec(BaseModel):
    """Base of a table kind's spec: ``kind``, ``title`` and extra caption ``notes``; unknown keys are
    errors, and so are coerced types (a float for an int, a bool for a number), as in run configs."""

    model_config = ConfigDict(extra="forbid", strict=True)

    kind: str
    title: str
    notes: list[str] = Field(default_factory=list, description="extra caption lines")


class FigureSpec(BaseModel):
    """Base of a figure kind's spec: ``kind``, ``title``, ``file`` (``<suite>-<file>.png``); strict like
    :class:`KindSpec`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    kind: str
    title: str
    file: str = Field("", description="file name suffix: 'swd' -> <suite>-swd.png ('' -> <suite>.png)")


@dataclass
class Rows:
    """A computed table: column headers, rows of cell strings, caption notes (after the protocol lines)."""

    headers: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)


class NotAvailable(GanzooError):
    """A table (or figure) cannot be made from these runs; rendered as a one-line note."""


class MixedProtocols(GanzooError):
    """A table's cells would come from more than one protocol (or protocol hash)."""


@dataclass
class Context:
    """What a kind may use besides the records: the scale, published numbers, protocol lookup."""

    suite: str
    scale: str
    records: list[RunRecord]
    published: list[dict[str, Any]] = field(default_factory=list)
    used: dict[str, set[str]] = field(default_factory=dict)  # protocol name -> value keys shown
    hashes: dict[str, list[str]] = field(default_factory=dict)  # protocol name -> hash(es) (sweeps: per psi)

    # -- protocol lookup ------------------------------------------------------------------------
    def _why_missing(self, key: str) -> str:
        unfinished = sum(r.status in ("pending", "running") for r in self.records)
        protocols = sorted({v.name.protocol for r in self.records for v in r.values.values() if v.name.plain})
        if unfinished:
            return f"no run has a '{key}' value yet ({unfinished} of {len(self.records)} runs not finished)"
        if not any(r.values for r in self.records):
            return f"no run has a '{key}' value (no run has any metric value)"
        return (f"no protocol computed at this scale gives '{key}' "
                f"(protocols here: {', '.join(protocols) or 'none'})")

    def _check(self, names: Counter, key: str, what: str) -> str:
        if len(names) > 1:
            raise MixedProtocols(f"the runs hold '{key}' from several protocols {sorted(names)}: "
                                 f"a table never mixes protocols{what}")
        return next(iter(names))

    def _one_hash(self, name: str) -> str:
        hashes = {r.values[name].protocol_hash for r in self.records if name in r.values}
        if len(hashes) > 1:
            raise MixedProtocols(f"'{name}' was computed with {len(hashes)} different protocols "
                                 f"{sorted(hashes)}: a table never mixes protocols")
        return hashes.pop()

    def metric(self, key: str, required: bool = True, data: bool = False) -> str | None:
        """The full stored name of value ``key`` (``fid`` -> ``fid2k@mnist-cnn/fid``), checked and noted.

        ``data``: the real data's score stored by a truncation sweep (``...~data/is_data``).
        Missing: :class:`NotAvailable` when ``required``, else None.
        """
        names = Counter(m for r in self.records for m, v in r.values.items()
                        if v.name.key == key and (v.name.data if data else v.name.plain))
        if not names:
            if required:
                raise NotAvailable(self._why_missing(key))
            return None
        name = self._check(names, key, "")
        h = self._one_hash(name)
        mn = next(v.name for r in self.records for m, v in r.values.items() if m == name)
        self.used.setdefault(mn.protocol + ("~data" if data else ""), set()).add(key)
        self.hashes[mn.protocol + ("~data" if data else "")] = [h]
        return name

    def sweep(self, key: str) -> dict[float | None, str]:
        """The truncation-sweep names of value ``key``: ``{psi: name}`` (``None``: untruncated).

        One base protocol per key, one hash per threshold; each threshold's hash goes into the caption.
        """
        names = [m for r in self.records for m, v in r.values.items() if v.name.sweep and v.name.key == key]
        if not names:
            return {}
        from ganzoo.report.records import MetricName

        bases = Counter(MetricName.parse(m).protocol for m in names)
        base = self._check(bases, key, " (truncation sweep)")
        out: dict[float | None, str] = {}
        for m in sorted(set(names)):
            mn = MetricName.parse(m)
            if mn.protocol == base:
                out[mn.truncation] = m
        hashes = []
        for psi, m in sorted(out.items(), key=lambda kv: (kv[0] is not None, kv[0] or 0)):
            hashes.append(f"psi {'none' if psi is None else f'{psi:g}'}: `{self._one_hash(m)}`")
        self.used.setdefault(base + "~t", set()).add(key)
        self.hashes[base + "~t"] = hashes
        return out

    def published_for(self, *, table: str | None = None, metric: str | None = None) -> list[dict[str, Any]]:
        """Published numbers of this suite for a table title, or for a metric key."""
        return [p for p in self.published
                if (table is None or p.get("table") == table) and (metric is None or p.get("metric") == metric)]

    # -- caption --------------------------------------------------------------------------------
    def protocol_lines(self) -> list[str]:
        """One caption line stating every protocol the table used, with its hash."""
        if not self.used:
            return []
        if len(self.used) == 1 and len(next(iter(self.used.values()))) == 1 and not next(iter(self.used)).endswith(("~t", "~data")):
            proto = next(iter(self.used))
            key = next(iter(self.used[proto]))
            return [f"metric protocol `{proto}/{key}` (hash `{self.hashes[proto][0]}`)"]
        parts = []
        for proto in sorted(self.used):
            keys = ", ".join(sorted(self.used[proto]))
            if proto.endswith("~t"):
                parts.append(f"`{proto[:-2]}` truncation sweep ({keys}; hashes {'; '.join(self.hashes[proto])})")
            elif proto.endswith("~data"):
                parts.append(f"`{proto[:-5]}` on the real data ({keys}; hash `{self.hashes[proto][0]}`)")
            else:
                parts.append(f"`{proto}` ({keys}; hash `{self.hashes[proto][0]}`)")
        return ["metric protocols: " + ", ".join(parts)]

    def fresh(self) -> "Context":
        """A context for the next table (same records, nothing used yet)."""
        return Context(self.suite, self.scale, self.records, self.published)
