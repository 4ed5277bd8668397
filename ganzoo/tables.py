"""The PGGAN and BigGAN suites' tables and figures: per-row metric tables, grids, truncation curves.

Pure functions of the benchmark store's records (as :mod:`ganzoo.report` for the self-modulation
tables). Each run contributes one value per metric (``final``: the value of the final model, or
``best``: the best during training); a cell is the mean ± standard deviation (or the median) over
the seeds of its setting, with the number of seeds that have a value. Published numbers stand in
their own rows, marked ``paper``, never mixed into ours.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

from ganzoo.report import DASH, render_table, run_value
from ganzoo.sweep import parse_sweep_name


# -- cells ------------------------------------------------------------------------------------------
def _row_key(rec: dict, axes: list[str]) -> tuple[str, ...]:
    s = rec.get("setting") or {}
    return tuple(str(s.get(a, "none")) for a in axes)


def _ordered_keys(records: list[dict], axes: list[str]) -> list[tuple[str, ...]]:
    """Row keys in the order the runs were expanded (suite order), each once."""
    seen: list[tuple[str, ...]] = []
    for r in records:
        k = _row_key(r, axes)
        if k not in seen:
            seen.append(k)
    return seen


def aggregate(values: list[float], stat: str) -> tuple[float | None, float | None]:
    """(centre, spread): mean and sample standard deviation, or median and half the range."""
    if not values:
        return None, None
    if stat == "median":
        return float(statistics.median(values)), (max(values) - min(values)) / 2 if len(values) > 1 else None
    return float(statistics.fmean(values)), (statistics.stdev(values) if len(values) > 1 else None)


def cell_text(values: list[float], stat: str, digits: int, missing: str = DASH, n_runs: int | None = None) -> str:
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


def _metric_name(records: list[dict], key: str) -> str | None:
    """The full metric name (``swd2k/swd_16``...) of value ``key``, ignoring sweep entries."""
    for r in records:
        for m in r["values"]:
            if m.rsplit("/", 1)[-1] == key and "~" not in m:
                return m
    return None


def _values(recs: list[dict], name: str | None, value: str) -> list[float]:
    if name is None:
        return []
    return [v for v in (run_value(r, name, value) for r in recs) if v is not None]


def _paper_rows(paper: list[dict], row_label: str) -> list[dict]:
    return [p for p in paper if p["row"] == row_label or
            (isinstance(p["row"], dict) and "/".join(p["row"].values()) == row_label)]


def _paper_cell(p: dict | None, digits: int) -> str:
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


# -- table kinds -----------------------------------------------------------------------------------
def table_metrics(records: list[dict], spec: dict, caption: list[str], paper: list[dict]) -> str:
    """One row per setting of the ``rows`` axes, one column per value key of ``metrics``.

    Published values (``row`` = the row label, ``column`` = the value key) follow each of our rows in
    a row of their own, per dataset.
    """
    rows_axes, keys, value = spec["rows"], spec["metrics"], spec.get("value", "final")
    stat, digits = spec.get("stat", "mean"), spec.get("digits", 2)
    names = {k: _metric_name(records, k) for k in keys}
    headers = ["/".join(rows_axes) or "setting", "source"] + keys
    body = []
    for rk in _ordered_keys(records, rows_axes):
        recs = [r for r in records if _row_key(r, rows_axes) == rk]
        label = "/".join(rk)
        dk = {k: (spec.get("digits_by") or {}).get(k, digits) for k in keys}
        body.append([label, f"ours ({stat} over seeds)"] +
                    [cell_text(_values(recs, names[k], value), stat, dk[k], spec.get("missing", DASH), len(recs))
                     for k in keys])
        for dataset in sorted({p.get("dataset", "") for p in _paper_rows(paper, label)}):
            mine = [p for p in _paper_rows(paper, label) if p.get("dataset", "") == dataset]
            body.append(["", f"paper, {dataset}"] +
                        [_paper_cell(next((p for p in mine if p["column"] == k), None), dk[k]) for k in keys])
    cap = list(caption) + [f"metric values: {', '.join(f'`{names[k] or k}`' for k in keys)}",
                           f"cells: {stat} {'± standard deviation' if stat == 'mean' else '~ half range'} "
                           "over seeds; (k/n) when only k of the n runs have a value"]
    if paper:
        cap.append("`paper` rows: published numbers ("
                   + "; ".join(sorted({p['cite'] for p in paper})) + "), at the paper's scale and data, "
                   "for the ordering of rows only: not produced by these runs")
    return render_table(spec["title"], cap + list(spec.get("notes", [])), headers, body)


def table_grid(records: list[dict], spec: dict, caption: list[str], paper: list[dict]) -> str:
    """Rows: labels of the ``rows`` axes; columns: labels of the ``columns`` axis; one metric."""
    rows_axes, col_axis, value = spec["rows"], spec["columns"], spec.get("value", "final")
    stat, digits = spec.get("stat", "mean"), spec.get("digits", 2)
    name = _metric_name(records, spec["metric"])
    cols = [k[0] for k in _ordered_keys(records, [col_axis])]
    order = [c for c in spec.get("column_order") or [] if c in cols]
    cols = order + [c for c in cols if c not in order]
    headers = ["/".join(rows_axes), "source"] + cols
    body = []
    for rk in _ordered_keys(records, rows_axes):
        label = "/".join(rk)
        cells = []
        for c in cols:
            recs = [r for r in records if _row_key(r, rows_axes) == rk and str(r["setting"].get(col_axis)) == c]
            cells.append(cell_text(_values(recs, name, value), stat, digits, spec.get("missing", DASH), len(recs))
                         if recs else "")
        body.append([label, f"ours ({stat} over seeds)"] + cells)
        mine = [p for p in _paper_rows(paper, label)]
        if mine:
            body.append(["", f"paper, {mine[0].get('dataset', '')}"] +
                        [_paper_cell(next((p for p in mine if p["column"] == c), None), digits) for c in cols])
    cap = list(caption) + [f"metric value: `{name or spec['metric']}`; cells: {stat} over seeds "
                           f"{'± standard deviation' if stat == 'mean' else '~ half range'}; (k/n): k of n runs have a value"]
    if paper:
        cap.append("`paper` rows: published numbers (" + "; ".join(sorted({p['cite'] for p in paper}))
                   + "), shown for the ordering only: not produced by these runs")
    return render_table(spec["title"], cap + list(spec.get("notes", [])), headers, body)


# -- truncation ------------------------------------------------------------------------------------
def truncation_curves(records: list[dict], rows_axes: list[str], fid: str = "fid", is_: str = "is",
                      ) -> dict[tuple[str, ...], dict[str, Any]]:
    """Per row: {psi: (median FID, median IS)} over seeds, and the median IS of the real data."""
    out = {}
    for rk in _ordered_keys(records, rows_axes):
        recs = [r for r in records if _row_key(r, rows_axes) == rk and r.get("status") == "finished"]
        points: dict[Any, dict[str, list[float]]] = {}
        data_is = []
        for r in recs:
            for m, v in r["values"].items():
                if m.endswith(f"~data/{is_}_data") and v.get("final") is not None:
                    data_is.append(float(v["final"]))
                parsed = parse_sweep_name(m)
                if parsed is None or v.get("final") is None or math.isnan(float(v["final"])):
                    continue
                base, psi = parsed
                key = base.rsplit("/", 1)[-1]
                if key in (fid, is_):
                    points.setdefault(psi, {}).setdefault(key, []).append(float(v["final"]))
        curve = {psi: (statistics.median(d[fid]) if d.get(fid) else None,
                       statistics.median(d[is_]) if d.get(is_) else None) for psi, d in points.items()}
        out[rk] = {"curve": curve, "data_is": statistics.median(data_is) if data_is else None,
                   "n": len(recs)}
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


def table_truncation(records: list[dict], spec: dict, caption: list[str], paper: list[dict]) -> str:
    rows_axes, digits = spec["rows"], spec.get("digits", 2)
    curves = truncation_curves(records, rows_axes)
    headers = ["/".join(rows_axes), "source", "no truncation", "best FID", "IS closest to the data's",
               "max IS", "data IS"]
    body = []
    for rk, c in curves.items():
        cols = truncation_columns(c["curve"], c["data_is"])
        label = "/".join(rk)
        body.append([label, "ours (FID / IS, medians over seeds)"] +
                    [_tcell(cols[k], digits) for k in ("none", "best_fid", "data_is", "max_is")] +
                    [f"{c['data_is']:.{digits}f}" if c["data_is"] is not None else DASH])
        mine = _paper_rows(paper, label)
        if mine:
            body.append(["", f"paper, {mine[0].get('dataset', '')} (FID / IS)"] +
                        [_paper_cell(next((p for p in mine if p["column"] == k), None), digits)
                         for k in ("none", "best_fid", "data_is", "max_is")] + [""])
    cap = list(caption) + [
        "each finished run's final G_ema evaluated at every truncation threshold psi (entries of z with "
        "|z_i| > psi redrawn), standing BN statistics recomputed at each psi; medians over seeds per psi, "
        "then the paper's four points of the curve; the data's IS uses the same extractor on real test images"]
    if paper:
        cap.append("`paper` rows: published FID / IS (" + "; ".join(sorted({p['cite'] for p in paper}))
                   + "), at ImageNet scale with Inception: for the shape of the trade-off only")
    return render_table(spec["title"], cap + list(spec.get("notes", [])), headers, body)


# -- figures ---------------------------------------------------------------------------------------
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: Path) -> Path:
    """Lay out, write and close a figure."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _select(records: list[dict], select: dict[str, list[str]]) -> list[dict]:
    return [r for r in records if all(str((r.get("setting") or {}).get(a)) in labs for a, labs in select.items())]


def plot_series(records: list[dict], series: dict[str, list[tuple]], spec: dict, path: Path) -> Path | None:
    """PGGAN Figure 4: each metric value (e.g. SWD per pyramid level) against training progress,
    one panel per row label, median over seeds at each evaluation point."""
    plt = _plt()
    recs = _select(records, spec.get("select") or {})
    rows_axes = spec["rows"]
    keys = _ordered_keys(recs, rows_axes)
    if not keys:
        return None
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.2), sharey=True, squeeze=False)
    for ax, rk in zip(axes[0], keys):
        rr = [r for r in recs if _row_key(r, rows_axes) == rk]
        for key in spec["metrics"]:
            by_step: dict[int, list[float]] = {}
            for r in rr:
                for step, metric, value in series.get(r["key"], []):
                    if metric.rsplit("/", 1)[-1] == key and "~" not in metric and value is not None:
                        by_step.setdefault(step, []).append(value)
            if by_step:
                steps = sorted(by_step)
                xs = steps
                if spec.get("x") == "kimg":
                    cfg = _first_config(rr)
                    per_step = cfg["train"]["batch_size"] * cfg["train"]["n_disc"] / 1000 if cfg else 1
                    xs = [s * per_step for s in steps]
                ax.plot(xs, [statistics.median(by_step[s]) for s in steps], marker=".", label=key)
        ax.set_title("/".join(rk), fontsize=9)
        ax.set_xlabel("kimg (approx.)" if spec.get("x") == "kimg" else "G step")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(spec["title"], fontsize=10)
    return _save(plt, fig, path)


def _first_config(recs: list[dict]) -> dict | None:
    import json

    for r in recs:
        if r.get("config"):
            return json.loads(r["config"])
    return None


def plot_bars(records: list[dict], spec: dict, path: Path) -> Path | None:
    """Grouped bars: groups = row labels, bars = labels of the ``columns`` axis, mean ± std over seeds."""
    plt = _plt()
    name = _metric_name(records, spec["metric"])
    if name is None:
        return None
    rows = _ordered_keys(records, spec["rows"])
    cols = [k[0] for k in _ordered_keys(records, [spec["columns"]])]
    fig, ax = plt.subplots(figsize=(2.0 + 0.5 * len(cols) * len(rows), 3.4))
    width = 0.8 / max(1, len(cols))
    for j, c in enumerate(cols):
        means, errs = [], []
        for rk in rows:
            recs = [r for r in records if _row_key(r, spec["rows"]) == rk and str(r["setting"].get(spec["columns"])) == c]
            m, s = aggregate(_values(recs, name, spec.get("value", "final")), "mean")
            means.append(m if m is not None else 0.0)
            errs.append(s or 0.0)
        ax.bar([i + j * width for i in range(len(rows))], means, width, yerr=errs, label=c, capsize=2)
    ax.set_xticks([i + width * (len(cols) - 1) / 2 for i in range(len(rows))])
    ax.set_xticklabels(["/".join(r) for r in rows])
    ax.set_ylabel(spec["metric"])
    ax.legend(fontsize=7, ncol=min(3, len(cols)))
    ax.set_title(spec["title"], fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return _save(plt, fig, path)


def plot_truncation(records: list[dict], spec: dict, path: Path) -> Path | None:
    """BigGAN Figure 17-style: IS against FID along the truncation sweep, one curve per row."""
    plt = _plt()
    curves = truncation_curves(records, spec["rows"])
    if not any(c["curve"] for c in curves.values()):
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
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
    ax.set_title(spec["title"], fontsize=8)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _save(plt, fig, path)


def _first_seed_runs(records: list[dict], spec: dict) -> dict[tuple[str, ...], dict]:
    """Per row of the selected runs that have a run directory, the run with the lowest seed."""
    recs = [r for r in _select(records, spec.get("select") or {}) if r.get("run_dir")]
    picked: dict[tuple[str, ...], dict] = {}
    for r in sorted(recs, key=lambda r: r["seed"]):
        picked.setdefault(_row_key(r, spec["rows"]), r)
    return picked


def plot_sv(records: list[dict], spec: dict, path: Path) -> Path | None:
    """BigGAN Figure 3: the top singular value of each G and D layer against G steps, for the
    first seed of each selected row (from the runs' ``sv.jsonl``)."""
    import json

    plt = _plt()
    panels = []
    for rk, r in _first_seed_runs(records, spec).items():
        f = Path(r["run_dir"]) / "sv.jsonl"
        if f.exists():
            panels.append((rk, [json.loads(x) for x in f.read_text().splitlines() if x.strip()]))
    if not panels:
        return None
    fig, axes = plt.subplots(2, len(panels), figsize=(3.4 * len(panels), 5.2), squeeze=False)
    for j, (rk, recs_sv) in enumerate(panels):
        for i, net in enumerate(("G", "D")):
            ax = axes[i][j]
            layers = list(recs_sv[0].get(net, {}))
            cmap = plt.get_cmap("rainbow")
            for n, layer in enumerate(layers):
                ax.plot([x["step"] for x in recs_sv], [x[net].get(layer) for x in recs_sv], lw=0.8,
                        color=cmap(n / max(1, len(layers) - 1)))
            ax.set_yscale("log")
            ax.set_title(f"{'/'.join(rk)}: {net}", fontsize=8)
            ax.grid(alpha=0.3)
            if i == 1:
                ax.set_xlabel("G step")
    axes[0][0].set_ylabel("sigma_0 per layer")
    fig.suptitle(spec["title"], fontsize=10)
    return _save(plt, fig, path)


def plot_samples(records: list[dict], spec: dict, path: Path) -> Path | None:
    """The last sample grid of the first seed of each selected row, side by side."""
    plt = _plt()
    from PIL import Image

    panels = []
    for rk, r in _first_seed_runs(records, spec).items():
        grids = sorted((Path(r["run_dir"]) / "samples").glob("step-*.png"))
        if grids:
            panels.append((rk, grids[-1]))
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 3.0), squeeze=False)
    for ax, (rk, grid) in zip(axes[0], panels):
        ax.imshow(Image.open(grid).convert("RGB"))
        ax.set_title("/".join(rk), fontsize=7)
        ax.axis("off")
    fig.suptitle(spec["title"], fontsize=9)
    return _save(plt, fig, path)
