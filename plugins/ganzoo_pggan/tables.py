"""PGGAN (Karras et al., ICLR 2018) table and figure kinds, also used by the BigGAN suites.

* table ``metrics`` (Table 1): one row per setting of the ``rows`` axes, one column per value key
  (SWD per level, MS-SSIM...), mean ± std (or median ~ half range) over seeds;
* table ``grid`` (Table 4): rows x the labels of one ``columns`` axis, one metric;
* figure ``series`` (Figure 4): value keys against training progress (G steps, or the kimg the
  trainer logged), one panel per row, median over seeds;
* figure ``bars``: grouped bars of one metric, mean ± std over seeds;
* figure ``samples``: the last sample grid of the first seed of each selected row.

Published numbers stand in rows of their own marked ``paper``, never mixed into ours. Every value
is read through ``ctx.metric`` (protocol and hash in the caption; mixing is an error).
"""

from __future__ import annotations

import io
import statistics
from typing import Literal

from pydantic import Field

from ganzoo.report import DASH, FigureSpec, KindSpec, Rows, cell_text
from ganzoo.report.figures import legend_outside, suptitle, title as set_title
from ganzoo.report.stats import aggregate, first_seed_runs, ordered_row_keys, row_key, select


class MetricsSpec(KindSpec):
    rows: list[str] = Field(default_factory=list)
    metrics: list[str] = Field(min_length=1, description="the value keys shown as columns, in order")
    value: Literal["best", "final"] = "final"
    stat: Literal["mean", "median"] = "mean"
    digits: int = Field(2, ge=0, le=6)
    digits_by: dict[str, int] = Field(default_factory=dict, description="digits per value key")
    missing: str = Field(DASH, description="text of a cell without a value")


class GridSpec(KindSpec):
    rows: list[str] = Field(default_factory=list)
    columns: str
    metric: str = "fid"
    value: Literal["best", "final"] = "final"
    stat: Literal["mean", "median"] = "mean"
    digits: int = Field(2, ge=0, le=6)
    column_order: list[str] = Field(default_factory=list)
    missing: str = DASH


class SeriesSpec(FigureSpec):
    rows: list[str] = Field(default_factory=list)
    metrics: list[str] = Field(min_length=1)
    select: dict[str, list[str]] = Field(default_factory=dict)
    x: Literal["step", "kimg"] = "step"


class BarsSpec(FigureSpec):
    rows: list[str] = Field(default_factory=list)
    columns: str
    metric: str = "fid"
    value: Literal["best", "final"] = "final"


class SamplesSpec(FigureSpec):
    rows: list[str] = Field(default_factory=list)
    select: dict[str, list[str]] = Field(default_factory=dict)


def _value_line(value: str) -> str:
    return "value: " + ("final model" if value == "final" else "best during training")


def _values(recs: list, name: str | None, value: str) -> list[float]:
    return [v for v in (r.value(name, value) for r in recs) if v is not None]


def paper_rows(paper: list[dict], row_label: str) -> list[dict]:
    """The published entries of one row (its label, or its axis labels joined with '/')."""
    return [p for p in paper if p["row"] == row_label or
            (isinstance(p["row"], dict) and "/".join(p["row"].values()) == row_label)]


def paper_cell(p: dict | None, digits: int) -> str:
    if p is None:
        return ""
    if p.get("text"):
        return p["text"]
    if p.get("value") is None:
        return ""
    text = f"{p['value']:.{digits}f}"
    if p.get("std") is not None:
        text += f" ± {p['std']:.{digits}f}"
    return text


def metrics_rows(records: list, spec: MetricsSpec, ctx) -> Rows:
    """One row per setting of the ``rows`` axes, one column per value key; published rows follow ours."""
    paper = ctx.published_for(table=spec.title)
    rows_axes, keys, value, stat = spec.rows, spec.metrics, spec.value, spec.stat
    names = {k: ctx.metric(k, required=False) for k in keys}
    headers = ["/".join(rows_axes) or "setting", "source"] + keys
    dk = {k: spec.digits_by.get(k, spec.digits) for k in keys}
    body = []
    for rk in ordered_row_keys(records, rows_axes):
        recs = [r for r in records if row_key(r, rows_axes) == rk]
        label = "/".join(rk)
        body.append([label, f"ours ({stat} over seeds)"] +
                    [cell_text(_values(recs, names[k], value), stat, dk[k], spec.missing, len(recs)) for k in keys])
        mine = paper_rows(paper, label)
        for dataset in sorted({p.get("dataset", "") for p in mine}):
            these = [p for p in mine if p.get("dataset", "") == dataset]
            body.append(["", f"paper, {dataset}"] +
                        [paper_cell(next((p for p in these if p["column"] == k), None), dk[k]) for k in keys])
    notes = [_value_line(value), f"metric values: {', '.join(f'`{names[k] or k}`' for k in keys)}",
             f"cells: {stat} {'± standard deviation' if stat == 'mean' else '~ half range'} "
             "over seeds; (k/n) when only k of the n runs have a value"]
    if paper:
        notes.append("`paper` rows: published numbers (" + "; ".join(sorted({p['cite'] for p in paper}))
                     + "), at the paper's scale and data, for the ordering of rows only: not produced by these runs")
    return Rows(headers, body, notes)


def grid_rows(records: list, spec: GridSpec, ctx) -> Rows:
    """Rows: labels of the ``rows`` axes; columns: labels of the ``columns`` axis; one metric."""
    paper = ctx.published_for(table=spec.title)
    rows_axes, col_axis, value, stat, digits = spec.rows, spec.columns, spec.value, spec.stat, spec.digits
    name = ctx.metric(spec.metric, required=False)
    cols = [k[0] for k in ordered_row_keys(records, [col_axis])]
    order = [c for c in spec.column_order if c in cols]
    cols = order + [c for c in cols if c not in order]
    headers = ["/".join(rows_axes), "source"] + cols
    body = []
    for rk in ordered_row_keys(records, rows_axes):
        label = "/".join(rk)
        cells = []
        for c in cols:
            recs = [r for r in records if row_key(r, rows_axes) == rk and str(r.setting.get(col_axis)) == c]
            cells.append(cell_text(_values(recs, name, value), stat, digits, spec.missing, len(recs)) if recs else "")
        body.append([label, f"ours ({stat} over seeds)"] + cells)
        mine = paper_rows(paper, label)
        if mine:
            body.append(["", f"paper, {mine[0].get('dataset', '')}"] +
                        [paper_cell(next((p for p in mine if p["column"] == c), None), digits) for c in cols])
    notes = [_value_line(value), f"metric value: `{name or spec.metric}`; cells: {stat} over seeds "
             f"{'± standard deviation' if stat == 'mean' else '~ half range'}; (k/n): k of n runs have a value"]
    if paper:
        notes.append("`paper` rows: published numbers (" + "; ".join(sorted({p['cite'] for p in paper}))
                     + "), shown for the ordering only: not produced by these runs")
    return Rows(headers, body, notes)


def draw_series(records: list, spec: SeriesSpec, ctx, fig) -> bool:
    """Each value key against training progress, one panel per row label, median over seeds per point.

    With ``x = "kimg"`` the x axis is the images shown that the trainer logged at each evaluated
    step (exact under per-resolution batch sizes); a step the run never logged is left out.
    """
    recs = select(records, spec.select)
    keys = ordered_row_keys(recs, spec.rows)
    names = {k: ctx.metric(k, required=False) for k in spec.metrics}
    if not keys or not any(names.values()):
        return False
    fig.set_size_inches(3.6 * len(keys) + 1.2, 3.4)
    axes = fig.subplots(1, len(keys), sharey=True, squeeze=False)[0]
    for ax, rk in zip(axes, keys):
        rr = [r for r in recs if row_key(r, spec.rows) == rk]
        for key, name in names.items():
            by_x: dict[float, list[float]] = {}
            for r in rr:
                for step, v in r.curve(name) if name else []:
                    x = r.kimg_at(step) if spec.x == "kimg" else step
                    if x is not None:
                        by_x.setdefault(x, []).append(v)
            if by_x:
                xs = sorted(by_x)
                ax.plot(xs, [statistics.median(by_x[x]) for x in xs], marker=".", label=key)
        set_title(ax, "/".join(rk), fontsize=9)
        ax.set_xlabel("kimg" if spec.x == "kimg" else "G step")
        ax.grid(alpha=0.3)
    legend_outside(axes[-1])
    suptitle(fig, spec.title)
    return True


def draw_bars(records: list, spec: BarsSpec, ctx, fig) -> bool:
    """Grouped bars: groups = row labels, bars = labels of the ``columns`` axis, mean ± std over seeds."""
    name = ctx.metric(spec.metric, required=False)
    if name is None:
        return False
    rows = ordered_row_keys(records, spec.rows)
    cols = [k[0] for k in ordered_row_keys(records, [spec.columns])]
    fig.set_size_inches(2.0 + 0.5 * len(cols) * len(rows), 3.4)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / max(1, len(cols))
    missing = []  # x positions of settings without a finished value: no bar, a "no run" mark instead
    for j, c in enumerate(cols):
        means, errs = [], []
        for i, rk in enumerate(rows):
            recs = [r for r in records if row_key(r, spec.rows) == rk and str(r.setting.get(spec.columns)) == c]
            m, s = aggregate(_values(recs, name, spec.value), "mean")
            # A setting without a value must not read as 0 (a bar of height 0 looks like a result).
            means.append(float("nan") if m is None else m)
            errs.append(s or 0.0)
            if m is None:
                missing.append(i + j * width)
        ax.bar([i + j * width for i in range(len(rows))], means, width, yerr=errs, label=c, capsize=2)
    for x in missing:
        ax.annotate("no run", (x, 0), xytext=(0, 3), textcoords="offset points", rotation=90,
                    ha="center", va="bottom", fontsize=6, color="0.4")
    ax.set_xticks([i + width * (len(cols) - 1) / 2 for i in range(len(rows))])
    ax.set_xticklabels(["/".join(r) for r in rows])
    ax.set_ylabel(spec.metric)
    legend_outside(ax, ncol=1)
    set_title(ax, spec.title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return True


def draw_samples(records: list, spec: SamplesSpec, ctx, fig) -> bool:
    """The last sample grid (stored by the bench) of the first seed of each selected row, side by side."""
    from PIL import Image

    panels = [(rk, r) for rk, r in first_seed_runs(select(records, spec.select), spec.rows).items() if r.grid]
    if not panels:
        return False
    fig.set_size_inches(2.6 * len(panels), 3.0)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (rk, r) in zip(axes, panels):
        ax.imshow(Image.open(io.BytesIO(r.grid)).convert("RGB"))
        # A run that has not finished shows its latest grid, not its final one: say so.
        late = "" if r.status == "finished" else f"\n({r.status} at step {r.step})"
        set_title(ax, "/".join(rk) + late, fontsize=7)
        ax.axis("off")
    suptitle(fig, spec.title, fontsize=9)
    return True


TABLE_KINDS = {
    "metrics": (MetricsSpec, metrics_rows, "rows x value keys, mean ± std over seeds (PGGAN Table 1)"),
    "grid": (GridSpec, grid_rows, "rows x the labels of one axis, one metric (PGGAN Table 4)"),
}
FIGURE_KINDS = {
    "series": (SeriesSpec, draw_series, "value keys against G steps or kimg, one panel per row (PGGAN Figure 4)"),
    "bars": (BarsSpec, draw_bars, "grouped bars of one metric, mean ± std over seeds"),
    "samples": (SamplesSpec, draw_samples, "the final sample grid of the first seed of each row"),
}
