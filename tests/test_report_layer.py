"""The report layer: torch-free, table kinds as plugins with one protocol check, the output defects.

Each defect test names the defect it pins; each was seen failing against the code before the fix.
"""

from __future__ import annotations

import ast
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ganzoo.errors import GanzooError
from ganzoo.report import Context, MixedProtocols, NotAvailable, RunRecord, load_records
from ganzoo.report.suite_report import header, write_suite_report
from ganzoo.store import Store
from ganzoo.suite import load_suite

ROOT = Path(__file__).resolve().parents[1]

SUITE = """
name = "tiny"
title = "Tiny suite"
paper = "none"
base = {}
[[axes]]
name = "row"
values = [{ label = "a" }, { label = "b" }]
[scales.smoke]
description = "2 rows on 16x16 scikit-learn digits"
seeds = [0, 1]
set = { "data.name" = "digits" }
[[tables]]
kind = "metrics"
title = "T1"
rows = ["row"]
metrics = ["swd_avg", "ms_ssim"]
[[tables]]
kind = "best-of"
title = "IS appendix"
metric = "is"
rows = ["row"]
columns = "row"
[[plots]]
kind = "series"
title = "SWD against kimg"
rows = ["row"]
metrics = ["swd_avg"]
x = "kimg"
file = "swd"
[[plots]]
kind = "samples"
title = "samples"
rows = ["row"]
file = "samples"
"""


def png(color: int = 128) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (color, 40, 200)).save(buf, format="PNG")
    return buf.getvalue()


def config(data: str = "digits", model: str = "pggan", **params) -> dict:
    return {"data": {"name": data, "resolution": 16}, "model": {"name": model, "params": params},
            "train": {"g_steps": 4, "batch_size": 16}, "eval": {"every": 2, "metrics": ["swd2k"]}}


def record(row: str, seed: int, status: str = "finished", values: dict | None = None, **kw) -> RunRecord:
    values = values if values is not None else {
        "swd2k/swd_avg": {"best": 2.0 + seed, "final": 3.0 + seed, "protocol_hash": "hswd"},
        "msssim1k/ms_ssim": {"best": 0.2, "final": 0.3, "protocol_hash": "hms"}}
    d = {"key": f"{row}{seed}", "setting": {"row": row}, "seed": seed, "status": status, "values": values,
         "config": config(), "run_dir": "/nonexistent/run/dir",
         "series": [(2, "swd2k/swd_avg", 5.0 + seed), (4, "swd2k/swd_avg", 3.0 + seed)],
         "kimg": {2: 0.032, 4: 0.096}, "grid": png(40 * seed + 40)}
    d.update(kw)
    return RunRecord.from_dict(d)


@pytest.fixture
def suite(tmp_path):
    p = tmp_path / "tiny.toml"
    p.write_text(SUITE)
    return load_suite(p)


def records() -> list[RunRecord]:
    return [record(r, s) for r in "ab" for s in (0, 1)]


# -- structure --------------------------------------------------------------------------------------
def test_report_layer_imports_no_torch():
    code = ("import sys, ganzoo.report, ganzoo.report.html, ganzoo.report.figures, ganzoo.store, ganzoo.suite\n"
            "bad = [m for m in ('torch', 'ganzoo.train', 'ganzoo.metrics') if m in sys.modules]\n"
            "assert not bad, bad\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr


def test_core_never_imports_a_plugin():
    offenders = []
    for path in (ROOT / "ganzoo").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0].startswith("ganzoo_")]
    assert offenders == []


def test_metric_names_parse_once():
    from ganzoo.report import MetricName

    m = MetricName.parse("fid2k@mnist-cnn~t=0.5/fid")
    assert (m.metric, m.extractor, m.key, m.sweep, m.truncation, m.base) == ("fid2k", "mnist-cnn", "fid", True, 0.5,
                                                                             "fid2k@mnist-cnn/fid")
    d = MetricName.parse("is-data2k@mnist-cnn~data/is_data")
    assert d.data and d.protocol == "is-data2k@mnist-cnn" and not d.plain
    s = MetricName.parse("swd2k/swd_16")
    assert s.extractor is None and s.plain and s.protocol == "swd2k"


# -- the one protocol check -------------------------------------------------------------------------
def test_metrics_table_states_every_protocol_and_hash(tmp_path, suite, registry):
    text = write_suite_report(suite, "smoke", records(), tmp_path / "tiny.md", registry=registry).read_text()
    t1 = text.split("### T1")[1].split("###")[0]
    assert "metric protocols: `msssim1k` (ms_ssim; hash `hms`), `swd2k` (swd_avg; hash `hswd`)" in t1


@pytest.mark.parametrize("clash", ["two protocols", "two hashes"])
def test_a_table_mixing_protocols_is_an_error(tmp_path, suite, registry, clash):
    recs = records()
    if clash == "two protocols":  # another protocol gives swd_avg in one run
        v = recs[0].values.pop("swd2k/swd_avg")
        recs[0].values["swd16k/swd_avg"] = type(v)(type(v.name).parse("swd16k/swd_avg"), "hx", 1.0, 2, 1.0)
    else:  # the same protocol name computed with another hash (e.g. other extractor weights)
        v = recs[0].values["swd2k/swd_avg"]
        recs[0].values["swd2k/swd_avg"] = type(v)(v.name, "other-hash", 1.0, 2, 1.0)
    with pytest.raises(GanzooError, match=r"table 1 \('T1'\).*never mixes protocols"):
        write_suite_report(suite, "smoke", recs, tmp_path / "tiny.md", registry=registry)
    assert not (tmp_path / "tiny.md").exists()


def test_context_checks_sweeps_too():
    def rec(h):
        return RunRecord.from_dict({"key": h, "setting": {}, "seed": 0, "status": "finished", "values": {
            "fid2k@x~t=0.5/fid": {"final": 1.0, "protocol_hash": h}}})
    ctx = Context("s", "smoke", [rec("h1"), rec("h1")])
    assert ctx.sweep("fid") == {0.5: "fid2k@x~t=0.5/fid"} and "`h1`" in ctx.protocol_lines()[0]
    with pytest.raises(MixedProtocols):
        Context("s", "smoke", [rec("h1"), rec("h2")]).sweep("fid")


# -- defects of the old output ----------------------------------------------------------------------
def test_missing_metric_after_every_run_finished_does_not_say_yet(tmp_path, suite, registry):
    # Defect: the IS appendix said "no run has a 'is' value yet" after every run had finished.
    text = write_suite_report(suite, "smoke", records(), tmp_path / "tiny.md", registry=registry).read_text()
    line = next(x for x in text.splitlines() if x.startswith("_Not available"))
    assert "yet" not in line and "no protocol computed at this scale gives 'is'" in line and "swd2k" in line
    pending = records() + [record("a", 2, status="pending", values={})]
    with pytest.raises(NotAvailable, match="yet .1 of 5 runs not finished"):
        Context("s", "smoke", pending).metric("is")


def test_header_says_when_the_dataset_was_overridden(suite):
    # Defect: `--dataset mnist` at the smoke scale: Scale line "16x16 scikit-learn digits", Dataset "mnist".
    recs = [record("a", 0, config=config(data="mnist"))]
    lines = header(suite, "smoke", recs, [])
    scale = next(x for x in lines if x.startswith("- **Scale:**"))
    assert "data.name = mnist" in scale and "command line" in scale
    plain = next(x for x in header(suite, "smoke", records(), []) if x.startswith("- **Scale:**"))
    assert "command line" not in plain


def test_header_lists_only_extractors_the_metrics_used_and_no_plugin_params(suite):
    # Defects: "inception-v3-fid" listed for runs that computed only SWD; BigGAN headers said
    # "width x1.0" (a selfmod parameter) although BigGAN sizes by ch.
    recs = [record("a", 0, config=config(model="biggan", ch=8))]
    lines = header(suite, "smoke", recs, [])
    ext = next(x for x in lines if x.startswith("- **Feature extractor**"))
    assert "inception" not in ext and "none (no computed metric uses one)" in ext
    net = next(x for x in lines if x.startswith("- **Networks:**"))
    assert "width" not in net and "biggan" in net
    # Defect: "pggan, 500, 2000, 10000 generator steps" ran the model name into the step counts.
    assert net.split("; ")[0] == "- **Networks:** biggan"
    recs[0].values["fid2k@mnist-cnn/fid"] = recs[0].values["swd2k/swd_avg"].__class__(
        __import__("ganzoo.report", fromlist=["MetricName"]).MetricName.parse("fid2k@mnist-cnn/fid"), "h", 1.0, 4, 1.0)
    assert "mnist-cnn" in next(x for x in header(suite, "smoke", recs, []) if x.startswith("- **Feature extractor**"))


def test_series_x_axis_is_the_logged_kimg(suite, registry):
    # Defect: kimg was guessed as step * batch_size * n_disc, wrong when PGGAN changes the batch.
    from ganzoo.report.figures import new_figure
    from ganzoo_pggan.tables import SeriesSpec, draw_series

    recs = [record("a", 0)]  # steps 2, 4 logged at kimg 0.032, 0.096 (the batch doubled)
    fig = new_figure()
    spec = SeriesSpec(kind="series", title="t", rows=["row"], metrics=["swd_avg"], x="kimg")
    assert draw_series(recs, spec, Context("s", "smoke", recs), fig)
    xs = list(fig.axes[0].lines[0].get_xdata())
    assert xs == [0.032, 0.096]


def _right_edge_is_blank(data: bytes) -> bool:
    import numpy as np
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
    return bool((img[:, -3:] > 245).all())


def test_long_titles_are_not_cut_at_the_right_edge(tmp_path):
    # Defect: plot titles ran off the right edge of the PNG.
    from ganzoo.report.figures import new_figure, save, suptitle

    fig = new_figure(3.0, 2.0)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1])
    suptitle(fig, "A very long figure title that names the suite, the scale, the metric protocol "
                  "and what the reader should look for in the plot")
    out = save(fig, tmp_path / "t.png")
    assert _right_edge_is_blank(out.read_bytes())
    assert [p.name for p in tmp_path.iterdir()] == ["t.png"]  # written atomically, no temp file left


def test_figure_title_clears_a_two_line_panel_title(tmp_path):
    # Defect: in pggan-ablation-samples.png row (d)'s two-line panel title touched the figure title.
    from ganzoo.report.figures import new_figure, save, suptitle, title

    fig = new_figure(12.0, 3.6)
    for i in range(4):
        ax = fig.add_subplot(1, 4, i + 1)
        ax.imshow([[0.0, 1.0], [1.0, 0.0]])
        ax.axis("off")
        title(ax, "(d) + revised training parameters" if i == 2 else "(a) row")
    suptitle(fig, "Final samples, first seed (rows a, b, d, e, g)")
    save(fig, tmp_path / "t.png")
    r = fig.canvas.get_renderer()
    st = fig._suptitle.get_window_extent(r)
    for ax in fig.axes:
        assert ax.title.get_window_extent(r).y1 < st.y0


def test_singular_value_legend_does_not_cover_the_curves():
    # Defect: the legend of the singular-value plot sat on top of the curves.
    from ganzoo.monitor import sv_figure

    recs = [{"step": s, "G": {f"g{i}.weight": 1.0 + 0.1 * s * i for i in range(6)},
             "D": {f"d{i}.weight": 2.0 + 0.05 * s * i for i in range(6)}} for s in range(10)]
    fig = sv_figure(recs, title="run")
    fig.canvas.draw()
    for ax in fig.axes:
        leg = ax.get_legend()
        assert leg is not None
        assert not leg.get_window_extent().overlaps(ax.get_window_extent())


def test_eval_table_header_matches_its_columns():
    # Defect: `ganzoo eval` printed a header shifted by one column and a raw Python dict after it.
    from types import SimpleNamespace

    from ganzoo.cli import format_eval_table

    r = SimpleNamespace(name="fid2k@mnist-cnn", values={"fid": 12.3456}, protocol_hash="abc",
                        protocol={"dataset": "mnist", "generator": "ema", "bn": "running", "truncation": None})
    text = format_eval_table([r])
    head, sep, row = text.splitlines()[:3]
    cells = lambda line: [c.strip() for c in line.strip().strip("|").split("|")]  # noqa: E731
    assert cells(head) == ["protocol", "value", "number", "protocol hash"]
    assert cells(row) == ["fid2k@mnist-cnn", "fid", "12.3456", "abc"]
    assert "{" not in text and "dataset: mnist; generator: ema; bn: running; truncation: none" in text


# -- the bench stores what the renderers need -------------------------------------------------------
def test_artifacts_round_trip_and_no_renderer_opens_a_run_dir(tmp_path, suite, registry):
    from ganzoo.bench import collect_artifacts

    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True)
    (run / "log.jsonl").write_text(json.dumps({"step": 2, "kimg": 0.032}) + "\n" + '{"step": 4, "kim')
    (run / "metrics.jsonl").write_text(json.dumps({"step": 4, "kimg": 0.096, "name": "swd2k", "values": {}}) + "\n")
    (run / "sv.jsonl").write_text(json.dumps({"step": 1, "G": {"a": 1.0}, "D": {"b": 2.0}}) + "\n")
    (run / "samples" / "step-0000002.png").write_bytes(png(1))
    (run / "samples" / "step-0000004.png").write_bytes(png(2))
    art = collect_artifacts(run)
    assert art["kimg"] == {"2": 0.032, "4": 0.096} and art["grid"] == png(2) and len(art["sv"]) == 1
    store = Store(tmp_path / "store.sqlite")
    store.add_run("k", "tiny", "smoke", {"row": "a"}, 0, json.dumps(config()), str(run))
    store.record("k", [{"metric": "swd2k/swd_avg", "protocol_hash": "h", "best": 1.0, "best_step": 4, "final": 1.0}],
                 [(4, "swd2k/swd_avg", 1.0)], art)
    store.set_status("k", "finished", 4, 1.0)
    import shutil

    shutil.rmtree(run)  # the report must not need the run directory any more
    recs = load_records(store, "tiny", "smoke")
    assert recs[0].kimg == {2: 0.032, 4: 0.096} and recs[0].grid == png(2) and recs[0].sv[0]["G"] == {"a": 1.0}
    out = write_suite_report(suite, "smoke", recs, tmp_path / "res" / "tiny.md", registry=registry)
    assert (out.parent / "tiny-samples.png").exists() and (out.parent / "tiny-swd.png").exists()


@pytest.mark.parametrize("edit, message", [
    (('kind = "metrics"', 'kind = "metricz"'), "table 1 ('T1'): unknown table kind 'metricz'"),
    (('metrics = ["swd_avg", "ms_ssim"]', 'metrics = ["swd_avg"]\nmetric_s = 1'),
     "table 1 ('T1'), kind 'metrics': metric_s: unknown key"),
    (('x = "kimg"', 'x = "time"'), "plot 1 ('SWD against kimg'), kind 'series': x: Input should be 'step' or 'kimg'"),
])
def test_bad_table_entries_fail_before_any_run(tmp_path, registry, edit, message):
    from ganzoo.bench import LocalExecutor, run_suite
    from ganzoo.errors import ConfigError

    p = tmp_path / "tiny.toml"
    p.write_text(SUITE.replace(*edit))
    with pytest.raises(ConfigError) as err:
        run_suite(load_suite(p), "smoke", tmp_path / "runs", registry, LocalExecutor(registry), tmp_path / "results")
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "runs").exists()  # nothing trained, no store made


def test_verdicts_have_their_place_first_in_markdown_and_html(tmp_path, suite, registry):
    from ganzoo.report import Rows
    from ganzoo.report.suite_report import Section

    claim = Section("table", "Claim: a beats b", ["sign test over seeds"], Rows(["claim", "verdict"], [["a < b", "holds"]]))
    md = write_suite_report(suite, "smoke", records(), tmp_path / "tiny.md", registry=registry, html=True,
                            verdicts=[claim]).read_text()
    assert md.index("## Verdicts") < md.index("### Claim: a beats b") < md.index("### T1")
    page = (tmp_path / "tiny.html").read_text()
    assert page.index('id="verdicts"') < page.index("Claim: a beats b") < page.index('id="tables"')


def test_bars_leave_out_settings_without_a_value():
    # Defect: a setting with no finished run was drawn as a bar of height 0, which reads as "0 modes".
    import math

    from ganzoo.report.figures import new_figure
    from ganzoo_pggan.tables import BarsSpec, draw_bars

    recs = [record("a", 0), record("a", 1), record("b", 0, status="pending", values={})]
    fig = new_figure()
    spec = BarsSpec(kind="bars", title="t", columns="row", metric="swd_avg")
    assert draw_bars(recs, spec, Context("s", "smoke", recs), fig)
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights[0] == pytest.approx(3.5)  # mean of the finals 3.0 and 4.0
    assert math.isnan(heights[1])  # "b": no bar at all
    assert [t.get_text() for t in ax.texts] == ["no run"]


def test_sample_panels_of_unfinished_runs_say_so():
    # Defect: a partial report showed an interrupted run's step-930 grid under "Final samples".
    from ganzoo.report.figures import new_figure
    from ganzoo_pggan.tables import SamplesSpec, draw_samples

    recs = [record("a", 0), record("b", 0, status="interrupted", step=930)]
    fig = new_figure()
    assert draw_samples(recs, SamplesSpec(kind="samples", title="t", rows=["row"]), Context("s", "smoke", recs), fig)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "a" and titles[1].startswith("b") and titles[1].endswith("(interrupted at step 930)")


def _grid_png(rgb: tuple[int, int, int]) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), rgb).save(buf, format="PNG")
    return buf.getvalue()


def test_stacked_digits_reference_grid_shows_each_channel_on_its_own(tmp_path):
    """A stacked-MNIST grid mixes three digits in colour; the reference figure draws each channel
    below it in grey, so a reader can see whether each one is a digit. Other datasets keep one row."""
    from types import SimpleNamespace

    from PIL import Image

    from ganzoo.report.suite_report import is_stacked, reference_samples

    suite = SimpleNamespace(health=SimpleNamespace(reference={"method": "ref"}))
    sizes = {}
    for name in ("stacked-digits", "mnist"):
        recs = [RunRecord(key=f"k{s}", setting={"method": "ref"}, seed=s, status="finished", step=10,
                          config={"data": {"name": name}}, grid=_grid_png((255, 0, 128)))
                for s in (0, 1)]
        recs.append(RunRecord(key="other", setting={"method": "x"}, seed=0, status="finished", step=10,
                              config={"data": {"name": name}}, grid=_grid_png((0, 0, 0))))
        section = reference_samples(suite, recs, tmp_path / name / "s.md")
        assert section is not None
        sizes[name] = Image.open(tmp_path / name / section.file).size
        assert ("each colour channel" in section.alt) == (name == "stacked-digits")
    assert is_stacked({"data": {"name": "stacked-digits"}}) and not is_stacked({"data": {"name": "mnist"}})
    assert abs(sizes["stacked-digits"][0] - sizes["mnist"][0]) < 0.1 * sizes["mnist"][0]
    assert sizes["stacked-digits"][1] > 3 * sizes["mnist"][1]
