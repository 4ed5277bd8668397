"""The statistics of the results tables: medians over seeds, best-of, reductions, paired wins, spread.

The self-modulation study (Chen et al., ICLR 2019, Section 3.2) fixes the procedures:

* **Unpaired** (Tables 2 and 3): "We compute the median score across random seeds"; a *model* is the
  tuple (loss, regulariser/normalisation, architecture, conditioning), and "for each model [we]
  compute the minimum FID across optimization hyperparameters" (for gradient penalty the minimum
  also runs over lambda). :func:`best_of` does exactly this; :func:`reductions` gives Table 3's
  relative reduction ``(FID_BN - FID_SM) / FID_BN``.
* **Paired**: the same hyperparameters on both sides, medians over seeds compared setting by
  setting ("self-modulation outperforms the baseline in 124/144 settings"). :func:`paired` counts
  wins, losses and ties and adds a sign test.

:func:`aggregate` gives the per-row mean ± standard deviation (or median ~ half range) of the
PGGAN and BigGAN tables. Only ``finished`` and ``diverged`` runs are results; a diverged run counts
with the value it has (its best before divergence, as the papers report the best attained during
training). Everything here is a pure function of :class:`~ganzoo.report.records.RunRecord` lists
(plain dicts are accepted and converted); nothing imports torch or matplotlib.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Iterable

from ganzoo.report.records import RunRecord, coerce

# A setting without its seed: sorted ((axis, label), ...) pairs.
Setting = tuple[tuple[str, str], ...]


def setting_key(setting: dict[str, Any]) -> Setting:
    """The key of a setting dict: its (axis, label) pairs, labels as strings, sorted by axis."""
    return tuple(sorted((str(k), str(v)) for k, v in setting.items()))


def label(setting: Setting, axis: str, missing: str = "none") -> str:
    return dict(setting).get(axis, missing)


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


def median_over_seeds(records: Iterable[dict], metric: str, value: str = "best") -> dict[Setting, Cell]:
    """Median over seeds of ``values[metric][value]`` for every setting (the setting dict, seed dropped).

    This is the paper's first step: "We compute the median score across random seeds". With
    ``value="best"`` each run contributes the best value attained during training (the paper reports
    "the best performing model attained during the training period"), so a **diverged** run
    contributes its best value from before divergence, and is counted in ``n_diverged``. Failed,
    pending and running runs never contribute; they (and diverged runs without a value) are counted
    in ``n_missing``. Every setting that has a record appears, with ``median=None`` if none counts.
    """
    groups: dict[Setting, list[RunRecord]] = {}
    for rec in coerce(records):
        groups.setdefault(setting_key(rec.setting), []).append(rec)
    out: dict[Setting, Cell] = {}
    for key in sorted(groups):
        recs = groups[key]
        vals = sorted(v for v in (r.value(metric, value) for r in recs) if v is not None)
        out[key] = Cell(
            median=float(statistics.median(vals)) if vals else None,
            values=vals,
            n_seeds=len(vals),
            n_diverged=sum(r.status == "diverged" for r in recs),
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


def count_runs(records: Iterable[RunRecord | dict], metric: str, value: str = "best") -> RunCounts:
    records = coerce(records)
    has = [r.value(metric, value) is not None for r in records]
    div = [r.status == "diverged" for r in records]
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
        return tuple(label(setting, ax) for ax in self.rows)


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
        rk = tuple(label(s, ax) for ax in rows)
        groups.setdefault((rk, label(s, columns)), []).append((s, c))
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

    def subset(self, axis: str, value: str) -> "Paired":
        """The pairs whose setting has ``axis == label`` (``unpaired`` is not split and set to 0)."""
        return Paired(self.metric, self.value, self.method_axis, self.baseline, self.treatment,
                      self.lower_is_better, [p for p in self.pairs if label(p.setting, axis) == value])


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
    a median on only one side are counted in ``unpaired``; settings with none on either are not.
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
        if b is None and t is None:  # no value on either side yet: nothing to pair
            continue
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


def aggregate(values: list[float], stat: str) -> tuple[float | None, float | None]:
    """(centre, spread): mean and sample standard deviation, or median and half the range."""
    if not values:
        return None, None
    if stat == "median":
        return float(statistics.median(values)), (max(values) - min(values)) / 2 if len(values) > 1 else None
    return float(statistics.fmean(values)), (statistics.stdev(values) if len(values) > 1 else None)


def row_key(rec: RunRecord, axes: list[str]) -> tuple[str, ...]:
    """The labels of ``axes`` in a run's setting ("none" where the setting lacks the axis)."""
    return tuple(str(rec.setting.get(a, "none")) for a in axes)


def ordered_row_keys(records: Iterable[RunRecord], axes: list[str]) -> list[tuple[str, ...]]:
    """Row keys in the order the runs were expanded (suite order), each once."""
    seen: list[tuple[str, ...]] = []
    for r in records:
        k = row_key(r, axes)
        if k not in seen:
            seen.append(k)
    return seen


def select(records: Iterable[RunRecord], selection: dict[str, list[str]]) -> list[RunRecord]:
    """The records whose setting has, for every axis of ``selection``, one of its labels."""
    return [r for r in records if all(str(r.setting.get(a)) in labs for a, labs in selection.items())]


def first_seed_runs(records: Iterable[RunRecord], axes: list[str]) -> dict[tuple[str, ...], RunRecord]:
    """Per row of ``axes``, the run with the lowest seed (the one whose samples and curves are shown)."""
    picked: dict[tuple[str, ...], RunRecord] = {}
    for r in sorted(records, key=lambda r: r.seed):
        picked.setdefault(row_key(r, axes), r)
    return picked
