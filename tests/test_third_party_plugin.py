"""A real third-party plugin, installed the way pip lays it out, registers a loss ganzoo trains with."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fakedist import make_dist

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "benchmarks" / "configs" / "selfmod-sndcgan-mnist.toml"


def _run(site: Path, *args: str, autoload: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    env.pop("GANZOO_DISABLE_PLUGIN_AUTOLOAD", None)
    if not autoload:
        env["GANZOO_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return subprocess.run([sys.executable, "-m", "ganzoo.cli", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=300)


def test_third_party_loss_trains(tmp_path):
    site = make_dist(tmp_path / "site")
    listed = _run(site, "plugins")
    assert listed.returncode == 0, listed.stderr
    assert "ganzoo_scaled_hinge 0.3.1 (entry point ganzoo-scaled-hinge==0.3.1)" in listed.stdout
    assert "losses: scaled-hinge" in listed.stdout

    out = tmp_path / "run"
    res = _run(site, "train", str(CONFIG), "--set", "loss.name=scaled-hinge",
               "--set", "loss.params.scale=3.0", "--set", "data.name=digits",
               "--set", "data.resolution=8", "--set", "model.params.width=0.0625",
               "--set", "train.g_steps=3", "--set", "train.batch_size=16",
               "--set", "fast.bf16=false", "--out", str(out), "--quiet")
    assert res.returncode == 0, res.stderr
    assert '"name": "scaled-hinge"' in (out / "config.json").read_text()
    assert '"scale": 3.0' in (out / "config.json").read_text()

    # With autoload off, the same config names an unknown loss.
    off = _run(site, "train", str(CONFIG), "--set", "loss.name=scaled-hinge", "--dry-run",
               autoload=False)
    assert off.returncode == 2 and "unknown loss 'scaled-hinge'" in off.stderr


ROW_COUNT_PLUGIN = '''
"""A third-party table kind: per row, how many runs have the metric and their largest value."""
from ganzoo import TableKind, hookimpl
from ganzoo.report import KindSpec, Rows, fmt


class RowMaxSpec(KindSpec):
    metric: str = "fid"
    rows: list = []


def row_max(records, spec, ctx):
    name = ctx.metric(spec.metric)  # the core notes the protocol and hash, and checks for mixing
    out = {}
    for r in records:
        v = r.value(name, "final")
        if v is not None:
            key = "/".join(r.setting.get(a, "none") for a in spec.rows)
            out.setdefault(key, []).append(v)
    return Rows(["row", "runs", "max"], [[k, str(len(v)), fmt(max(v))] for k, v in sorted(out.items())],
                ["max over seeds of the final value"])


@hookimpl
def register_tables():
    return [TableKind(name="row-max", spec=RowMaxSpec, rows=row_max)]
'''

ROW_MAX_SUITE = """
name = "third"
title = "A suite with a third-party table"
paper = "none"
base = {}
[[axes]]
name = "row"
values = [{ label = "a" }, { label = "b" }]
[scales.smoke]
seeds = [0, 1]
[[tables]]
kind = "row-max"
title = "Largest FID per row"
rows = ["row"]
"""


def test_third_party_table_kind_renders(tmp_path):
    import json

    from ganzoo.store import Store

    site = make_dist(tmp_path / "site", dist="ganzoo-row-max", module="ganzoo_row_max", version="1.0.0",
                     source=ROW_COUNT_PLUGIN)
    suite = tmp_path / "third.toml"
    suite.write_text(ROW_MAX_SUITE)
    store = Store(tmp_path / "bench" / "store.sqlite")
    for i, (row, seed, fid) in enumerate([("a", 0, 10.0), ("a", 1, 12.5), ("b", 0, 30.0), ("b", 1, 20.0)]):
        store.add_run(f"k{i}", "third", "smoke", {"row": row}, seed, json.dumps({}), "x")
        store.record(f"k{i}", [{"metric": "fid2k@mnist-cnn/fid", "protocol_hash": "h123", "best": fid,
                                "best_step": 1, "final": fid}], [])
        store.set_status(f"k{i}", "finished", 1, 1.0)
    store.close()
    args = ["report", "--suite", str(suite), "--scale", "smoke", "--out", str(tmp_path / "bench"),
            "--results", str(tmp_path / "results")]
    res = _run(site, *args)
    assert res.returncode == 0, res.stderr
    text = (tmp_path / "results" / "third-smoke.md").read_text()
    assert "### Largest FID per row" in text and "metric protocol `fid2k@mnist-cnn/fid` (hash `h123`)" in text
    assert "| a     | 2      | 12.50 |" in text and "| b     | 2      | 30.00 |" in text
    assert "- max over seeds of the final value" in text

    # Without the plugin the suite names an unknown table kind: one line, exit 2, no traceback.
    off = _run(site, *args, autoload=False)
    assert off.returncode == 2 and "Traceback" not in off.stderr
    assert "unknown table kind 'row-max'" in off.stderr and "Largest FID per row" in off.stderr


def test_a_plugin_that_raises_on_import_breaks_no_command(tmp_path):
    site = make_dist(tmp_path / "site")
    make_dist(site, dist="ganzoo-broken", module="ganzoo_broken", version="1.0",
              source="raise ImportError('No module named tensorflow')\n")
    listed = _run(site, "plugins")
    assert listed.returncode == 0, listed.stderr
    assert "ganzoo_broken 1.0 (entry point ganzoo-broken==1.0)" in listed.stdout
    assert "BROKEN" in listed.stdout and "No module named tensorflow" in listed.stdout
    assert "losses: scaled-hinge" in listed.stdout  # the healthy third-party plugin still loads
    warning = [ln for ln in listed.stderr.splitlines() if "ganzoo_broken" in ln]
    assert len(warning) == 1 and "GANZOO_DISABLE_PLUGIN_AUTOLOAD=1" in warning[0]
    assert "ganzoo-broken==1.0" in warning[0] and "Traceback" not in listed.stderr

    dry = _run(site, "train", str(CONFIG), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    quiet = _run(site, "plugins", autoload=False)
    assert quiet.returncode == 0 and "ganzoo_broken" not in quiet.stdout + quiet.stderr
