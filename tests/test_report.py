"""Report arithmetic on hand-made records: median over seeds, best-of (Table 2), reductions (Table 3),
paired wins and the sign test, markdown rendering and the paired scatter plot (the self-modulation
kinds of ganzoo_selfmod, run through the core's Context as a suite report runs them)."""

from __future__ import annotations

import re

import pytest
from scipy.stats import binomtest

from ganzoo import report
from ganzoo.report import Context, coerce, fmt, render_table
from ganzoo.report.figures import new_figure, save
from ganzoo.report.stats import (Cell, best_of, median_over_seeds, paired, reductions, relative_reduction,
                                 setting_key, sign_test)
from ganzoo_selfmod import tables as sm


def _kind(rows_fn, spec_cls, records, spec, caption, paper=()):
    """Run a self-modulation table kind as the core does; markdown with ``caption`` first."""
    spec = spec_cls(kind="k", title=spec.get("title", "T"), **{**{k: v for k, v in spec.items() if k != "title"},
                                                                "metric": "fid"})
    ctx = Context("suite", "tiny", coerce(records), [{**p, "metric": "fid"} for p in paper])
    rows = rows_fn(coerce(records), spec, ctx)
    return render_table(spec.title, list(caption) + rows.notes, rows.headers, rows.rows)


def table_best_of(records, spec, caption, paper=()):
    return _kind(sm.best_of_rows, sm.BestOfSpec, records, spec, caption, paper)


def table_reductions(records, spec, caption, paper=()):
    return _kind(sm.reductions_rows, sm.BestOfSpec, records, spec, caption, paper)


def table_paired(records, spec, caption):
    spec = {k: v for k, v in spec.items() if k in ("metric", "value", "lower_is_better", "by", "title")}
    if isinstance(spec.get("by"), str):
        spec["by"] = [spec["by"]]
    return _kind(sm.paired_rows, sm.PairedSpec, records, spec, caption)

METRIC = "fid2k@mnist-cnn/fid"

# The grid: 2 archs x 2 losses x penalties {sn, gp1, gp10} x 2 opts x 2 methods x 3 seeds = 144 runs.
# A run's value is the sum of the offsets below, so every median is easy to compute by hand:
# the seed offsets are {-1, 0, +3}, so the median over three seeds is the sum without the seed term.
ARCH = {"resnet": 20, "sndcgan": 40}
LOSS = {"hinge": 0, "ns": 3}
PENALTY = {"sn": 0, "gp1": 6, "gp10": 2}
GROUP = {"sn": "SN", "gp1": "GP", "gp10": "GP"}
OPT = {"a": 1, "b": 0}
METHOD = {"selfmod": 0, "bn": 4}
SEED = {0: -1, 1: 0, 2: 3}
# Exceptions, so that the paired comparison has a loss and a tie (selfmod medians: 44 and 46):
EXTRA = {
    ("sndcgan", "ns", "sn", "a", "bn"): -6,    # bn 40+3+0+1+4-6 = 42 < selfmod 44: a loss
    ("sndcgan", "ns", "gp10", "a", "bn"): -4,  # bn 40+3+2+1+4-4 = 46 = selfmod 46: a tie
}
# (arch, loss, penalty, opt, method, seed) -> status; a diverged run keeps its (pre-divergence) best value.
STATUS = {
    ("resnet", "hinge", "sn", "b", "selfmod", 2): "diverged",  # values 19, 20, 23 (diverged): median 20
    ("sndcgan", "hinge", "gp1", "a", "bn", 2): "failed",       # values 50, 51: median 50.5, 1 missing
}


def rec(arch, loss, pen, opt, method, seed, status="finished", value=None, dataset="mnist", **extra_values):
    setting = {"dataset": dataset, "loss": loss, "arch": arch, "penalty": pen, "penalty.group": GROUP[pen],
               "opt": opt, "method": method}
    values = {}
    if status in ("finished", "diverged"):
        if value is None:
            value = (ARCH[arch] + LOSS[loss] + PENALTY[pen] + OPT[opt] + METHOD[method] + SEED[seed]
                     + EXTRA.get((arch, loss, pen, opt, method), 0))
        values = {METRIC: {"best": float(value), "final": float(value) + 5, "best_step": 800}}
    return {"setting": setting, "seed": seed, "status": status, "values": values}


def grid(status=STATUS, **kw):
    return [rec(a, lo, p, o, m, s, status.get((a, lo, p, o, m, s), "finished"), **kw)
            for a in ARCH for lo in LOSS for p in PENALTY for o in OPT for m in METHOD for s in SEED]


def key(arch, loss, pen, opt, method):
    return setting_key(rec(arch, loss, pen, opt, method, 0)["setting"])


SPEC = {"metric": METRIC, "value": "best", "rows": ["penalty.group", "arch", "loss"], "columns": "method",
        "minimize_over": ["opt", "penalty"], "lower_is_better": True}

PAPER = [
    {"row": {"penalty.group": "GP", "arch": "resnet", "loss": "hinge"}, "column": "selfmod", "value": 26.93,
     "dataset": "cifar10", "cite": "Chen et al. 2019, Table 2"},
    {"row": {"penalty.group": "GP", "arch": "resnet", "loss": "hinge"}, "column": "bn", "value": 28.14,
     "dataset": "cifar10", "cite": "Chen et al. 2019, Table 2"},
    {"row": "best", "column": "selfmod", "value": 18.54, "dataset": "cifar10", "cite": "Chen et al. 2019, Table 2"},
    {"row": "best", "column": "bn", "value": 20.08, "dataset": "cifar10", "cite": "Chen et al. 2019, Table 2"},
]


def table_lines(md: str) -> list[str]:
    return [ln for ln in md.splitlines() if ln.startswith("|")]


def cells(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def row_of(md: str, *first: str) -> list[str]:
    for ln in table_lines(md):
        c = cells(ln)
        if c[:len(first)] == list(first):
            return c
    raise AssertionError(f"no row {first} in\n{md}")


# --- median over seeds ----------------------------------------------------------------------------

def test_median_over_seeds_odd_even_diverged_failed():
    records = grid()
    # A pending run with values of its own is never a result.
    pending = rec("resnet", "ns", "sn", "a", "bn", 3, status="finished", value=1.0)
    pending["status"] = "pending"
    cells_ = median_over_seeds(records + [pending], METRIC)
    assert len(cells_) == 48  # 2 x 2 x 3 x 2 x 2 settings; the seed is not part of the key

    c = cells_[key("resnet", "hinge", "gp10", "b", "selfmod")]  # 20+0+2+0+0 = 22, seeds 21, 22, 25
    assert c == Cell(median=22.0, values=[21.0, 22.0, 25.0], n_seeds=3, n_diverged=0, n_missing=0)

    c = cells_[key("resnet", "hinge", "sn", "b", "selfmod")]  # seed 2 diverged with best 23: counted
    assert c == Cell(median=20.0, values=[19.0, 20.0, 23.0], n_seeds=3, n_diverged=1, n_missing=0)

    c = cells_[key("sndcgan", "hinge", "gp1", "a", "bn")]  # 51 -> seeds 50, 51 and a failed one
    assert c == Cell(median=50.5, values=[50.0, 51.0], n_seeds=2, n_diverged=0, n_missing=1)

    c = cells_[key("resnet", "ns", "sn", "a", "bn")]  # 20+3+0+1+4 = 28; the pending run is missing
    assert (c.median, c.n_seeds, c.n_missing) == (28.0, 3, 1)

    final = median_over_seeds(records, METRIC, value="final")
    assert final[key("resnet", "hinge", "gp10", "b", "selfmod")].median == 27.0


def test_median_diverged_without_value_and_all_missing():
    records = [rec("resnet", "ns", "sn", "a", "bn", s, status) for s, status in
               [(0, "diverged"), (1, "failed"), (2, "running")]]
    records[0]["values"] = {}  # diverged before the first evaluation
    c = median_over_seeds(records, METRIC)[key("resnet", "ns", "sn", "a", "bn")]
    assert c == Cell(median=None, values=[], n_seeds=0, n_diverged=1, n_missing=3)


# --- best of (Table 2) ----------------------------------------------------------------------------

def test_best_of_min_over_opt_and_lambda():
    t = best_of(grid(), METRIC, SPEC["rows"], "method", ["opt", "penalty"])
    assert t.column_labels == ["bn", "selfmod"]
    assert t.row_keys[0] == ("GP", "resnet", "hinge") and len(t.row_keys) == 8

    # GP / resnet / hinge / selfmod: medians gp1-a 27, gp1-b 26, gp10-a 23, gp10-b 22 -> 22 at (b, gp10).
    b = t.cells[(("GP", "resnet", "hinge"), "selfmod")]
    assert b.value == 22.0 and b.setting == key("resnet", "hinge", "gp10", "b", "selfmod")
    assert b.spread == (21.0, 25.0) and b.n_candidates == 4 and not b.diverged

    # GP / sndcgan / ns / bn: gp1-a 54, gp1-b 53, gp10-a 46 (EXTRA), gp10-b 49 -> 46 at (a, gp10).
    b = t.cells[(("GP", "sndcgan", "ns"), "bn")]
    assert b.value == 46.0 and b.setting == key("sndcgan", "ns", "gp10", "a", "bn")

    # SN / sndcgan / ns: bn a 42 (EXTRA) vs b 47 -> 42 at a; selfmod a 44 vs b 43 -> 43 at b.
    assert t.cells[(("SN", "sndcgan", "ns"), "bn")].value == 42.0
    assert dict(t.cells[(("SN", "sndcgan", "ns"), "selfmod")].setting)["opt"] == "b"

    # GP / sndcgan / hinge / bn includes the even-seed median 50.5 (gp1-a), but gp10-b 46 wins.
    assert t.cells[(("GP", "sndcgan", "hinge"), "bn")].value == 46.0

    # Best of above: selfmod 20 at SN/resnet/hinge/b (a diverged seed in it), bn 24 at the same row.
    best = t.best_row["selfmod"]
    assert best.value == 20.0 and best.setting == key("resnet", "hinge", "sn", "b", "selfmod") and best.diverged
    assert best.spread == (19.0, 23.0)
    assert t.best_row["bn"].value == 24.0 and t.row_of(t.best_row["bn"].setting) == ("SN", "resnet", "hinge")


def test_best_of_max_when_higher_is_better():
    t = best_of(grid(), METRIC, SPEC["rows"], "method", ["opt", "penalty"], lower_is_better=False)
    # GP / resnet / hinge / selfmod: max of 27, 26, 23, 22 -> 27 at (a, gp1).
    b = t.cells[(("GP", "resnet", "hinge"), "selfmod")]
    assert b.value == 27.0 and b.setting == key("resnet", "hinge", "gp1", "a", "selfmod")
    # GP / sndcgan / hinge / bn: gp1-a has a failed seed, median 50.5 -> the max there.
    assert t.cells[(("GP", "sndcgan", "hinge"), "bn")].value == 50.5
    # Best of above for bn: GP / sndcgan / ns / gp1-a = 40+3+6+1+4 = 54.
    assert t.best_row["bn"].value == 54.0
    assert t.best_row["bn"].setting == key("sndcgan", "ns", "gp1", "a", "bn")


def test_best_of_refuses_to_mix_datasets():
    records = grid() + [rec("resnet", "ns", "sn", "a", "bn", 0, dataset="cifar10")]
    with pytest.raises(ValueError, match="'dataset' varies"):
        best_of(records, METRIC, SPEC["rows"], "method", ["opt", "penalty"])
    # Naming the axis as a row splits the rows instead.
    t = best_of(records, METRIC, ["dataset", *SPEC["rows"]], "method", ["opt", "penalty"])
    assert t.cells[(("cifar10", "SN", "resnet", "ns"), "bn")].value == 27.0  # one seed: 28 - 1


# --- reductions (Table 3) -------------------------------------------------------------------------

def test_reductions_by_hand():
    assert relative_reduction(20, 15) == 25.0 and fmt(relative_reduction(20, 15)) == "25.00"
    assert relative_reduction(20, None) is None and relative_reduction(0, 1) is None

    small = [rec("resnet", "ns", "sn", "a", m, s, value=v)
             for m, vals in [("bn", [19, 20, 22]), ("selfmod", [14, 15, 30])] for s, v in zip(SEED, vals)]
    t = best_of(small, METRIC, ["arch"], "method", ["opt"])
    (r,) = reductions(t, "bn", "selfmod")
    assert (r.row, r.baseline, r.treatment, r.reduction) == (("resnet",), 20.0, 15.0, 25.0)

    t = best_of(grid(), METRIC, SPEC["rows"], "method", ["opt", "penalty"])
    red = {r.row: r for r in reductions(t, "bn", "selfmod")}
    assert red[("SN", "resnet", "hinge")].reduction == pytest.approx(100 * 4 / 24)  # bn 24, selfmod 20
    assert red[("SN", "sndcgan", "ns")].reduction == pytest.approx(100 * (42 - 43) / 42)  # negative: bn better
    assert red[("GP", "sndcgan", "ns")].reduction == pytest.approx(100 * 1 / 46)  # bn 46, selfmod 45


# --- paired ---------------------------------------------------------------------------------------

def test_paired_counts_and_sign_test():
    p = paired(grid(), METRIC)
    # 24 settings; selfmod is 4 lower everywhere except one loss (42 vs 44) and one tie (46 vs 46).
    assert (p.n, p.wins, p.losses, p.ties, p.unpaired) == (24, 22, 1, 1, 0)
    assert p.p_value == pytest.approx(binomtest(22, 23).pvalue)
    assert p.p_value == pytest.approx(2 * (1 + 23) / 2 ** 23)
    assert p.win_rate == pytest.approx(22 / 24)
    (loss,) = [q for q in p.pairs if q.outcome == "loss"]
    assert (dict(loss.setting)["opt"], loss.baseline, loss.treatment) == ("a", 42.0, 44.0)
    assert "method" not in dict(loss.setting)

    sub = p.subset("arch", "resnet")
    assert (sub.n, sub.wins, sub.losses, sub.ties) == (12, 12, 0, 0)

    # Higher is better: the roles flip.
    q = paired(grid(), METRIC, lower_is_better=False)
    assert (q.wins, q.losses, q.ties) == (1, 22, 1)
    # A tolerance turns small differences into ties.
    assert paired(grid(), METRIC, tie_tol=5).ties == 24


def test_sign_test_ten_wins():
    assert sign_test(10, 0) == pytest.approx(2 / 1024)
    assert sign_test(0, 0) is None
    records = [rec("resnet", "ns", "sn", o, m, 0, value=v, dataset=f"d{i}")
               for i in range(5) for o in OPT for m, v in [("bn", 30), ("selfmod", 25)]]
    p = paired(records, METRIC)
    assert (p.wins, p.losses, p.ties) == (10, 0, 0) and p.p_value == pytest.approx(2 / 1024)


def test_paired_skips_settings_with_one_side():
    records = grid(status={**STATUS, **{("sndcgan", "ns", "sn", "a", "selfmod", s): "failed" for s in SEED}})
    p = paired(records, METRIC)
    assert (p.n, p.unpaired, p.losses) == (23, 1, 0)
    # A setting with no value on either side (both pending) is left out, not counted as unpaired.
    both = {("sndcgan", "ns", "sn", "a", m, s): "pending" for m in ("bn", "selfmod") for s in SEED}
    p = paired(grid(status={**STATUS, **both}), METRIC)
    assert (p.n, p.unpaired) == (23, 0)


# --- rendering ------------------------------------------------------------------------------------

def test_fmt():
    assert fmt(None) == "—" and fmt(float("nan")) == "—"
    assert fmt(float("inf")) == "inf" and fmt(-float("inf")) == "-inf"
    assert fmt(3.14159) == "3.14" and fmt(3.14159, 3) == "3.142"


def test_render_table_layout():
    md = render_table("Title", ["scale: tiny", "dataset: mnist"], ["a", "b|c"], [["1", "x|y"], ["—", "2"]])
    lines = md.splitlines()
    assert lines[0] == "### Title"
    assert lines.index("- scale: tiny") < lines.index("- dataset: mnist") < md.splitlines().index(table_lines(md)[0])
    head, sep, *body = table_lines(md)
    assert re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", sep)
    assert cells(head) == ["a", "b\\|c"] and cells(body[0]) == ["1", "x\\|y"] and len(body) == 2


def test_table_best_of_markdown():
    status = {**STATUS, **{("sndcgan", "ns", "sn", o, "selfmod", s): "failed" for o in OPT for s in SEED}}
    caption = ["scale: tiny (2k steps)", "dataset: mnist", "metric: fid2k (protocol abc123)",
               "feature extractor: mnist-cnn", "seeds: 3"]
    md = table_best_of(grid(status=status), SPEC, caption, paper=PAPER)
    assert md.startswith("### ")
    for line in caption:
        assert f"- {line}" in md
    assert "diverged: 1" in md and "median over seeds" in md

    head, sep, *body = table_lines(md)
    assert re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", sep)
    headers = cells(head)
    assert headers == ["penalty.group", "arch", "loss", "ours: bn", "ours: selfmod", "paper (cifar10): bn",
                       "paper (cifar10): selfmod", "argmin opt/penalty: bn", "argmin opt/penalty: selfmod"]
    assert all(len(cells(ln)) == len(headers) for ln in body) and len(body) == 9

    assert row_of(md, "GP", "resnet", "hinge") == [
        "GP", "resnet", "hinge", "26.00 [25.00, 29.00]", "22.00 [21.00, 25.00]", "28.14", "26.93",
        "b/gp10", "b/gp10"]
    # All selfmod runs of SN / sndcgan / ns failed: a missing cell, and no paper numbers for that row.
    r = row_of(md, "SN", "sndcgan", "ns")
    assert r[3] == "42.00 [41.00, 45.00]" and r[4] == "—" and r[5:7] == ["—", "—"] and r[8] == "—"
    # The best-of row: selfmod's winner had a diverged seed.
    r = row_of(md, "best of above")
    assert r[3:7] == ["24.00 [23.00, 27.00]", "20.00 [19.00, 23.00]†", "20.08", "18.54"]
    assert r[8] == "SN/resnet/hinge/b/sn"
    assert "paper" in md and "not produced by these runs" in md


def test_table_reductions_markdown():
    md = table_reductions(grid(), SPEC, ["dataset: mnist"], paper=PAPER)
    assert cells(table_lines(md)[0]) == ["penalty.group", "arch", "loss", "ours: bn", "ours: selfmod",
                                         "ours: reduction (%)", "paper (cifar10): reduction (%)"]
    # Paper: (28.14 - 26.93) / 28.14 = 4.30 %, as in the paper's Table 3 (hinge-gp, resnet, cifar10).
    assert row_of(md, "GP", "resnet", "hinge")[3:] == ["26.00", "22.00", "15.38", "4.30"]
    assert row_of(md, "SN", "sndcgan", "ns")[3:] == ["42.00", "43.00", "-2.38", "—"]
    assert row_of(md, "best of above")[3:] == ["24.00", "20.00", "16.67", "7.67"]
    assert "selfmod better in 7/8 rows" in md


def test_table_paired_markdown():
    md = table_paired(grid(), {**SPEC, "by": "arch"}, ["paper: self-mod better in 124/144 settings (86%)"])
    assert "- paper: self-mod better in 124/144 settings (86%)" in md
    assert "same hyperparameters" in md
    assert re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", table_lines(md)[1])
    assert row_of(md, "all") == ["all", "24", "22", "1", "1", "91.7%", report.fmt_p(binomtest(22, 23).pvalue)]
    assert row_of(md, "arch=resnet") == ["arch=resnet", "12", "12", "0", "0", "100.0%", "4.88e-04"]
    assert row_of(md, "arch=sndcgan")[1:5] == ["12", "10", "1", "1"]


# --- plot -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("scale", [1.0, 100.0])  # 100x spreads the values over > 10x: log axes
def test_plot_paired_writes_png(tmp_path, scale):
    records = grid()
    for r in records:
        if r["setting"]["arch"] == "sndcgan" and r["values"]:
            r["values"][METRIC]["best"] *= scale
    fig = new_figure()
    spec = sm.PairedPlotSpec(kind="paired", title="selfmod vs bn (mnist)")
    alt = sm.draw_paired(coerce(records), spec, Context("suite", "tiny", coerce(records)), fig)
    assert alt == f"{METRIC} per setting, 22 wins of 24"
    out = save(fig, tmp_path / "plots" / "paired.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    assert [p.name for p in (tmp_path / "plots").iterdir()] == ["paired.png"]  # no temp file left


def test_header_lists_numbers_in_numeric_order():
    from ganzoo.report.suite_report import _joined

    assert _joined({64, 8, 32, 16}) == "8, 16, 32, 64"  # not "16, 32, 64, 8"
    assert _joined({"resnet", "sndcgan"}) == "resnet, sndcgan" and _joined(set()) == "—"
