"""BigGAN (Brock et al., ICLR 2019) table and figure kinds: the truncation trade-off, singular values.

* table ``truncation`` (Table 2): per row, the four points of the FID/IS curve over truncation
  thresholds psi (untruncated, best FID, IS closest to the real data's, max IS), medians over seeds;
* figure ``truncation``: IS against FID along the sweep, one curve per row;
* figure ``sv`` (Figure 3): sigma_0 of every G and D layer against G steps, for the first seed of
  each selected row (the series the bench stored from the run's monitor).
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from pydantic import Field

from ganzoo.report import DASH, FigureSpec, KindSpec, Rows
from ganzoo.report.figures import legend_outside, suptitle, title as set_title
from ganzoo.report.stats import first_seed_runs, ordered_row_keys, row_key, select
from ganzoo_pggan.tables import paper_cell, paper_rows


class TruncationSpec(KindSpec):
    rows: list[str] = Field(default_factory=list)
    digits: int = Field(2, ge=0, le=6)


class TruncationPlotSpec(FigureSpec):
    rows: list[str] = Field(default_factory=list)


class SVSpec(FigureSpec):
    rows: list[str] = Field(default_factory=list)
    select: dict[str, list[str]] = Field(default_factory=dict)


def truncation_curves(records: list, rows_axes: list[str], ctx, fid: str = "fid", is_: str = "is",
                      ) -> dict[tuple[str, ...], dict[str, Any]]:
    """Per row: {psi: (median FID, median IS)} over finished runs' seeds, and the median IS of the real data.

    Each row is checked for mixed protocols on its own (rows at different resolutions, as in the
    paper's Table 2, are different protocols), and the caption names each row's protocols and hashes.
    """
    keys = ordered_row_keys(records, rows_axes)
    out = {}
    for rk in keys:
        row_recs = [r for r in records if row_key(r, rows_axes) == rk]
        sub = type(ctx)(ctx.suite, ctx.scale, row_recs, ctx.published)
        fids, iss = sub.sweep(fid), sub.sweep(is_)
        data_name = sub.metric(f"{is_}_data", required=False, data=True)
        tag = "" if len(keys) == 1 else f" [{'/'.join(rk)}]"
        for proto, used in sub.used.items():
            suffix = next((x for x in ("~t", "~data") if proto.endswith(x)), "")
            name = proto[: len(proto) - len(suffix)] + tag + suffix
            ctx.used.setdefault(name, set()).update(used)
            ctx.hashes[name] = sub.hashes[proto]
        recs = [r for r in row_recs if r.status == "finished"]
        data_is = [v for v in (r.value(data_name, "final") for r in recs) if v is not None]
        curve = {}
        for psi in sorted(set(fids) | set(iss), key=lambda p: (p is not None, p or 0)):
            f = [v for v in (r.value(fids.get(psi), "final") for r in recs) if v is not None]
            i = [v for v in (r.value(iss.get(psi), "final") for r in recs) if v is not None]
            if f or i:
                curve[psi] = (statistics.median(f) if f else None, statistics.median(i) if i else None)
        out[rk] = {"curve": curve, "data_is": statistics.median(data_is) if data_is else None, "n": len(recs)}
    return out


def truncation_columns(curve: dict[Any, tuple[float | None, float | None]], data_is: float | None) -> dict[str, Any]:
    """BigGAN Table 2's four columns: untruncated, best FID, IS closest to the data's, max IS.

    Each is ``(psi, fid, is)`` or None.
    """
    pts = [(psi, f, i) for psi, (f, i) in curve.items() if f is not None and i is not None]
    cols: dict[str, Any] = {"none": next(((p, f, i) for p, f, i in pts if p is None), None)}
    cols["best_fid"] = min(pts, key=lambda t: t[1]) if pts else None
    cols["data_is"] = min(pts, key=lambda t: abs(t[2] - data_is)) if pts and data_is is not None else None
    cols["max_is"] = max(pts, key=lambda t: t[2]) if pts else None
    return cols


def _tcell(t: Any, digits: int) -> str:
    if t is None:
        return DASH
    psi = "none" if t[0] is None else f"{t[0]:g}"
    return f"{t[1]:.{digits}f} / {t[2]:.{digits}f} (psi {psi})"


def truncation_rows(records: list, spec: TruncationSpec, ctx) -> Rows:
    paper = ctx.published_for(table=spec.title)
    digits = spec.digits
    curves = truncation_curves(records, spec.rows, ctx)
    headers = ["/".join(spec.rows), "source", "no truncation", "best FID", "IS closest to the data's",
               "max IS", "data IS"]
    body = []
    for rk, c in curves.items():
        cols = truncation_columns(c["curve"], c["data_is"])
        label = "/".join(rk)
        body.append([label, "ours (FID / IS, medians over seeds)"] +
                    [_tcell(cols[k], digits) for k in ("none", "best_fid", "data_is", "max_is")] +
                    [f"{c['data_is']:.{digits}f}" if c["data_is"] is not None else DASH])
        mine = paper_rows(paper, label)
        if mine:
            body.append(["", f"paper, {mine[0].get('dataset', '')} (FID / IS)"] +
                        [paper_cell(next((p for p in mine if p["column"] == k), None), digits)
                         for k in ("none", "best_fid", "data_is", "max_is")] + [""])
    notes = ["value: final model", (
        "each finished run's final G_ema evaluated at every truncation threshold psi (entries of z with "
        "|z_i| > psi redrawn), standing BN statistics recomputed at each psi; medians over seeds per psi, "
        "then the paper's four points of the curve; the data's IS uses the same extractor on real test images")]
    if paper:
        notes.append("`paper` rows: published FID / IS (" + "; ".join(sorted({p['cite'] for p in paper}))
                     + "), at ImageNet scale with Inception: for the shape of the trade-off only")
    return Rows(headers, body, notes)


def draw_truncation(records: list, spec: TruncationPlotSpec, ctx, fig) -> bool:
    """IS against FID along the truncation sweep, one curve per row (BigGAN Figure 17-style)."""
    curves = truncation_curves(records, spec.rows, ctx)
    if not any(c["curve"] for c in curves.values()):
        return False
    fig.set_size_inches(6.4, 4.4)
    ax = fig.add_subplot(1, 1, 1)
    for rk, c in curves.items():
        pts = sorted(((psi if psi is not None else math.inf), f, i) for psi, (f, i) in c["curve"].items()
                     if f is not None and i is not None)
        if not pts:
            continue
        line, = ax.plot([p[1] for p in pts], [p[2] for p in pts], marker="o", label="/".join(rk))
        for psi, f, i in pts:
            ax.annotate("none" if psi == math.inf else f"{psi:g}", (f, i), fontsize=6,
                        color=line.get_color(), xytext=(2, 2), textcoords="offset points")
        if c["data_is"] is not None:
            ax.axhline(c["data_is"], color=line.get_color(), ls=":", lw=0.8)
    ax.set_xlabel("FID (lower is better)")
    ax.set_ylabel("IS (higher is better)")
    set_title(ax, spec.title, fontsize=9)
    legend_outside(ax)
    ax.grid(alpha=0.3)
    return True


def draw_sv(records: list, spec: SVSpec, ctx, fig) -> bool:
    """sigma_0 of each G and D layer against G steps, first seed of each selected row (BigGAN Figure 3)."""
    panels = [(rk, r.sv) for rk, r in first_seed_runs(select(records, spec.select), spec.rows).items() if r.sv]
    if not panels:
        return False
    import matplotlib

    fig.set_size_inches(3.4 * len(panels), 5.2)
    axes = fig.subplots(2, len(panels), squeeze=False)
    cmap = matplotlib.colormaps["rainbow"]
    for j, (rk, recs_sv) in enumerate(panels):
        for i, net in enumerate(("G", "D")):
            ax = axes[i][j]
            layers = sorted(recs_sv[0].get(net, {}))  # by name: the store and the export order keys differently
            for n, layer in enumerate(layers):
                ys = [x[net].get(layer) for x in recs_sv]
                ys = [y[0] if isinstance(y, list) else y for y in ys]
                ax.plot([x["step"] for x in recs_sv], ys, lw=0.8, color=cmap(n / max(1, len(layers) - 1)))
            ax.set_yscale("log")
            set_title(ax, f"{'/'.join(rk)}: {net}", fontsize=8)
            ax.grid(alpha=0.3)
            if i == 1:
                ax.set_xlabel("G step")
    axes[0][0].set_ylabel("sigma_0 per layer")
    suptitle(fig, spec.title)
    return True


TABLE_KINDS = {
    "truncation": (TruncationSpec, truncation_rows, "four points of the FID/IS truncation curve per row (BigGAN Table 2)"),
}
FIGURE_KINDS = {
    "truncation": (TruncationPlotSpec, draw_truncation, "IS against FID along the truncation sweep"),
    "sv": (SVSpec, draw_sv, "sigma_0 per layer against G steps (BigGAN Figure 3)"),
}
