"""The PGGAN and BigGAN suites: their grids, their smoke scales end to end, the new table kinds."""

from __future__ import annotations

import json

import pytest

from ganzoo.bench import LocalExecutor, run_suite
from ganzoo.suite import expand, find_suite
from ganzoo.sweep import parse_sweep_name, sweep_name
from ganzoo.report import Context, coerce, render_table
from ganzoo_biggan.tables import truncation_columns
from ganzoo_pggan import tables as pg


def _kind(rows_fn, spec_cls, recs, spec, paper):
    ctx = Context("s", "smoke", coerce(recs), [{**p, "table": spec["title"]} for p in paper])
    rows = rows_fn(coerce(recs), spec_cls(kind="k", **spec), ctx)
    return render_table(spec["title"], ctx.protocol_lines() + rows.notes, rows.headers, rows.rows)


def table_metrics(recs, spec, caption, paper):
    return _kind(pg.metrics_rows, pg.MetricsSpec, recs, spec, paper)


def table_grid(recs, spec, caption, paper):
    return _kind(pg.grid_rows, pg.GridSpec, recs, spec, paper)

PNG = b"\x89PNG\r\n\x1a\n"


def test_pggan_ablation_rows_see_the_same_images(registry):
    suite = find_suite("pggan-ablation", registry)
    runs = expand(suite, "cpu", registry)
    assert len(runs) == 24  # 8 rows x 3 seeds
    for r in runs:
        t, ema = r.config.train, r.config.ema
        per_step = t.batch_size * t.n_disc
        assert t.g_steps * per_step == 160_000, r.setting
        # the same EMA half-life in images, started at the same 24 kimg, in every row
        assert ema.enabled and ema.start * per_step == 24_000, r.setting
        assert ema.decay == pytest.approx(0.999 ** (per_step / 16), abs=6e-4), r.setting
    by = {r.setting["row"]: r.config for r in runs if r.seed == 0}
    a, g = by["(a) Gulrajani et al."], by["(g) + pixelwise normalization"]
    assert a.model.params["progressive"] is False and a.model.params["d_norm"] == "layernorm"
    assert [x.name for x in a.regularizers] == ["wgan-gp"] and a.g_optim.lr == 1e-4
    assert g.model.params["g_norm"] == "pixelnorm" and g.model.params["eq_lr"] is True
    assert by["(e*) + minibatch discrimination"].model.params["mbstat"] == "discrimination"
    for label, c in by.items():  # the authors' unclipped linear output; the clamp is a no-op after tanh
        linear = c.model.params.get("g_out", "linear") == "linear"
        assert c.model.params.get("clip_output", True) is not linear, label


def test_mode_coverage_grid(registry):
    suite = find_suite("pggan-mode-coverage", registry)
    runs = expand(suite, "cpu", registry)
    assert len(runs) == 2 * 6 * 3
    by = {(r.setting["d"], r.setting["method"]): r.config for r in runs if r.seed == 0}
    # the calibrated shared budget (n_disc 5) reaches every column alike, and the crippled Ds are shallow
    assert {c.train.n_disc for c in by.values()} == {5}
    from ganzoo_pggan.networks import PGGANParams

    assert all(PGGANParams(**c.model.params).d_depth() == "shallow" for c in by.values())
    assert all(PGGANParams(**c.model.params).clip_output is False for c in by.values())  # the authors' linear G
    assert by[("K/4", "+ unrolling")].train.unroll == 5 and by[("K/4", "GAN")].train.unroll == 0
    assert by[("K/2", "+ progression")].model.params["progressive"] is True
    assert by[("K/2", "+ mb stddev")].model.params["progressive"] is False


def test_biggan_suites_expand(registry):
    abl = expand(find_suite("biggan-ablation", registry), "cpu", registry)
    assert len(abl) == 27  # 9 rows x 3 seeds
    by = {r.setting["row"]: r.config for r in abl if r.seed == 0}
    assert [by[k].train.batch_size for k in ("1: batch B", "2: batch 2B", "3: batch 4B", "4: batch 8B")] == [8, 16, 32, 64]
    assert by["5: + width x1.5"].model.params["ch"] == 12 and by["9: row 8 at width x1"].model.params["ch"] == 8
    assert [x.name for x in by["8: + ortho reg"].regularizers] == ["ortho"]
    assert by["7: + hierarchical"].model.params["hierarchical"] is True
    assert by["6: + shared"].model.params["hierarchical"] is False
    trunc = find_suite("biggan-truncation", registry)
    assert len(expand(trunc, "cpu", registry)) == 6 and trunc.sweep is not None


TABLE_2 = {"BigGAN 128": ("biggan", 128), "BigGAN 256": ("biggan", 256), "BigGAN 512": ("biggan", 512),
           "BigGAN-deep 128": ("biggan-deep", 128), "BigGAN-deep 256": ("biggan-deep", 256),
           "BigGAN-deep 512": ("biggan-deep", 512)}


def test_biggan_truncation_covers_table_2(registry):
    """The paper scale runs Table 2's six rows with the paper's settings and numbers; the smoke
    scale builds each of them once at the smallest width."""
    from ganzoo.train.networks import build_networks
    from ganzoo.specs import DataInfo

    suite = find_suite("biggan-truncation", registry)
    paper = expand(suite, "paper", registry)
    assert len(paper) == 6 * 2 * 3
    by = {r.setting["model"]: r.config for r in paper if r.seed == 0 and r.setting["ortho"] == "ortho reg"}
    assert {k: (c.model.name, c.data.resolution) for k, c in by.items()} == TABLE_2
    assert by["BigGAN 128"].model.params["ch"] == 96 and by["BigGAN-deep 512"].model.params["ch"] == 128
    assert by["BigGAN 256"].model.params["attention"] == [128] and by["BigGAN 256"].model.params["d_attention"] == [64]
    assert [by[f"BigGAN {r}"].model.params["z_dim"] for r in (128, 256, 512)] == [120, 140, 128]
    # The BigGAN rows' numbers (arXiv v1, checked against the shipped text); BigGAN-deep's v2 numbers
    # could not be checked here, so none are published beside ours.
    cells = {(p.row["model"], p.column) for p in suite.published}
    assert cells == {(m, c) for m in TABLE_2 if "deep" not in m for c in ("none", "best_fid", "data_is", "max_is")}
    assert all(p.cite.startswith("Brock et al. 2019") for p in suite.published)
    smoke = expand(suite, "smoke", registry)
    assert sorted(r.setting["model"] for r in smoke) == sorted(TABLE_2)
    for r in smoke:
        assert (r.config.model.name, r.config.data.resolution) == TABLE_2[r.setting["model"]]
        assert r.config.model.params["ch"] == 1
        G, D = build_networks(r.config, registry, DataInfo(r.config.data.resolution, 1, 10))
        assert len(G.resolutions) == {128: 5, 256: 6, 512: 7}[r.config.data.resolution]


def _png(path):
    return path.read_bytes()[:8] == PNG


@pytest.mark.parametrize("name, n", [("pggan-ablation", 8), ("pggan-mode-coverage", 12)])
def test_pggan_smoke_suites_end_to_end(tmp_path, registry, name, n):
    suite = find_suite(name, registry)
    summary = run_suite(suite, "smoke", tmp_path / "runs", registry, LocalExecutor(registry), tmp_path / "results",
                        progress=False)
    assert summary.total == n and summary.failed == 0, summary
    text = (tmp_path / "results" / f"{name}-smoke.md").read_text()
    if name == "pggan-ablation":
        assert "Table 1" in text and "swd256" in text and "msssim100" in text and "paper, CelebA" in text
        table = text[text.index("### Table 1"):]  # the metrics table (the findings above also name rows)
        row = next(line for line in table.splitlines() if line.startswith("| (g) + pixelwise"))
        assert row.count("—") == 1  # only swd_32: the smoke scale's 16x16 images have one SWD level
        assert any(line.startswith("|  ") and "0.2845" in line for line in text.splitlines())  # paper MS-SSIM
        assert _png(tmp_path / "results" / f"{name}-smoke-swd.png")
    else:
        assert "modes covered" in text and "paper, stacked MNIST" in text
        assert _png(tmp_path / "results" / f"{name}-smoke-modes.png")
    # A growing run went through its phases: the log records the phase changes.
    if name == "pggan-ablation":
        logs = [p for p in (tmp_path / "runs" / "runs").glob("*/log.jsonl")]
        events = [json.loads(x) for p in logs for x in p.read_text().splitlines()]
        assert any(e.get("event") == "phase" for e in events)


@pytest.mark.parametrize("name, n", [("biggan-ablation", 9), ("biggan-truncation", 6)])
def test_biggan_smoke_suites_end_to_end(tmp_path, registry, name, n):
    suite = find_suite(name, registry)
    summary = run_suite(suite, "smoke", tmp_path / "runs", registry, LocalExecutor(registry), tmp_path / "results",
                        progress=False)
    assert summary.total == n and summary.failed == 0, summary
    text = (tmp_path / "results" / f"{name}-smoke.md").read_text()
    if name == "biggan-ablation":
        assert "collapse_step" in text and "paper, ImageNet" in text
        assert _png(tmp_path / "results" / f"{name}-smoke-sv.png")
    else:
        for model in TABLE_2:  # every Table 2 row was trained, swept and tabulated
            row = next(line for line in text.splitlines() if line.startswith(f"| {model}/ortho reg "))
            assert "(psi " in row, model
        assert "paper, ImageNet" in text
        assert _png(tmp_path / "results" / f"{name}-smoke-curve.png")
        # every run holds FID and IS at each threshold of the smoke sweep, and the data's IS
        from ganzoo.store import Store

        recs = Store(tmp_path / "runs" / "store.sqlite").records(name, "smoke")
        assert sorted(r["setting"]["model"] for r in recs) == sorted(TABLE_2)
        for rec in recs:
            names = set(rec["values"])
            for psi in ("none", "0.5"):
                assert {f"fid100@mnist-cnn~t={psi}/fid", f"is100@mnist-cnn~t={psi}/is"} <= names, psi
            assert "is-data100@mnist-cnn~data/is_data" in names


def test_example_configs_resolve(registry):
    from pathlib import Path

    from ganzoo.config import load_config

    configs = sorted((Path(__file__).resolve().parents[1] / "benchmarks" / "configs").glob("*.toml"))
    assert {c.stem for c in configs} >= {"pggan-mnist", "biggan-mnist", "pggan-cifar10", "pggan-lsgan-mnist"}
    for c in configs:
        cfg = load_config(c, (), registry)
        assert cfg.data.name in ("mnist", "cifar10"), c


def test_sweep_names_round_trip():
    assert parse_sweep_name(sweep_name("fid2k@mnist-cnn", 0.5) + "/fid") == ("fid2k@mnist-cnn/fid", 0.5)
    assert parse_sweep_name(sweep_name("is2k@x", None) + "/is") == ("is2k@x/is", None)
    assert parse_sweep_name("fid2k@x/fid") is None


def test_truncation_columns_pick_the_papers_four_points():
    curve = {None: (30.0, 5.0), 1.0: (20.0, 6.0), 0.5: (25.0, 8.0), 0.25: (40.0, 9.0)}
    cols = truncation_columns(curve, data_is=7.9)
    assert cols["none"] == (None, 30.0, 5.0)
    assert cols["best_fid"] == (1.0, 20.0, 6.0)
    assert cols["data_is"] == (0.5, 25.0, 8.0)
    assert cols["max_is"] == (0.25, 40.0, 9.0)


def _rec(setting, seed, values, status="finished"):
    return {"setting": setting, "seed": seed, "status": status,
            "values": {k: {"best": v, "final": v, "protocol_hash": "h"} for k, v in values.items()}}


def test_metrics_and_grid_tables_by_hand():
    recs = [_rec({"row": "a"}, 0, {"swd2k/swd_avg": 2.0, "ms/msssim": 0.3}),
            _rec({"row": "a"}, 1, {"swd2k/swd_avg": 4.0, "ms/msssim": 0.5}),
            _rec({"row": "b"}, 0, {"swd2k/swd_avg": 1.0}),
            _rec({"row": "b"}, 1, {"swd2k/swd_avg": 9.0}, status="failed")]
    paper = [{"row": "a", "column": "swd_avg", "value": 9.28, "std": None, "dataset": "CelebA", "cite": "K"}]
    text = table_metrics(recs, {"title": "T", "rows": ["row"], "metrics": ["swd_avg", "msssim"]}, [], paper)
    lines = text.splitlines()
    a = next(x for x in lines if x.startswith("| a "))
    assert "3.00 ± 1.41" in a and "0.40 ± 0.14" in a  # mean ± sample std over the two seeds
    b = next(x for x in lines if x.startswith("| b "))
    assert "1.00 (1/2)" in b and "—" in b  # the failed seed does not count
    assert any("paper, CelebA" in x and "9.28" in x for x in lines)
    grid = [_rec({"d": "K/4", "method": "GAN"}, s, {"m/modes": v}) for s, v in ((0, 10.0), (1, 30.0))]
    grid += [_rec({"d": "K/4", "method": "WGAN"}, 0, {"m/modes": 500.0})]
    text = table_grid(grid, {"title": "G", "rows": ["d"], "columns": "method", "metric": "modes", "digits": 1}, [], [])
    row = next(x for x in text.splitlines() if x.startswith("| K/4"))
    assert "20.0 ± 14.1" in row and "500.0" in row
