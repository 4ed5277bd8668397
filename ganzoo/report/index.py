"""The claims index: every suite's claims and their computed verdicts in one table.

``ganzoo report --index`` reads each suite's committed export (``results/<suite>.runs.jsonl``),
computes the same findings as the suite's own report and writes the table between two markers in
``results/README.md``, so the index at the top of that file is never typed by hand. Below it, a
second table gives each suite's progress: runs done, the reference setting's seeds, collapsed runs,
wall and run time, and the run time still to train by the bench's own estimate. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ganzoo.errors import GanzooError
from ganzoo.report.markdown import fmt_duration, render_table

START = "<!-- claims-index:start (written by `ganzoo report --index`; do not edit by hand) -->"
END = "<!-- claims-index:end -->"


@dataclass
class SuiteFindings:
    suite: Any                # the Suite
    records: list | None      # None: no export at this scale
    references: list
    planned: int
    invocations: list = field(default_factory=list)  # the export's benches: (started, seconds, executor, ran)
    left: tuple[float, dict[str, int]] | None = None  # run time left (s), and runs per estimate basis

    @cached_property
    def found(self) -> dict[str, Any]:
        """:func:`ganzoo.report.findings.findings` of the export (computed once for both tables)."""
        from ganzoo.report.findings import findings

        return findings(self.suite, self.records, self.references)


def index_rows(entries: list[SuiteFindings]) -> tuple[list[str], list[list[str]], list[str]]:
    """(headers, rows, notes) of the index: one row per claim, with its suite's standing."""
    from ganzoo.report.findings import WAITING, verdict_word

    rows, tally = [], {"agrees": 0, "disagrees": 0, "inconclusive": 0, WAITING: 0, "not run": 0}
    for e in entries:
        if e.records is None:  # one line for the suite: its claims are listed in its file
            rows.append([e.suite.name, f"{len(e.suite.claims)} claims (see the suite file)", "—", "—",
                         f"not run at this scale yet (0/{e.planned} runs)"])
            tally["not run"] += len(e.suite.claims)
            continue
        f = e.found
        done = sum(r.counted for r in e.records)
        partial = done < e.planned
        standing = (f"{done}/{e.planned} runs" + (" (partial)" if partial else "")
                    + ("; reference not finished yet" if f["learned"] is None else
                       ("; reference learned" + (" on every seed run so far" if partial else ""))
                       if f["learned"] else "; reference **did not learn**"))
        for v in f["verdicts"]:
            word = verdict_word(v, partial)
            rows.append([e.suite.name, v.claim.claim, v.ours, v.statistic, f"{word} ({standing})"])
            key = WAITING if word == WAITING else v.verdict
            tally[key if key in tally else "inconclusive"] += 1
    notes = [", ".join(f"{k}: {n}" for k, n in tally.items()) + f" (of {sum(tally.values())} claims)"]
    return ["suite", "claim", "ours", "statistic", "verdict"], rows, notes


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _union_seconds(intervals: list[tuple[float, float]]) -> float:
    """The time covered by at least one of the (start, seconds) intervals: benches of two suites
    that ran at once on one machine count once."""
    total, end = 0.0, None
    for start, seconds in sorted(intervals):
        stop = start + (seconds or 0.0)
        if end is None or start >= end:
            total += stop - start
            end = stop
        elif stop > end:
            total += stop - end
            end = stop
    return total


def _reference_cell(e: SuiteFindings) -> str:
    from ganzoo.report.records import UNFINISHED_STATUSES
    from ganzoo.report.verdicts import reference_health

    if not e.suite.health.reference:
        return "no reference setting"
    checks = reference_health(e.records, e.suite.health)
    ended = [c for c in checks if c.checks[0][2] not in UNFINISHED_STATUSES]  # ("run finished", ok, status)
    waiting = len(checks) - len(ended)
    if not ended:
        return "no seed finished yet"
    text = f"learned on {sum(c.passed for c in ended)} of {_count(len(ended), 'seed')}"
    return text + (f"; {_count(waiting, 'seed')} not finished yet" if waiting else "")


def progress_rows(entries: list[SuiteFindings]) -> tuple[list[str], list[list[str]], list[str]]:
    """(headers, rows, notes): per suite, runs done, the reference's seeds, collapsed runs, wall
    time, summed run time and the run time left; the notes give the totals over every suite."""
    rows, intervals, took, left_total, longest = [], [], {}, 0.0, 0
    for e in entries:
        if e.records is None:
            rows.append([e.suite.name, f"0/{e.planned}", "—", "—", "—", "—", "not run at this scale yet"])
            continue
        done = sum(r.counted for r in e.records)
        total = e.found["totals"]
        intervals += [(i[0], i[1]) for i in e.invocations]
        for r in e.records:  # a run two suites share (one config, one key) counts once in the total
            if r.seconds:
                took[r.key] = r.seconds
        if done >= e.planned:
            left = "none"
        elif e.left is None:
            left = "no estimate"
        else:
            seconds, basis = e.left
            left_total += seconds
            longest += basis.get("longest", 0)
            left = fmt_duration(seconds) + (f" ({_count(basis['longest'], 'run')} at the longest finished run)"
                                            if basis.get("longest") else "")
        rows.append([e.suite.name, f"{done}/{e.planned}", _reference_cell(e),
                     f"{total['collapsed']} of {total['runs']}", fmt_duration(sum(i[1] for i in e.invocations)),
                     fmt_duration(sum(r.seconds or 0 for r in e.records)), left])
    notes = [
        "wall time: the summed length of the suite's `ganzoo bench` invocations; run time: the summed "
        "training time of its runs (two workers train two runs at once); left: the run time of the runs "
        "not done, estimated as `ganzoo bench --dry-run` does (the mean time per G step of the setting's finished runs, "
        "else the suite's longest finished run)",
        f"every suite together: {fmt_duration(_union_seconds(intervals))} of wall time (benches that ran at once "
        f"counted once), {fmt_duration(sum(took.values()))} of run time (runs shared by two suites counted once), "
        f"about {fmt_duration(left_total)} of run time left"
        + (f", {_count(longest, 'run')} of it counted at their suite's longest finished run" if longest else ""),
    ]
    return ["suite", "runs done", "reference setting", "collapsed", "wall time", "run time", "left (estimate)"], rows, notes


def render_index(entries: list[SuiteFindings], scale: str) -> str:
    headers, rows, notes = index_rows(entries)
    caption = [f"scale `{scale}`; each verdict is computed from the suite's committed export by the rule its "
               "results file states (p < alpha in the paper's direction agrees, against it disagrees, "
               "otherwise inconclusive; inconclusive too when the reference setting did not learn)",
               *notes]
    claims = render_table("Index of claims and verdicts", caption, headers, rows)
    headers, rows, notes = progress_rows(entries)
    progress = render_table("Progress of each suite", [f"scale `{scale}`, from the committed exports", *notes],
                            headers, rows)
    return claims + "\n" + progress


def update_readme(readme: Path, block: str) -> Path:
    """Replace the text between the index markers of ``readme`` (append the markers if missing)."""
    from ganzoo.atomic import write_atomic

    text = readme.read_text() if readme.exists() else "# Results\n"
    if (START in text) != (END in text):
        raise GanzooError(f"{readme}: has one claims-index marker but not the other; fix it by hand")
    inner = f"{START}\n\n{block.strip()}\n\n{END}"
    if START in text:
        head, rest = text.split(START, 1)
        text = head + inner + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + inner + "\n"
    write_atomic(readme, text)
    return readme
