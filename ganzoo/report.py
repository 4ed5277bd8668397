"""Comparison tables of a benchmark suite: rows of strings computed from run records, rendered as markdown.

The self-modulation study (Chen et al., ICLR 2019, Section 3.2) compares self-modulated batch norm
against plain batch norm over a grid of losses, Lipschitz controls (spectral norm, or gradient
penalty with lambda in {1, 10}), architectures and Adam settings, five seeds each. Its two comparisons
are reproduced here:

* **Unpaired** (Tables 2 and 3): "We compute the median score across random seeds"; a *model* is the
  tuple (loss, regulariser/normalisation, architecture, conditioning), and "for each model [we]
  compute the minimum FID across optimization hyperparameters". For gradient penalty that minimum
  also runs over lambda. :func:`best_of` does exactly this; :func:`reductions` gives Table 3's
  relative reduction ``(FID_BN - FID_SM) / FID_BN``.
* **Paired**: "we fix everything except the type of conditioning -- the model tuple now includes the
  optimization hyperparameters" -- i.e. the same hyperparameters on both sides, medians over seeds
  compared setting by setting ("self-modulation outperforms the baseline in 124/144 settings").
  :func:`paired` counts wins, losses and ties and adds a sign test.

Input records are plain dicts, one per run::

    {"setting": {"dataset": "mnist", "loss": "ns", "arch": "sndcgan", "penalty": "gp10",
                 "penalty.group": "GP", "opt": "b", "method": "selfmod"},
     "seed": 0, "status": "finished",        # finished | diverged | failed | pending | running
     "values": {"fid2k@mnist-cnn/fid": {"best": 31.2, "final": 35.0, "best_step": 800}}}

Only ``finished`` and ``diverged`` runs are results. A diverged run counts with the value it has
(its best before divergence): the paper reports the best FID attained during training. Failed,
pending and running runs never count, even if they carry values.

Everything here is a pure function of the records; the renderer returns a string and
:func:`plot_paired` writes one PNG atomically. Paper numbers are only ever shown in columns labelled
``paper (<dataset>)``, never mixed with ours; a table is computed for one metric key (which names the
metric protocol), so a table never mixes protocols.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

COUNTED_STATUSES = ("finished", "diverged")
DASH = "—"
DIVERGED_MARK = "†"

# A setting without its seed: sorted ((axis, label), ...) pairs.
Setting = tuple[tuple[str, str], ...]


# ---------------------------------------------------------------------------------------------
# Formatting helpers
# ---------------------------------------------------------------------------------------------

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


def fmt_p(p: float | None) -> str:
    """A p-value: three decimals down to 0.01, scientific notation below, ``"—"`` when undefined."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return DASH
    return f"{p:.3f}" if p >= 0.01 else f"{p:.2e}"


def fmt_range(lo: float | None, hi: float | None, digits: int = 2) -> str:
    """The spread over seeds as ``"[lo, hi]"``."""
    return f"[{fmt(lo, digits)}, {fmt(hi, digits)}]"


def setting_key(setting: dict[str, Any]) -> Setting:
    """The key of a setting dict: its (axis, label) pairs, labels as strings, sorted by axis."""
    return tuple(sorted((str(k), str(v)) for k, v in setting.items()))


def _label(setting: Setting, axis: str, missing: str = "none") -> str:
    return dict(setting).get(axis, missing)


# ---------------------------------------------------------------------------------------------
# Median over seeds
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    """The runs of one setting (all axes fixed), seeds aggregated.

    ``values``: the sorted values of the runs that count (finished, or diverged with a value);
    ``n_seeds == len(values)``; ``median`` is their median (mean of the middle two for an even count),
    None when no run has a value. ``n_diverged`` counts every diverged run of the setting (with or
    without a value); ``n_missing`` counts the runs without a usable value (failed, pending, running,
    a diverged run that never produced one, or the metric absent/NaN).
    """

    median: float | None
    values: list[float]
    n_seeds: int
    n_diverged: int
    n_missing: int

    @property
    def spread(self) -> tuple[float | None, float | None]:
        """(min, max) over seeds."""
        return (self.values[0], self.values[-1]) if self.values else (None, None)


def run_value(record: dict, metric: str, value: str = "best") -> float | None:
    """The value a run contributes, or None: only finished/diverged runs with a non-NaN number count."""
    if record.get("status") not in COUNTED_STATUSES:
        return None
    v = ((record.get("values") or {}).get(metric) or {}).get(value)
    if v is None:
        return None
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def median_over_seeds(records: Iterable[dict], metric: str, value: str = "best") -> dict[Setting, Cell]:
    """Median over seeds of ``values[metric][value]`` for every setting (the setting dict, seed dropped).

    This is the paper's first step: "We compute the median score across random seeds". With
    ``value="best"`` each run contributes the best value attained during training (the paper reports
    "the best performing model attained during the training period"), so a **diverged** run
    contributes its best value from before divergence, and is counted in ``n_diverged``. Failed,
    pending and running runs never contribute; they (and diverged runs without a value) are counted
    in ``n_missing``. Every setting that has a record appears, with ``median=None`` if none counts.
    """
    groups: dict[Setting, list[dict]] = {}
    for rec in records:
        groups.setdefault(setting_key(rec.get("setting") or {}), []).append(rec)
    out: dict[Setting, Cell] = {}
    for key in sorted(groups):
        recs = groups[key]
        vals = sorted(v for v in (run_value(r, metric, value) for r in recs) if v is not None)
        out[key] = Cell(
            median=float(statistics.median(vals)) if vals else None,
            values=vals,
            n_seeds=len(vals),
            n_diverged=sum(r.get("status") == "diverged" for r in recs),
            n_missing=len(recs) - len(vals),
        )
    return out


@dataclass(frozen=True)
class RunCounts:
    """How many runs a table rests on: ``counted`` have a value; ``diverged`` is a subset of all runs."""

    total: int
    counted: int
    diverged: int
    diverged_counted: int
    missing: int


def count_runs(records: Iterable[dict], metric: str, value: str = "best") -> RunCounts:
    records = list(records)
    has = [run_value(r, metric, value) is not None for r in records]
    div = [r.get("status") == "diverged" for r in records]
    return RunCounts(total=len(records), counted=sum(has), diverged=sum(div),
                     diverged_counted=sum(h and d for h, d in zip(has, div)), missing=len(records) - sum(has))


# ---------------------------------------------------------------------------------------------
# Unpaired: best over hyperparameters (Table 2) and relative reductions (Table 3)
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BestCell:
    """One (row, column) cell of a best-of table.

    ``value``: the median over seeds of the winning setting (None if no candidate has one);
    ``setting``: the winning (argmin, or argmax) full setting; ``cell``: its :class:`Cell` (spread
    over its seeds, diverged count); ``n_candidates``: settings considered, ``n_with_value`` of them
    with a median.
    """

    value: float | None
    setting: Setting | None
    cell: Cell | None
    n_candidates: int
    n_with_value: int

    @property
    def spread(self) -> tuple[float | None, float | None]:
        return self.cell.spread if self.cell is not None else (None, None)

    @property
    def diverged(self) -> bool:
        """Whether the winning setting had a diverged run."""
        return self.cell is not None and self.cell.n_diverged > 0


@dataclass
class TableData:
    """The result of :func:`best_of`: ``cells[(row_key, column_label)]`` and ``best_row[column_label]``."""

    metric: str
    value: str
    rows: list[str]
    columns: str
    minimize_over: list[str]
    lower_is_better: bool
    row_keys: list[tuple[str, ...]]
    column_labels: list[str]
    cells: dict[tuple[tuple[str, ...], str], BestCell]
    best_row: dict[str, BestCell]

    def row_of(self, setting: Setting) -> tuple[str, ...]:
        return tuple(_label(setting, ax) for ax in self.rows)


def _pick(candidates: list[tuple[Setting, Cell]], lower_is_better: bool) -> BestCell:
    scored = [(s, c) for s, c in candidates if c.median is not None]
    if not scored:
        return BestCell(None, None, None, len(candidates), 0)
    sign = 1.0 if lower_is_better else -1.0
    # Ties go to the first setting in sorted order, so the choice is deterministic.
    s, c = min(scored, key=lambda sc: (sign * sc[1].median, sc[0]))
    return BestCell(c.median, s, c, len(candidates), len(scored))


def best_of(records: Iterable[dict], metric: str, rows: list[str], columns: str, minimize_over: list[str],
            value: str = "best", lower_is_better: bool = True) -> TableData:
    """The paper's Table 2: median over seeds, then the minimum over optimizer settings.

    In the paper's words: "We compute the median score across random seeds", and "for each model
    compute the minimum FID across optimization hyperparameters", where a model is (loss,
    regulariser/normalisation, architecture, conditioning). Here:

    1. :func:`median_over_seeds` gives one median per full setting;
    2. settings are grouped by (row key, column label), the row key being the labels of the ``rows``
       axes (e.g. ``["penalty.group", "arch", "loss"]``) and the column label that of ``columns``
       (e.g. ``"method"``);
    3. within a group the min (``lower_is_better=False``: the max) over the ``minimize_over`` axes is
       taken (e.g. ``["opt", "penalty"]``). Rows may name a group axis such as ``penalty.group``, so
       the GP row's minimum includes the choice of lambda, as in the paper.

    Every cell remembers its winning setting and that setting's spread (min-max over its seeds).
    ``best_row`` is the paper's "Best of above": per column, the best cell over all rows.

    Any other axis must be constant within a cell (a table never mixes, e.g., datasets); a
    ValueError says which axis varies. Rows and columns are ordered by label.
    """
    cells = median_over_seeds(records, metric, value)
    free = set(rows) | {columns} | set(minimize_over) | {f"{ax}.group" for ax in minimize_over}
    groups: dict[tuple[tuple[str, ...], str], list[tuple[Setting, Cell]]] = {}
    for s, c in cells.items():
        rk = tuple(_label(s, ax) for ax in rows)
        groups.setdefault((rk, _label(s, columns)), []).append((s, c))
    for (rk, col), cands in groups.items():
        fixed = {}
        for s, _ in cands:
            for ax, lab in s:
                if ax not in free:
                    fixed.setdefault(ax, set()).add(lab)
        for ax, labs in fixed.items():
            if len(labs) > 1:
                raise ValueError(
                    f"axis {ax!r} varies within the cell {rk}/{col} ({', '.join(sorted(labs))}): select the "
                    f"records first, or name the axis in rows or minimize_over")
    out = {key: _pick(cands, lower_is_better) for key, cands in groups.items()}
    row_keys = sorted({rk for rk, _ in groups})
    col_labels = sorted({col for _, col in groups})
    best_row = {}
    for col in col_labels:
        winners = [(b.setting, b.cell) for (rk, c), b in out.items() if c == col and b.setting is not None]
        best = _pick(winners, lower_is_better)
        best_row[col] = BestCell(best.value, best.setting, best.cell,
                                 sum(b.n_candidates for (rk, c), b in out.items() if c == col),
                                 sum(b.n_with_value for (rk, c), b in out.items() if c == col))
    return TableData(metric=metric, value=value, rows=list(rows), columns=columns,
                     minimize_over=list(minimize_over), lower_is_better=lower_is_better,
                     row_keys=row_keys, column_labels=col_labels, cells=out, best_row=best_row)


def relative_reduction(base: float | None, treat: float | None) -> float | None:
    """``100 * (base - treat) / base`` in %; None when either is missing/non-finite or base is 0."""
    if base is None or treat is None or not math.isfinite(base) or not math.isfinite(treat) or base == 0:
        return None
    return 100.0 * (base - treat) / base


@dataclass(frozen=True)
class ReductionRow:
    row: tuple[str, ...]
    baseline: float | None
    treatment: float | None
    reduction: float | None  # %; positive: treatment lower


def reductions(table: TableData, baseline: str, treatment: str) -> list[ReductionRow]:
    """The paper's Table 3: per row, the relative reduction ``100 * (base - treat) / base`` in %.

    ``base`` and ``treat`` are the best-of values (median over seeds, then min over the optimizer
    settings) of the ``baseline`` and ``treatment`` columns. Positive means the treatment is lower,
    i.e. better when lower is better (FID); for a higher-is-better metric the sign is reversed.
    None when either side is missing.
    """
    out = []
    for rk in table.row_keys:
        b = table.cells.get((rk, baseline))
        t = table.cells.get((rk, treatment))
        bv = b.value if b else None
        tv = t.value if t else None
        out.append(ReductionRow(rk, bv, tv, relative_reduction(bv, tv)))
    return out


# ---------------------------------------------------------------------------------------------
# Paired comparison
# ---------------------------------------------------------------------------------------------

def sign_test(wins: int, losses: int) -> float | None:
    """Two-sided sign test (exact binomial, p = 1/2) of wins vs losses; None when both are 0."""
    if wins + losses == 0:
        return None
    from scipy.stats import binomtest

    return float(binomtest(wins, wins + losses, 0.5, alternative="two-sided").pvalue)


@dataclass(frozen=True)
class PairedPoint:
    """One paired setting: all axes but the method axis fixed, each side the median over seeds."""

    setting: Setting
    baseline: float
    treatment: float
    outcome: str  # "win" | "loss" | "tie" (for the treatment)


@dataclass
class Paired:
    """Wins/losses/ties of the treatment against the baseline over paired settings."""

    metric: str
    value: str
    method_axis: str
    baseline: str
    treatment: str
    lower_is_better: bool
    pairs: list[PairedPoint]
    unpaired: int = 0  # settings where only one method has a median
    wins: int = field(init=False)
    losses: int = field(init=False)
    ties: int = field(init=False)

    def __post_init__(self) -> None:
        self.wins = sum(p.outcome == "win" for p in self.pairs)
        self.losses = sum(p.outcome == "loss" for p in self.pairs)
        self.ties = sum(p.outcome == "tie" for p in self.pairs)

    @property
    def n(self) -> int:
        return len(self.pairs)

    @property
    def win_rate(self) -> float | None:
        """wins / all compared settings (a tie is not a win), as the paper's 124/144."""
        return self.wins / self.n if self.n else None

    @property
    def p_value(self) -> float | None:
        return sign_test(self.wins, self.losses)

    def subset(self, axis: str, label: str) -> "Paired":
        """The pairs whose setting has ``axis == label`` (``unpaired`` is not split and set to 0)."""
        return Paired(self.metric, self.value, self.method_axis, self.baseline, self.treatment,
                      self.lower_is_better, [p for p in self.pairs if _label(p.setting, axis) == label])


def paired(records: Iterable[dict], metric: str, method_axis: str = "method", baseline: str = "bn",
           treatment: str = "selfmod", value: str = "best", lower_is_better: bool = True,
           tie_tol: float = 0.0) -> Paired:
    """The paper's paired comparison: same hyperparameters, only the conditioning differs.

    "We fix everything except the type of conditioning -- the model tuple now includes the
    optimization hyperparameters." For every setting (all axes but ``method_axis``, including the
    optimizer settings and lambda) where both methods have a median over seeds, the treatment wins
    if its median is better (lower, or higher when ``lower_is_better=False``) by more than
    ``tie_tol``, loses if worse by more than ``tie_tol``, and ties otherwise. ``p_value`` is a
    two-sided sign test on wins vs losses (ties dropped; ``scipy.stats.binomtest``). Settings with
    only one side are counted in ``unpaired``.
    """
    cells = median_over_seeds(records, metric, value)
    sides: dict[Setting, dict[str, float | None]] = {}
    for s, c in cells.items():
        d = dict(s)
        m = d.pop(method_axis, None)
        if m not in (baseline, treatment):
            continue
        sides.setdefault(tuple(sorted(d.items())), {})[m] = c.median
    pairs, unpaired = [], 0
    for s in sorted(sides):
        b, t = sides[s].get(baseline), sides[s].get(treatment)
        if b is None or t is None:
            unpaired += 1
            continue
        gain = (b - t) if lower_is_better else (t - b)
        if b == t or abs(gain) <= tie_tol:
            outcome = "tie"
        else:
            outcome = "win" if gain > 0 else "loss"
        pairs.append(PairedPoint(s, b, t, outcome))
    return Paired(metric, value, method_axis, baseline, treatment, lower_is_better, pairs, unpaired)


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------

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


def _value_words(value: str) -> str:
    return {"best": "best value during training", "final": "value of the final model"}.get(value, value)


def _spec(spec: dict) -> dict:
    s = {"value": "best", "lower_is_better": True, "baseline": "bn", "treatment": "selfmod",
         "method_axis": "method"}
    s.update(spec)
    return s


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
    return (f"ours: `{table.metric}` ({_value_words(table.value)}) per run; median over seeds per setting, "
            f"then the {op} over {', '.join(table.minimize_over)} per row and column (the paper's procedure)"
            + ("; [lo, hi] = range over the seeds of the winning setting" if spread else ""))


def table_best_of(records: Iterable[dict], spec: dict, caption: list[str], paper: list[dict] | None = None) -> str:
    """Markdown for Table 2: per row, ours per column (best of the ``minimize_over`` axes), the paper beside.

    ``spec``: ``metric``, ``rows``, ``columns``, ``minimize_over``, optional ``value`` ("best"),
    ``lower_is_better`` (True), ``title``, ``column_order``, ``digits`` (2). ``paper``: published
    numbers ``{"row": {axis: label, ...} or "best", "column": label, "value": x, "dataset": name,
    "cite": "..."}``, shown in ``paper (<dataset>): <column>`` columns. A cell of ours reads
    ``median [min, max]`` (the winning setting's median and range over its seeds), ``†`` when that
    setting had a diverged run; the last columns name the winning setting's ``minimize_over`` labels.
    """
    records = list(records)
    s = _spec(spec)
    paper = list(paper or [])
    digits = int(s.get("digits", 2))
    table = best_of(records, s["metric"], s["rows"], s["columns"], s["minimize_over"], value=s["value"],
                    lower_is_better=s["lower_is_better"])
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
    lines = list(caption) + [_procedure_line(table)] + _run_lines(records, table.metric, table.value)
    if paper:
        lines += _paper_lines(paper, len(used))
    title = s.get("title") or f"{table.metric}: best over {', '.join(table.minimize_over)} (median over seeds)"
    return render_table(title, lines, headers, out)


def _paper_reduction(paper: list[dict], rows: list[str], rk, dataset: str, base: str, treat: str) -> float | None:
    direct = _paper_value(paper, rows, rk, dataset, "reduction")
    if direct is not None:
        return direct
    return relative_reduction(_paper_value(paper, rows, rk, dataset, base),
                              _paper_value(paper, rows, rk, dataset, treat))


def table_reductions(records: Iterable[dict], spec: dict, caption: list[str],
                     paper: list[dict] | None = None) -> str:
    """Markdown for Table 3: per row, ``100 * (base - treat) / base`` of the best-of values, the paper beside.

    ``spec`` as for :func:`table_best_of`, plus ``baseline`` ("bn") and ``treatment`` ("selfmod").
    The paper's reduction per row comes from an entry with ``"column": "reduction"`` if given, else
    from its baseline and treatment values (Table 2).
    """
    records = list(records)
    s = _spec(spec)
    paper = list(paper or [])
    digits = int(s.get("digits", 2))
    base, treat = s["baseline"], s["treatment"]
    table = best_of(records, s["metric"], s["rows"], s["columns"], s["minimize_over"], value=s["value"],
                    lower_is_better=s["lower_is_better"])
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
    lines = list(caption) + [
        _procedure_line(table, spread=False),
        f"reduction (%) = 100 * ({base} - {treat}) / {base} on those values; {sign}",
        f"{treat} better in {better}/{len(known)} rows"
        + (f"; reductions from {fmt(min(known), digits)} % to {fmt(max(known), digits)} %" if known else ""),
    ] + _run_lines(records, table.metric, table.value, mark=False)
    if paper:
        used = sum(any(_paper_match(e, table.rows, rk) for rk in [*table.row_keys, "best"]) for e in paper)
        lines += _paper_lines(paper, used)
    title = s.get("title") or f"{table.metric}: relative reduction, {treat} vs {base}"
    return render_table(title, lines, headers, out)


def table_paired(records: Iterable[dict], spec: dict, caption: list[str]) -> str:
    """Markdown for the paired comparison: wins/losses/ties, win rate and sign-test p.

    ``spec``: ``metric``, optional ``value``, ``lower_is_better``, ``method_axis`` ("method"),
    ``baseline`` ("bn"), ``treatment`` ("selfmod"), ``tie_tol`` (0), ``by`` (an axis or list of axes
    to break the count down by, e.g. "arch" or ["dataset", "arch"]), ``title``. The paper's headline
    (124/144) belongs in ``caption``, given by the caller.
    """
    records = list(records)
    s = _spec(spec)
    p = paired(records, s["metric"], method_axis=s["method_axis"], baseline=s["baseline"],
               treatment=s["treatment"], value=s["value"], lower_is_better=s["lower_is_better"],
               tie_tol=float(s.get("tie_tol", 0.0)))
    by = s.get("by") or []
    by = [by] if isinstance(by, str) else list(by)

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
    lines = list(caption) + [
        f"ours: `{p.metric}` ({_value_words(p.value)}) per run, median over seeds per setting",
        f"paired: same hyperparameters -- every axis but `{p.method_axis}` fixed (optimizer settings and "
        f"lambda included); {t} wins when its median is {better} than {s['baseline']}'s"
        + (f" by more than {s['tie_tol']}" if s.get("tie_tol") else ""),
        "win rate = wins / compared (a tie is no win); sign test: exact binomial on wins vs losses, ties dropped",
        f"settings with only one method's median (not compared): {p.unpaired}",
    ] + _run_lines(records, p.metric, p.value, mark=False)
    title = s.get("title") or f"{p.metric}: paired comparison, {t} vs {s['baseline']}"
    return render_table(title, lines, headers, rows)


# ---------------------------------------------------------------------------------------------
# Plot
# ---------------------------------------------------------------------------------------------

def plot_paired(paired: Paired, path: str | Path, title: str, label_axis: str = "arch") -> Path:
    """Scatter of baseline (x) vs treatment (y) per paired setting, with the y = x diagonal.

    Points are coloured by the setting's ``label_axis`` label; both axes are logarithmic when the
    values span more than 10x. A text box gives the win count and sign-test p. Non-finite values are
    left out (and counted in the box). The PNG is written atomically.
    """
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ganzoo.checkpoint import atomic_write_bytes

    pts = [p for p in paired.pairs if math.isfinite(p.baseline) and math.isfinite(p.treatment)]
    fig = Figure(figsize=(5.5, 5.0), dpi=100)
    FigureCanvasAgg(fig)
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
        ax.legend(loc="lower right", fontsize=8)
    where = "below" if paired.lower_is_better else "above"
    ax.set_xlabel(f"{paired.baseline}: {paired.metric} ({paired.value})")
    ax.set_ylabel(f"{paired.treatment}: {paired.metric} ({paired.value})")
    ax.set_title(f"{title}\n({where} the diagonal: {paired.treatment} better)", fontsize=10)
    box = (f"{paired.treatment} better: {paired.wins}/{paired.n}\n"
           f"losses {paired.losses}, ties {paired.ties}\nsign test p = {fmt_p(paired.p_value)}")
    if len(pts) < paired.n:
        box += f"\nnot shown (non-finite): {paired.n - len(pts)}"
    ax.text(0.03, 0.97, box, transform=ax.transAxes, va="top", ha="left", fontsize=8,
            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85, "edgecolor": "0.6"})
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    data = buf.getvalue()
    path = Path(path)
    atomic_write_bytes(path, lambda f: f.write(data))
    return path
