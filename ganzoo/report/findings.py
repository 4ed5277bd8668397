"""What a suite's runs say, before any table: did the reference learn, how healthy are the runs, what
do real images score, and what is each paper claim's verdict.

Computed from the records, the suite's ``[health]``, ``[[claims]]`` and ``[verdicts]``, and the real-data
reference values the bench stored; rendered first in ``results/<suite>.md`` and its HTML page.
Torch-free.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ganzoo.report.kinds import Rows
from ganzoo.report.records import UNFINISHED_STATUSES, RunRecord
from ganzoo.report.verdicts import (AGREES, DISAGREES, INCONCLUSIVE, Verdict, health_counts, reference_health,
                                    setting_sources, verdicts)


def _fmt(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:.4g}"


def _group_axes(suite: Any) -> list[str]:
    """Health is counted per row of the suite's first table (its rows and columns axes)."""
    for t in suite.tables:
        d = t.model_dump()
        rows = list(d.get("rows") or [])
        col = d.get("columns")
        if rows:
            return rows + ([col] if isinstance(col, str) and col and col not in rows else [])
    return [a.name for a in suite.axes]


def reference_rows(suite: Any, records: list[RunRecord]) -> tuple[Rows | None, bool | None]:
    """Per seed of the reference setting, each criterion and what we measured; and whether it learned
    (None: no seed's run has ended yet). Seeds still pending, running or interrupted (a partial
    suite) are shown but not judged: an unfinished run has not failed to learn."""
    h = suite.health
    if not h.reference:
        return None, True
    checks = reference_health(records, h)
    if not checks:
        return Rows(["seed", "learned"], [["—", "no run of the reference setting"]]), None
    names = [name for name, _, _ in max(checks, key=lambda c: len(c.checks)).checks]
    body, ended = [], []
    for c in checks:
        got = {name: (ok, what) for name, ok, what in c.checks}
        waiting = got["run finished"][1] in UNFINISHED_STATUSES
        if not waiting:
            ended.append(c.passed)
        body.append([str(c.seed)] + [("yes: " if got[n][0] else "no: ") + got[n][1] if n in got else "—"
                                     for n in names]
                    + ["not finished yet" if waiting else "yes" if c.passed else "**no**"])
    return Rows(["seed", *names, "learned"], body), (all(ended) if ended else None)


def health_rows(suite: Any, records: list[RunRecord]) -> tuple[Rows, Counter]:
    axes = _group_axes(suite)
    groups: dict[tuple[str, ...], list[RunRecord]] = {}
    for r in records:
        groups.setdefault(tuple(r.setting.get(a, "—") for a in axes), []).append(r)
    total: Counter = Counter()
    body = []
    for key, recs in groups.items():
        c = health_counts(recs, suite.health)
        total.update(runs=c.runs, collapsed=c.collapsed, first=c.best_at_first_eval, diverged=c.diverged,
                     unfinished=len(recs) - c.runs)
        body.append([*key, str(c.runs), str(c.collapsed), str(c.best_at_first_eval), str(c.diverged),
                     str(len(recs) - c.runs)])
    return Rows([*axes, "runs with results", "collapsed", "best at first eval", "diverged", "not finished"],
                body), total


def health_caption(suite: Any) -> list[str]:
    h = suite.health
    out = []
    if h.collapsed_metric:
        out.append(f"collapsed: final {h.collapsed_metric} below {h.collapsed_below:g}")
    if h.first_eval_metric:
        out.append(f"best at first eval: the run's best {h.first_eval_metric} is at its first evaluation "
                   "(it never improved on it)")
    out.append("diverged: a non-finite loss ended the run (its values are from before)")
    return out


WAITING = "waiting for runs"


def verdict_word(v: Verdict, partial: bool) -> str:
    """The verdict as the tables print it. In a partial suite, a claim without the runs its
    statistic needs is not inconclusive: it has not been tested yet."""
    if partial and not v.enough:
        return WAITING
    return f"**{v.verdict}**" if v.verdict in (AGREES, DISAGREES) else v.verdict


def verdict_rows(results: list[Verdict], partial: bool = False) -> Rows:
    body = [[v.claim.claim, v.claim.paper, v.ours, v.statistic, verdict_word(v, partial)] for v in results]
    return Rows(["claim", "paper's evidence", "ours", "statistic", "verdict"], body)


def rule_caption(suite: Any) -> list[str]:
    a = suite.verdicts.alpha
    return [f"rule: a test with p < {a:g} in the paper's direction **agrees**, with p < {a:g} against it "
            f"**disagrees**, otherwise {INCONCLUSIVE}; for a difference, p < {a:g} means its "
            f"{100 * (1 - a):.0f}% bootstrap interval ({suite.verdicts.bootstrap:,} resamples, seed "
            f"{suite.verdicts.seed}) excludes 0",
            "tests: paired-sign = exact two-sided sign test over paired settings (medians over seeds, ties "
            "left out); difference = mean(a) - mean(b) within strata (runs alike on every other axis), averaged "
            "over strata, inconclusive when a stratum lacks either group; trend = Spearman's rank correlation over runs "
            "(over truncation thresholds: rho per run, then a sign test over runs)",
            "when the reference setting did not learn on every seed, every verdict is inconclusive"] + (
            ["a paired claim over the settings where no run collapsed leaves out every paired setting with a "
             f"collapsed run (final {suite.health.collapsed_metric} below {suite.health.collapsed_below:g}) on "
             "either side"]
            if any(c.healthy for c in suite.claims) else [])


def reference_values(references: list[dict[str, Any]]) -> Rows | None:
    if not references:
        return None
    body = []
    for ref in references:
        p = ref.get("protocol") or {}
        used = ", ".join(f"{k.removesuffix('_used').replace('_', ' ')} {p[k]}" for k in ("n_fake_used", "n_real_used")
                         if p.get(k) is not None)
        body.append([f"`{ref['metric']}`", _fmt(ref["value"]), f"{p.get('generator', '?')}" + (f" ({used})" if used else ""),
                     f"`{ref['protocol_hash']}`"])
    return Rows(["metric value", "real data", "real images in place of generated ones", "hash"], body)


def reference_line(used: dict[str, set[str]], references: list[dict[str, Any]]) -> str | None:
    """A caption line: the real-data value of every metric value a table shows (same protocol)."""
    by = {r["metric"]: r["value"] for r in references}
    parts = [f"{key} {_fmt(by[f'{proto}/{key}'])}" for proto, keys in sorted(used.items())
             for key in sorted(keys) if f"{proto}/{key}" in by]
    return ("real-data reference (same protocol, real images in place of generated ones): " + ", ".join(parts)
            if parts else None)


def findings(suite: Any, records: list[RunRecord], references: list[dict[str, Any]],
             partial: bool = False) -> dict[str, Any]:
    """Everything this module computes, for the markdown and HTML renderers and the results index
    (``partial``: runs of the scale are still missing)."""
    ref_rows, learned = reference_rows(suite, records)
    health, total = health_rows(suite, records)
    results = verdicts(suite.claims, records, suite.verdicts, reference_learned=learned,
                       sources=setting_sources(suite.axes), health=suite.health)
    warning = None
    counted = total["runs"]
    if counted and total["collapsed"] * 2 > counted:
        warning = (f"Most runs collapsed ({total['collapsed']} of {counted} with results): the tables below "
                   "compare generators that did not learn the data, and read as such.")
    return {"reference": ref_rows, "learned": learned, "health": health, "totals": total,
            "verdicts": results, "verdict_rows": verdict_rows(results, partial) if results else None,
            "references": reference_values(references), "warning": warning}
