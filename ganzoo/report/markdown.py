"""Markdown rendering of the results tables: number formats and one table layout.

A table kind computes its rows as strings (:class:`ganzoo.report.kinds.Rows`); this module only
formats numbers and lays rows out, so the same rows render as markdown here and as HTML in
:mod:`ganzoo.report.html` (compute rows, then render).
"""

from __future__ import annotations

import math

DASH = "—"
DIVERGED_MARK = "†"


def fmt(x: float | None, digits: int = 2) -> str:
    """A number for a table cell: ``"—"`` for None/NaN, ``"inf"``/``"-inf"``, else fixed ``digits``."""
    if x is None:
        return DASH
    x = float(x)
    if math.isnan(x):
        return DASH
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}f}"


def fmt_duration(seconds: float) -> str:
    """A run or wall time: minutes under an hour, else hours with one decimal."""
    return f"{seconds / 60:.0f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def fmt_p(p: float | None) -> str:
    """A p-value: three decimals down to 0.01, scientific notation below, ``"—"`` when undefined."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return DASH
    return f"{p:.3f}" if p >= 0.01 else f"{p:.2e}"


def fmt_range(lo: float | None, hi: float | None, digits: int = 2) -> str:
    """The spread over seeds as ``"[lo, hi]"``."""
    return f"[{fmt(lo, digits)}, {fmt(hi, digits)}]"


def cell_text(values: list[float], stat: str, digits: int, missing: str = DASH, n_runs: int | None = None) -> str:
    """``mean ± std`` (or ``median ~ half range``) over seeds, ``(k/n)`` when only k of n runs have a value."""
    from ganzoo.report.stats import aggregate

    centre, spread = aggregate(values, stat)
    if centre is None:
        return missing
    sign = "±" if stat == "mean" else "~"
    text = f"{centre:.{digits}f}"
    if spread is not None:
        text += f" {sign} {spread:.{digits}f}"
    if n_runs is not None and len(values) < n_runs:
        text += f" ({len(values)}/{n_runs})"
    return text


def _cell_text(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def render_table(title: str, caption: list[str], headers: list[str], rows: list[list[str]]) -> str:
    """Markdown: a ``###`` title, the caption as a bullet list above the table, a github-format table.

    Cells are strings already formatted by the caller (see :func:`fmt`); ``|`` is escaped.
    """
    from tabulate import tabulate

    body = tabulate([[_cell_text(c) for c in r] for r in rows], headers=[_cell_text(h) for h in headers],
                    tablefmt="github", disable_numparse=True)
    parts = [f"### {title}", ""]
    if caption:
        parts += [f"- {line}" for line in caption] + [""]
    parts += [body, ""]
    return "\n".join(parts)


def not_available(title: str, reason: str) -> str:
    return "\n".join([f"### {title}", "", f"_Not available: {reason}._"])
