"""The claims index: every suite's claims and their computed verdicts in one table.

``ganzoo report --index`` reads each suite's committed export (``results/<suite>.runs.jsonl``),
computes the same findings as the suite's own report and writes the table between two markers in
``results/README.md``, so the index at the top of that file is never typed by hand. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganzoo.errors import GanzooError
from ganzoo.report.markdown import render_table

START = "<!-- claims-index:start (written by `ganzoo report --index`; do not edit by hand) -->"
END = "<!-- claims-index:end -->"


@dataclass
class SuiteFindings:
    suite: Any                # the Suite
    records: list | None      # None: no export at this scale
    references: list
    planned: int


def index_rows(entries: list[SuiteFindings]) -> tuple[list[str], list[list[str]], list[str]]:
    """(headers, rows, notes) of the index: one row per claim, with its suite's standing."""
    from ganzoo.report.findings import WAITING, findings, verdict_word

    rows, tally = [], {"agrees": 0, "disagrees": 0, "inconclusive": 0, WAITING: 0, "not run": 0}
    for e in entries:
        if e.records is None:  # one line for the suite: its claims are listed in its file
            rows.append([e.suite.name, f"{len(e.suite.claims)} claims (see the suite file)", "—", "—",
                         f"not run at this scale yet (0/{e.planned} runs)"])
            tally["not run"] += len(e.suite.claims)
            continue
        f = findings(e.suite, e.records, e.references)
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


def render_index(entries: list[SuiteFindings], scale: str) -> str:
    headers, rows, notes = index_rows(entries)
    caption = [f"scale `{scale}`; each verdict is computed from the suite's committed export by the rule its "
               "results file states (p < alpha in the paper's direction agrees, against it disagrees, "
               "otherwise inconclusive; inconclusive too when the reference setting did not learn)",
               *notes]
    return render_table("Index of claims and verdicts", caption, headers, rows)


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
