"""Self-modulation (Chen et al., ICLR 2019) table and figure kinds: best-of, reductions, paired.

* ``best-of`` (Tables 2 and 4): per row, median over seeds, then the min (or max) over the
  ``minimize_over`` axes (optimizer settings, and lambda for GP), per column (method); the
  published numbers beside in ``paper (<dataset>)`` columns, never mixed with ours.
* ``reductions`` (Table 3): per row, ``100 * (base - treat) / base`` of the best-of values.
* ``paired``: the same hyperparameters on both sides, wins/losses/ties, win rate, sign test.
* figure ``paired``: baseline (x) vs treatment (y) per paired setting, y = x diagonal.

Each kind is a pure function of the typed run records (the statistics are
:mod:`ganzoo.report.stats`); the core captions the table with the protocol and its hash.
"""

from __future__ import annotations

import math
from typing import Literal, Sequence

from pydantic import Field

from ganzoo.report import DASH, DIVERGED_MARK, FigureSpec, KindSpec, Rows, fmt, fmt_p, fmt_range
from ganzoo.report.stats import (
    BestCell,
    Paired,
    TableData,
    best_of,
    count_runs,
    label as _label,
    paired as _paired,
    relative_reduction,
    reductions,
)


class BestOfSpec(KindSpec):
    """``best-of`` and ``reductions`` tables."""

    metric: str = Field("fid", description="a value key (fid, is, ...); the runs' protocol giving it is used")
    value: Literal["best", "final"] = "best"
    rows: list[str] = Field(default_factory=list)
    columns: str = "method"
    minimize_over: list[str] = Field(default_factory=list)
    lower_is_better: bool = True
    baseline: str = "bn"
    treatment: str = "selfmod"
    column_order: list[str] = Field(default_factory=list)
    digits: int = Field(2, ge=0, le=6)


class PairedSpec(KindSpec):
    """``paired`` tables."""

    metric: str = "fid"
    value: Literal["best", "final"] = "best"
    lower_is_better: bool = True
    method_axis: str = "method"
    baseline: str = "bn"
    treatment: str = "selfmod"
    tie_tol: float = Field(0.0, ge=0)
    by: list[str] = Field(default_factory=list, description="axes to break the count down by")
    paper_headline: str = Field("", description="the paper's headline, e.g. 124/144, as a caption line")


class PairedPlotSpec(FigureSpec):
    metric: str = "fid"
    value: Literal["best", "final"] = "best"
    lower_is_better: bool = True
    method_axis: str = "method"
    baseline: str = "bn"
    treatment: str = "selfmod"
    label_axis: str = "arch"


def _value_line(value: str) -> str:
    return "value: best during training" if value == "best" else "value: final"


def _value_words(value: str) -> str:
    return {"best": "best value during training", "final": "value of the final model"}.get(value, value)


def _best_text(b: BestCell | None, digits: int = 2) -> str:
    if b is None or b.value is None:
        return DASH
    lo, hi = b.spread
    text = fmt(b.value, digits)
    if b.cell is not None and b.cell.n_seeds > 1:
        text += " " + fmt_range(lo, hi, digits)
    if b.diverged:
        text += DIVERGED_MARK
    return text


def _chosen_text(b: BestCell | None, axes: Sequence[str]) -> str:
    if b is None or b.setting is None:
        return DASH
    return "/".join(_label(b.setting, ax) for ax in axes)


def _columns(table: TableData, spec: dict) -> list[str]:
    order = list(spec.get("column_order") or [])
    return [c for c in order if c in table.column_labels] + [c for c in table.column_labels if c not in order]


def _paper_match(entry: dict, rows: list[str], rk: tuple[str, ...] | str) -> bool:
    if rk == "best":
        return entry.get("row") == "best"
    row = entry.get("row")
    return isinstance(row, dict) and all(str(row.get(ax)) == lab for ax, lab in zip(rows, rk))


def _paper_value(paper: list[dict], rows: list[str], rk, dataset: str, column: str) -> float | None:
    for e in paper:
        if e.get("dataset", "") == dataset and e.get("column") == column and _paper_match(e, rows, rk):
            return float(e["value"])
    return None


def _paper_lines(paper: list[dict], used: int) -> list[str]:
    # One source per citation: "Chen et al. 2019, Table 2 (GP, resnet, ...)" -> "Chen et al. 2019, Table 2".
    cites = sorted({e.get("cite", "published").split(" (")[0] for e in paper})
    lines = [f"`paper (…)` columns: published numbers from {'; '.join(cites)} -- at the paper's scale and "
             f"protocol, shown for reference only, not produced by these runs"]
    if used < len(paper):
        lines.append(f"paper entries with no matching row here: {len(paper) - used}")
    return lines


def _run_lines(records: list[dict], metric: str, value: str, mark: bool = True) -> list[str]:
    c = count_runs(records, metric, value)
    note = f", {DIVERGED_MARK} on a winning setting with a diverged seed" if mark else ""
    return [f"runs: {c.total}; with a value: {c.counted}; diverged: {c.diverged} "
            f"({c.diverged_counted} counted with their best value before divergence{note}); "
            f"without a value (failed/pending/running/metric missing): {c.missing}"]


def _procedure_line(table: TableData, spread: bool = True) -> str:
    op = "min" if table.lower_is_better else "max"
    best = (f", then the {op} over {', '.join(table.minimize_over)} per row and column (the paper's procedure)"
            if table.minimize_over else " (each row and column is one setting)")
    return (f"ours: `{table.metric}` ({_value_words(table.value)}) per run; median over seeds per setting{best}"
            + ("; [lo, hi] = range over the seeds of the winning setting" if spread else ""))


def best_of_rows(records: list, spec: BestOfSpec, ctx) -> Rows:
    """Table 2: per row, ours per column (best of the ``minimize_over`` axes), the paper beside.

    Published numbers of the suite for the spec's metric (``{"row": {axis: label, ...} or "best",
    "column": label, "value": x, "dataset": name, "cite": "..."}``) are shown in
    ``paper (<dataset>): <column>`` columns. A cell of ours reads
    ``median [min, max]`` (the winning setting's median and range over its seeds), ``†`` when that
    setting had a diverged run; the last columns name the winning setting's ``minimize_over`` labels.
    """
    s = spec.model_dump()
    metric = ctx.metric(spec.metric)
    paper = ctx.published_for(metric=spec.metric)
    digits = spec.digits
    table = best_of(records, metric, spec.rows, spec.columns, spec.minimize_over, value=spec.value,
                    lower_is_better=spec.lower_is_better)
    cols = _columns(table, s)
    datasets = sorted({e.get("dataset", "") for e in paper})
    paper_cols = [(d, c) for d in datasets for c in cols
                  if any(e.get("dataset", "") == d and e.get("column") == c for e in paper)]
    arg = "argmin" if table.lower_is_better else "argmax"
    show_choice = bool(table.minimize_over)  # nothing was chosen when nothing is minimised over
    headers = (list(table.rows) + [f"ours: {c}" for c in cols] + [f"paper ({d}): {c}" for d, c in paper_cols]
               + ([f"{arg} {'/'.join(table.minimize_over)}: {c}" for c in cols] if show_choice else []))
    used: set[int] = set()
    out = []
    for rk in [*table.row_keys, "best"]:
        if rk == "best":
            row = ["best of above"] + [""] * (len(table.rows) - 1)
            bests = [table.best_row.get(c) for c in cols]
            chosen = ["/".join([*table.row_of(b.setting), _chosen_text(b, table.minimize_over)])
                      if b and b.setting else DASH for b in bests]
        else:
            row = list(rk)
            bests = [table.cells.get((rk, c)) for c in cols]
            chosen = [_chosen_text(b, table.minimize_over) for b in bests]
        row += [_best_text(b, digits) for b in bests]
        for d, c in paper_cols:
            row.append(fmt(_paper_value(paper, table.rows, rk, d, c), digits))
        used |= {i for i, e in enumerate(paper) if _paper_match(e, table.rows, rk)}
        out.append(row + (chosen if show_choice else []))
    lines = [_value_line(spec.value), _procedure_line(table)] + _run_lines(records, table.metric, table.value)
    if paper:
        lines += _paper_lines(paper, len(used))
    return Rows(headers, out, lines)


def _paper_reduction(paper: list[dict], rows: list[str], rk, dataset: str, base: str, treat: str) -> float | None:
    direct = _paper_value(paper, rows, rk, dataset, "reduction")
    if direct is not None:
        return direct
    return relative_reduction(_paper_value(paper, rows, rk, dataset, base),
                              _paper_value(paper, rows, rk, dataset, treat))


def reductions_rows(records: list, spec: BestOfSpec, ctx) -> Rows:
    """Table 3: per row, ``100 * (base - treat) / base`` of the best-of values, the paper beside.

    The spec as for :func:`best_of_rows`, with ``baseline`` ("bn") and ``treatment`` ("selfmod").
    The paper's reduction per row comes from an entry with ``"column": "reduction"`` if given, else
    from its baseline and treatment values (Table 2).
    """
    metric = ctx.metric(spec.metric)
    paper = ctx.published_for(metric=spec.metric)
    digits = spec.digits
    base, treat = spec.baseline, spec.treatment
    table = best_of(records, metric, spec.rows, spec.columns, spec.minimize_over, value=spec.value,
                    lower_is_better=spec.lower_is_better)
    red = reductions(table, base, treat)
    datasets = sorted({e.get("dataset", "") for e in paper})
    headers = (list(table.rows) + [f"ours: {base}", f"ours: {treat}", "ours: reduction (%)"]
               + [f"paper ({d}): reduction (%)" for d in datasets])
    out = []
    for r in red:
        out.append(list(r.row) + [fmt(r.baseline, digits), fmt(r.treatment, digits), fmt(r.reduction, digits)]
                   + [fmt(_paper_reduction(paper, table.rows, r.row, d, base, treat), digits) for d in datasets])
    bb, bt = table.best_row.get(base), table.best_row.get(treat)
    bv, tv = (bb.value if bb else None), (bt.value if bt else None)
    out.append(["best of above"] + [""] * (len(table.rows) - 1)
               + [fmt(bv, digits), fmt(tv, digits), fmt(relative_reduction(bv, tv), digits)]
               + [fmt(_paper_reduction(paper, table.rows, "best", d, base, treat), digits) for d in datasets])
    known = [r.reduction for r in red if r.reduction is not None]
    better = sum((x > 0) == table.lower_is_better and x != 0 for x in known)
    sign = (f"positive: {treat} lower, i.e. better" if table.lower_is_better
            else f"positive: {treat} lower, i.e. worse (higher is better for this metric)")
    lines = [
        _value_line(spec.value),
        _procedure_line(table, spread=False),
        f"reduction (%) = 100 * ({base} - {treat}) / {base} on those values; {sign}",
        f"{treat} better in {better}/{len(known)} rows"
        + (f"; reductions from {fmt(min(known), digits)} % to {fmt(max(known), digits)} %" if known else ""),
    ] + _run_lines(records, table.metric, table.value, mark=False)
    if paper:
        used = sum(any(_paper_match(e, table.rows, rk) for rk in [*table.row_keys, "best"]) for e in paper)
        lines += _paper_lines(paper, used)
    return Rows(headers, out, lines)


def paired_rows(records: list, spec: PairedSpec, ctx) -> Rows:
    """The paired comparison: wins/losses/ties, win rate and sign-test p, overall and per ``by`` axis.

    The paper's headline (124/144), when the spec gives one, is a caption line.
    """
    s = spec.model_dump()
    metric = ctx.metric(spec.metric)
    p = _paired(records, metric, method_axis=spec.method_axis, baseline=spec.baseline,
               treatment=spec.treatment, value=spec.value, lower_is_better=spec.lower_is_better,
               tie_tol=spec.tie_tol)
    by = list(spec.by)

    def line(name: str, q: Paired) -> list[str]:
        rate = q.win_rate
        return [name, str(q.n), str(q.wins), str(q.losses), str(q.ties),
                DASH if rate is None else f"{100 * rate:.1f}%", fmt_p(q.p_value)]

    rows = [line("all", p)]
    for ax in by:
        for lab in sorted({_label(pt.setting, ax) for pt in p.pairs}):
            rows.append(line(f"{ax}={lab}", p.subset(ax, lab)))
    t = s["treatment"]
    headers = ["settings", "compared", f"{t} wins", f"{t} losses", "ties", "win rate", "sign-test p (two-sided)"]
    better = "lower" if p.lower_is_better else "higher"
    lines = [_value_line(spec.value)] + ([spec.paper_headline] if spec.paper_headline else []) + [
        f"ours: `{p.metric}` ({_value_words(p.value)}) per run, median over seeds per setting",
        f"paired: same hyperparameters -- every axis but `{p.method_axis}` fixed (optimizer settings and "
        f"lambda included); {t} wins when its median is {better} than {s['baseline']}'s"
        + (f" by more than {s['tie_tol']}" if s.get("tie_tol") else ""),
        "win rate = wins / compared (a tie is no win); sign test: exact binomial on wins vs losses, ties dropped",
        f"settings with only one method's median (not compared): {p.unpaired}",
    ] + _run_lines(records, p.metric, p.value, mark=False)
    return Rows(headers, rows, lines)


def draw_paired(records: list, spec: PairedPlotSpec, ctx, fig) -> str | bool:
    """Scatter of baseline (x) vs treatment (y) per paired setting, with the y = x diagonal.

    Points are coloured by the setting's ``label_axis`` label; both axes are logarithmic when the
    values span more than 10x. A text box gives the win count and sign-test p. Non-finite values are
    left out (and counted in the box). Returns the figure's alt text, or False with nothing to plot.
    """
    from ganzoo.report.figures import legend_outside, title as set_title

    metric = ctx.metric(spec.metric)
    paired = _paired(records, metric, method_axis=spec.method_axis, baseline=spec.baseline,
                     treatment=spec.treatment, value=spec.value, lower_is_better=spec.lower_is_better)
    if not paired.pairs:
        return False
    label_axis = spec.label_axis
    title = f"{ctx.suite} [{ctx.scale}]: {metric}, {spec.title}"
    pts = [p for p in paired.pairs if math.isfinite(p.baseline) and math.isfinite(p.treatment)]
    fig.set_size_inches(5.5, 5.0)
    ax = fig.add_subplot(1, 1, 1)
    labels = sorted({_label(p.setting, label_axis) for p in pts})
    for i, lab in enumerate(labels):
        sel = [p for p in pts if _label(p.setting, label_axis) == lab]
        ax.scatter([p.baseline for p in sel], [p.treatment for p in sel], s=22, alpha=0.8,
                   color=f"C{i % 10}", label=f"{label_axis}={lab}", edgecolors="none")
    vals = [v for p in pts for v in (p.baseline, p.treatment)]
    if vals:
        lo, hi = min(vals), max(vals)
        log = lo > 0 and hi / lo > 10
        if log:
            lo, hi = lo / 1.15, hi * 1.15
            ax.set_xscale("log")
            ax.set_yscale("log")
        else:
            pad = 0.05 * (hi - lo) if hi > lo else max(abs(hi) * 0.05, 1.0)
            lo, hi = lo - pad, hi + pad
        ax.plot([lo, hi], [lo, hi], color="0.4", lw=1, ls="--", label="y = x")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        legend_outside(ax, fontsize=8)
    where = "below" if paired.lower_is_better else "above"
    ax.set_xlabel(f"{paired.baseline}: {paired.metric} ({paired.value})")
    ax.set_ylabel(f"{paired.treatment}: {paired.metric} ({paired.value})")
    set_title(ax, f"{title} ({where} the diagonal: {paired.treatment} better)", fontsize=10)
    box = (f"{paired.treatment} better: {paired.wins}/{paired.n}\n"
           f"losses {paired.losses}, ties {paired.ties}\nsign test p = {fmt_p(paired.p_value)}")
    if len(pts) < paired.n:
        box += f"\nnot shown (non-finite): {paired.n - len(pts)}"
    # Outside the axes, under the legend: inside, the box hid points in the upper-left corner.
    ax.text(1.03, 0.0, box, transform=ax.transAxes, va="bottom", ha="left", fontsize=8,
            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85, "edgecolor": "0.6"})
    return f"{metric} per setting, {paired.wins} wins of {paired.n}"


TABLE_KINDS = {
    "best-of": (BestOfSpec, best_of_rows, "per row, median over seeds then the best over the optimizer axes (Tables 2/4)"),
    "reductions": (BestOfSpec, reductions_rows, "per row, the relative reduction of the best-of values (Table 3)"),
    "paired": (PairedSpec, paired_rows, "same hyperparameters on both sides: wins, losses, sign test"),
}
FIGURE_KINDS = {
    "paired": (PairedPlotSpec, draw_paired, "baseline vs treatment per paired setting, y = x diagonal"),
}
