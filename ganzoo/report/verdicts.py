"""A paper's claims as data, each tested on the store's records with a stated statistic; and run health.

Torch-free: it works on the typed run records of :mod:`ganzoo.report.records` (plain dicts are
converted by :func:`~ganzoo.report.records.coerce`).

A suite file lists the claims it tests (``[[claims]]``) and the rule that turns a statistic into a
verdict (``[verdicts] alpha``). Three tests cover the papers' tables:

* ``paired-sign``: settings that differ only in ``axis`` (``baseline`` vs ``treatment``), each side the
  median over seeds; wins and losses of the treatment, ties dropped; an exact two-sided sign test
  (binomial, p = 1/2). The self-modulation paper's "better in 86% of paired settings". With
  ``healthy = true``, a paired setting is left out when any of its runs, on either side, collapsed
  by the suite's ``[health]`` criterion: the count then compares generators that learned, where the
  plain count also counts which method fails less often.
* ``difference``: two groups of runs (``a`` and ``b``, each a selection of axis labels), compared
  within strata: runs that share their labels on every other axis (``arch = resnet``, ...). The
  statistic is the mean over strata of ``mean(a) - mean(b)`` in the stratum, with a seeded
  percentile bootstrap 95% interval (runs resampled within each stratum and group). A stratum with
  runs of one group only makes the claim ``inconclusive`` (unbalanced): pooling it would compare
  architectures, not the claim's labels. "A larger batch lowers FID", "mb stddev raises mode
  coverage".
* ``trend``: Spearman's rank correlation between a run's position in an ordered axis and its
  value, over all runs, with its two-sided p ("SWD falls from (a) to (g)"). Over truncation
  thresholds ("truncation raises IS"), one Spearman rho per run (its sweep) and an exact sign test
  over runs: the points of one sweep come from one model, so the run is the unit.

The rule, stated in every results file: with ``alpha`` (default 0.05), a test significant in the
paper's direction ``agrees``, significant against it ``disagrees``, anything else is
``inconclusive``; for ``difference``, significant means the 95% interval excludes 0. When the suite's
reference setting did not learn (see :func:`reference_health`), every verdict is ``inconclusive``:
a table of models that never learned cannot refute a paper.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy import stats

from ganzoo.report.records import RunRecord, coerce
from ganzoo.report.stats import sign_test

AGREES, DISAGREES, INCONCLUSIVE = "agrees", "disagrees", "inconclusive"


# -- the suite file's schema --------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Claim(_Strict):
    """One claim of the paper and how it is tested (a ``[[claims]]`` entry of a suite file)."""

    id: str
    claim: str                                  # the paper's claim, in words
    paper: str                                  # the paper's evidence, with where it is
    metric: str                                 # a value key: fid, is, swd_avg, modes, ...
    value: Literal["best", "final"] = "final"   # best during training, or the final model
    test: Literal["paired-sign", "difference", "trend"]
    better: Literal["lower", "higher"] = "lower"  # which way the metric improves
    select: dict[str, str] = Field(default_factory=dict)  # only runs with these axis labels
    # paired-sign
    axis: str | None = None
    baseline: str | None = None
    treatment: str | None = None
    healthy: bool = False  # leave out paired settings with a collapsed run (the suite's [health])
    # difference: the paper says group a is better than group b
    a: dict[str, str] = Field(default_factory=dict)
    b: dict[str, str] = Field(default_factory=dict)
    # trend: the paper says the metric improves along `order` (of `axis`), or, with
    # over = "truncation", as the threshold psi tightens (untruncated counts as the loosest)
    order: list[str] = Field(default_factory=list)
    over: Literal["axis", "truncation"] = "axis"
    direction: Literal["improves", "worsens"] = "improves"

    @model_validator(mode="after")
    def _complete(self) -> "Claim":
        need = {"paired-sign": ("axis", "baseline", "treatment"), "difference": ("a", "b"),
                "trend": ("axis", "order") if self.over == "axis" else ()}[self.test]
        missing = [k for k in need if not getattr(self, k)]
        if missing:
            raise ValueError(f"claim {self.id!r} ({self.test}) needs {', '.join(missing)}")
        if self.healthy and self.test != "paired-sign":
            raise ValueError(f"claim {self.id!r}: healthy = true applies to paired-sign claims only")
        return self


class Criterion(_Strict):
    """One health criterion of the reference setting: a final value bound, or convergence."""

    metric: str
    at_least: float | None = None
    at_most: float | None = None
    converged: bool = False            # best of the last quarter no more than `tolerance` better
    tolerance: float = 0.05            # than the best before it (the metric's direction from `better`)
    better: Literal["lower", "higher"] = "lower"
    # False: measured and shown for every seed, but not part of "learned" (which gates the verdicts);
    # for a criterion the scale's budget cannot meet on this machine class, said so in the suite file.
    required: bool = True


class Health(_Strict):
    """What "learned", "collapsed" and "best at the first evaluation" mean for a suite's runs."""

    collapsed_metric: str | None = None         # e.g. "is": a run whose final value is below...
    collapsed_below: float | None = None        # ...this collapsed (e.g. 2.0; 10 modes)
    first_eval_metric: str | None = None        # a run whose best value of this is at its first eval
    first_eval_better: Literal["lower", "higher"] = "lower"
    reference: dict[str, str] = Field(default_factory=dict)   # the reference setting (axis labels)
    criteria: list[Criterion] = Field(default_factory=list)


class VerdictRule(_Strict):
    alpha: float = 0.05
    bootstrap: int = 10_000
    seed: int = 0


# -- reading values ---------------------------------------------------------------------------------
def metric_name(record: RunRecord, key: str) -> str | None:
    """The record's metric name giving value ``key`` (sweep and real-data entries excluded)."""
    names = [m for m, v in record.values.items() if v.name.plain and v.name.key == key]
    return names[0] if len(names) == 1 else None


def run_value(record: RunRecord, key: str, value: str = "final") -> float | None:
    """A counted run's value of ``key`` (None when absent, NaN, or the run did not finish)."""
    return record.value(metric_name(record, key), value)


def _matches(record: RunRecord, select: dict[str, str]) -> bool:
    return all(record.setting.get(k) == v for k, v in select.items())


def _series(record: RunRecord, key: str) -> list[tuple[int, float]]:
    name = metric_name(record, key)
    return record.curve(name) if name else []


# -- the statistics -----------------------------------------------------------------------------------
def bootstrap_diff(a: list[float], b: list[float], n: int = 10_000, seed: int = 0,
                   level: float = 0.95) -> tuple[float, float, float]:
    """mean(a) - mean(b) and its percentile bootstrap interval (each group resampled on its own)."""
    return stratified_diff([(a, b)], n, seed, level)


def stratified_diff(strata: list[tuple[list[float], list[float]]], n: int = 10_000, seed: int = 0,
                    level: float = 0.95) -> tuple[float, float, float]:
    """The mean over strata of mean(a) - mean(b), and its percentile bootstrap interval.

    Each (stratum, group) cell is resampled on its own, so the strata keep their weights; with one
    stratum this is the plain two-group bootstrap of :func:`bootstrap_diff`.
    """
    rng = random.Random(seed)

    def diff(pick) -> float:
        return statistics.fmean(statistics.fmean(pick(a)) - statistics.fmean(pick(b)) for a, b in strata)

    diffs = sorted(diff(lambda xs: rng.choices(xs, k=len(xs))) for _ in range(n))
    lo = diffs[int(math.floor((1 - level) / 2 * (n - 1)))]
    hi = diffs[int(math.ceil((1 + level) / 2 * (n - 1)))]
    return diff(lambda xs: xs), lo, hi


def trend_test(x: list[float], y: list[float]) -> tuple[float | None, float | None]:
    """Spearman's rho of y against x and its two-sided p (None when y or x is constant)."""
    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return None, None
    res = stats.spearmanr(x, y)
    return float(res.statistic), float(res.pvalue)


# -- verdicts -------------------------------------------------------------------------------------------
@dataclass
class Verdict:
    claim: Claim
    ours: str                 # what our runs show, in words
    statistic: str            # the statistic and its p or interval
    verdict: str              # agrees / disagrees / inconclusive
    n: int = 0                # settings or runs the statistic rests on
    detail: dict[str, Any] = field(default_factory=dict)
    enough: bool = True       # False: too few runs for the statistic (inconclusive for want of data)


def _rule(significant: bool, paper_direction: bool) -> str:
    if not significant:
        return INCONCLUSIVE
    return AGREES if paper_direction else DISAGREES


def _fmt(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}g}" if abs(x) < 1e4 else f"{x:.3e}"


def _paired(claim: Claim, records: list[RunRecord], rule: VerdictRule, sources: dict[str, str],
            health: Health | None = None) -> Verdict:
    if claim.healthy and (health is None or not health.collapsed_metric or health.collapsed_below is None):
        raise ValueError(f"claim {claim.id!r}: healthy = true needs the suite's [health] collapsed_metric "
                         "and collapsed_below")
    groups: dict[tuple, dict[str, list[float]]] = {}
    collapsed: set[tuple] = set()  # paired settings with a collapsed run (healthy claims leave them out)
    compared = _compared([claim.axis], sources)
    for r in records:
        s = r.setting
        side = s.get(claim.axis)
        v = run_value(r, claim.metric, claim.value)
        if side not in (claim.baseline, claim.treatment) or v is None:
            continue
        stratum = _stratum(r, compared)
        groups.setdefault(stratum, {}).setdefault(side, []).append(v)
        if claim.healthy and run_health(r, health).collapsed:
            collapsed.add(stratum)
    wins = losses = ties = left_out = 0
    for stratum, sides in groups.items():
        if claim.baseline not in sides or claim.treatment not in sides:
            continue
        if stratum in collapsed:
            left_out += 1
            continue
        t, b = statistics.median(sides[claim.treatment]), statistics.median(sides[claim.baseline])
        better = t < b if claim.better == "lower" else t > b
        if t == b:
            ties += 1
        elif better:
            wins += 1
        else:
            losses += 1
    n = wins + losses
    p = sign_test(wins, losses)
    ours = (f"{claim.treatment} better in {wins} of {n + ties} paired settings"
            + (f" ({100 * wins / n:.0f}% of the untied)" if n else "") + (f", {ties} tied" if ties else "")
            + (f"; {left_out} paired settings with a collapsed run left out" if claim.healthy else ""))
    if p is None:
        return Verdict(claim, ours, "no paired settings", INCONCLUSIVE, 0, enough=False)
    return Verdict(claim, ours, f"sign test p = {p:.3g}", _rule(p < rule.alpha, wins > losses), n,
                   {"wins": wins, "losses": losses, "ties": ties, "p": p, "left_out": left_out})


def _source(name: str, sources: dict[str, str]) -> str:
    """The axis a setting name comes from: itself for an axis, ``arch`` for ``arch.group``, a tag's axis."""
    return sources.get(name, name.split(".", 1)[0])


def _compared(names: Iterable[str], sources: dict[str, str]) -> set[str]:
    """The setting names a comparison of ``names`` lets differ: the names, and the labels they come from.

    Naming an axis (or its group) lets its labels, group and tags differ. Naming a tag lets its axis's
    label and group differ too, but keeps the axis's other tags as strata: a claim on ``method`` over
    variants tagged ``method`` and ``conditioning`` compares within each conditioning.
    """
    out: set[str] = set()
    for name in names:
        src = _source(name, sources)
        out |= {name, src, f"{src}.group"}
        if name in (src, f"{src}.group"):
            out |= {k for k, v in sources.items() if v == src}
    return out


def _stratum(record: RunRecord, compared: set[str]) -> tuple:
    """The record's labels on every setting name the comparison holds fixed."""
    return tuple(sorted((k, v) for k, v in record.setting.items() if k not in compared))


def _difference(claim: Claim, records: list[RunRecord], rule: VerdictRule,
                sources: dict[str, str]) -> Verdict:
    compared = _compared((*claim.a, *claim.b), sources)
    cells: dict[tuple, tuple[list[float], list[float]]] = {}
    for r in records:
        v = run_value(r, claim.metric, claim.value)
        if v is None:
            continue
        for side, select in enumerate((claim.a, claim.b)):
            if _matches(r, select):
                cells.setdefault(_stratum(r, compared), ([], []))[side].append(v)
    name_a = ", ".join(claim.a.values())
    name_b = ", ".join(claim.b.values())
    n_a, n_b = (sum(len(c[i]) for c in cells.values()) for i in (0, 1))
    lopsided = [(s, c) for s, c in sorted(cells.items()) if not (c[0] and c[1])]
    if lopsided:
        parts = []
        for i, (s, (a, b)) in enumerate(lopsided):  # the group names once, on the first stratum
            first, second = (f" {name_a}", f" {name_b} runs") if i == 0 else ("", "")
            where = " in " + ", ".join(f"{k} {v}" for k, v in s) if s else ""
            parts.append(f"{len(a)}{first} vs {len(b)}{second}{where}")
        return Verdict(claim, "unbalanced: " + "; ".join(parts), "needs both groups in every stratum",
                       INCONCLUSIVE, n_a + n_b, enough=False)
    if n_a < 3 or n_b < 3:  # fewer resamples than that give an interval in name only
        return Verdict(claim, f"{n_a} and {n_b} runs with a value", "needs 3 runs per group",
                       INCONCLUSIVE, n_a + n_b, enough=False)
    strata = [cells[s] for s in sorted(cells)]
    d, lo, hi = stratified_diff(strata, rule.bootstrap, rule.seed, 1 - rule.alpha)
    mean_a = statistics.fmean(statistics.fmean(a) for a, _ in strata)
    mean_b = statistics.fmean(statistics.fmean(b) for _, b in strata)
    ours = (f"{claim.metric} {_fmt(mean_a)} ({name_a}, {n_a} runs) vs "
            f"{_fmt(mean_b)} ({name_b}, {n_b} runs)")
    if len(strata) > 1:
        ours += "; the mean of the differences in " + "; ".join(
            ", ".join(f"{k} {v}" for k, v in s) + f" ({statistics.fmean(a) - statistics.fmean(b):+.3g})"
            for s, (a, b) in sorted(cells.items()))
    significant = lo > 0 or hi < 0
    paper_direction = (hi < 0) if claim.better == "lower" else (lo > 0)
    level = round(100 * (1 - rule.alpha))
    return Verdict(claim, ours, f"difference {_fmt(d)}, {level}% bootstrap CI [{_fmt(lo)}, {_fmt(hi)}]",
                   _rule(significant, paper_direction), n_a + n_b,
                   {"diff": d, "lo": lo, "hi": hi, "strata": len(strata)})


def _truncation_points(record: RunRecord, key: str) -> list[tuple[float, float]]:
    """(psi, final value) of a run's truncation sweep; untruncated (psi none) as +inf."""
    out = []
    if record.status != "finished":
        return out
    for v in record.values.values():
        if not v.name.sweep or v.name.key != key or v.final is None or math.isnan(float(v.final)):
            continue
        out.append((math.inf if v.name.truncation is None else v.name.truncation, float(v.final)))
    return out


def _trend(claim: Claim, records: list[RunRecord], rule: VerdictRule, sources: dict[str, str]) -> Verdict:
    xs, ys = [], []
    if claim.over == "axis":
        rank = {label: i for i, label in enumerate(claim.order)}
        for r in records:
            label = r.setting.get(claim.axis)
            v = run_value(r, claim.metric, claim.value)
            if label in rank and v is not None:
                xs.append(rank[label])
                ys.append(v)
        along = f"along {claim.axis}: " + " -> ".join(claim.order)
    else:
        return _truncation_trend(claim, records, rule)
    rho, p = trend_test(xs, ys)
    if rho is None:
        return Verdict(claim, f"{len(ys)} values {along}", "too few distinct values", INCONCLUSIVE, len(ys), enough=False)
    # rho > 0: the metric grows along the order. The paper's direction:
    grows = (claim.better == "higher") == (claim.direction == "improves")
    ours = f"{claim.metric} {'rises' if rho > 0 else 'falls'} {along} ({len(ys)} values)"
    return Verdict(claim, ours, f"Spearman rho = {rho:+.2f}, p = {p:.3g}",
                   _rule(p < rule.alpha, (rho > 0) == grows), len(ys), {"rho": rho, "p": p})


def _truncation_trend(claim: Claim, records: list[RunRecord], rule: VerdictRule) -> Verdict:
    """Per run, Spearman's rho of the value against tightness (untruncated loosest); across runs,
    an exact sign test on the direction. The points of one sweep come from one model and are not
    independent draws: the run is the unit of replication, as in the paired test."""
    along = "as the truncation threshold tightens"
    rhos = []
    for r in records:
        points = _truncation_points(r, claim.metric)
        rho, _ = trend_test([-psi if psi != math.inf else -1e9 for psi, _ in points], [v for _, v in points])
        if rho is not None:
            rhos.append(rho)
    grows = (claim.better == "higher") == (claim.direction == "improves")
    with_paper = sum(1 for rho in rhos if (rho > 0) == grows and rho != 0)
    against = sum(1 for rho in rhos if (rho > 0) != grows and rho != 0)
    p = sign_test(with_paper, against)
    if p is None:
        return Verdict(claim, f"{len(rhos)} runs with a sweep {along}", "no run with a trend", INCONCLUSIVE, 0, enough=False)
    median = statistics.median(rhos)
    ours = (f"{claim.metric} {'rises' if median > 0 else 'falls'} {along} (median per-run rho "
            f"{median:+.2f}; in the paper's direction in {with_paper} of {len(rhos)} runs)")
    return Verdict(claim, ours, f"sign test over runs p = {p:.3g}", _rule(p < rule.alpha, with_paper > against),
                   len(rhos), {"rho": median, "p": p, "wins": with_paper, "losses": against})


TESTS = {"paired-sign": _paired, "difference": _difference, "trend": _trend}


def setting_sources(axes: Iterable[Any]) -> dict[str, str]:
    """Every setting name of a suite's axes -> the axis it comes from (an axis, its group, its tags).

    A tag (``conditioning = "p-cgan"`` on a ``variant`` value) is a label of its axis, not an axis
    of its own: runs that differ in ``variant`` differ in its tags too, so a comparison of two
    variants must not also ask their tags to match.
    """
    out: dict[str, str] = {}
    for axis in axes:
        out[axis.name] = out[f"{axis.name}.group"] = axis.name
        for value in axis.values:
            for tag in value.tags:
                out.setdefault(tag, axis.name)
    return out


def verdicts(claims: Iterable[Claim], records: Iterable[RunRecord | dict], rule: VerdictRule = VerdictRule(),
             reference_learned: bool | None = True, sources: dict[str, str] | None = None,
             health: Health | None = None) -> list[Verdict]:
    """Every claim's verdict on the records; all ``inconclusive`` when the reference did not learn.

    ``sources`` (from :func:`setting_sources`) says which axis each setting name comes from; without
    it, ``x.group`` comes from ``x`` and every other name is an axis of its own. ``health`` (the
    suite's) says which runs collapsed, for paired claims with ``healthy = true``.
    """
    records = coerce(records)
    sources = sources or {}
    out = []
    for c in claims:
        extra = {"health": health} if c.test == "paired-sign" else {}
        v = TESTS[c.test](c, [r for r in records if _matches(r, c.select)], rule, sources, **extra)
        if reference_learned is None:  # no finished run of the reference yet: nothing is tested
            v.enough = False
        if not reference_learned and v.verdict != INCONCLUSIVE:
            v.detail["computed"] = v.verdict
            v.verdict = INCONCLUSIVE
            v.statistic += (" (reference setting not finished yet)" if reference_learned is None
                            else " (reference setting did not learn)")
        out.append(v)
    return out


# -- health --------------------------------------------------------------------------------------------
@dataclass
class RunHealth:
    collapsed: bool
    best_at_first_eval: bool
    diverged: bool


def run_health(record: RunRecord, health: Health) -> RunHealth:
    collapsed = False
    if health.collapsed_metric and health.collapsed_below is not None:
        v = run_value(record, health.collapsed_metric, "final")
        collapsed = v is not None and v < health.collapsed_below
    first = False
    if health.first_eval_metric:
        pts = _series(record, health.first_eval_metric)
        if len(pts) > 1:
            pick = min if health.first_eval_better == "lower" else max
            first = pick(pts, key=lambda p: p[1])[0] == pts[0][0]
    return RunHealth(collapsed, first, record.status == "diverged")


@dataclass
class HealthCounts:
    runs: int = 0
    collapsed: int = 0
    best_at_first_eval: int = 0
    diverged: int = 0

    def add(self, h: RunHealth) -> None:
        self.runs += 1
        self.collapsed += h.collapsed
        self.best_at_first_eval += h.best_at_first_eval
        self.diverged += h.diverged

    def text(self) -> str:
        return f"{self.collapsed} / {self.best_at_first_eval} / {self.diverged} of {self.runs}"


def health_counts(records: Iterable[RunRecord | dict], health: Health) -> HealthCounts:
    counts = HealthCounts()
    for r in coerce(records):
        if r.counted:
            counts.add(run_health(r, health))
    return counts


def converged(record: RunRecord, c: Criterion, g_steps: int) -> bool | None:
    """Best of the last quarter of training no more than ``tolerance`` better than the best before it."""
    pts = _series(record, c.metric)
    late = [v for s, v in pts if s > 0.75 * g_steps]
    early = [v for s, v in pts if s <= 0.75 * g_steps]
    if not late or not early:
        return None
    if c.better == "lower":
        return min(late) >= (1 - c.tolerance) * min(early)
    return max(late) <= (1 + c.tolerance) * max(early)


@dataclass
class ReferenceCheck:
    seed: int
    checks: list[tuple[str, bool | None, str]]  # (criterion, passed, what we measured)
    optional: frozenset[str] = frozenset()      # criteria shown but not required (Criterion.required)

    @property
    def passed(self) -> bool:
        return all(ok for name, ok, _ in self.checks if name not in self.optional)


def reference_health(records: Iterable[RunRecord | dict], health: Health) -> list[ReferenceCheck]:
    """Every seed of the reference setting against the suite's criteria (unfinished seeds fail)."""
    out = []
    for r in sorted((r for r in coerce(records) if health.reference and _matches(r, health.reference)),
                    key=lambda r: r.seed):
        g_steps = int((r.config.get("train") or {}).get("g_steps") or r.step or 0)
        checks, optional = [], set()
        for c in health.criteria:
            note = "" if c.required else " (shown, not required)"
            if c.converged:
                ok = converged(r, c, g_steps)
                pts = _series(r, c.metric)
                best = (min if c.better == "lower" else max)((v for _, v in pts), default=None)
                late = [v for s, v in pts if s > 0.75 * g_steps]
                early = [v for s, v in pts if s <= 0.75 * g_steps]
                pick = min if c.better == "lower" else max
                what = (f"best {_fmt(pick(early))} before, {_fmt(pick(late))} in the last quarter" if late and early
                        else f"best {_fmt(best)}" if best is not None else "no series")
                name = f"{c.metric} converged (last quarter within {c.tolerance:.0%}){note}"
                checks.append((name, ok, what))
            else:
                v = run_value(r, c.metric, "final")
                ok = v is not None and (c.at_least is None or v >= c.at_least) and (c.at_most is None or v <= c.at_most)
                bound = f">= {c.at_least:g}" if c.at_least is not None else f"<= {c.at_most:g}"
                name = f"final {c.metric} {bound}{note}"
                checks.append((name, ok, _fmt(v) if v is not None else "none"))
            if not c.required:
                optional.add(name)
        checks.insert(0, ("run finished", r.status == "finished", r.status))
        out.append(ReferenceCheck(r.seed, checks, frozenset(optional)))
    return out
