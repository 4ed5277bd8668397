"""Before any training: a table, plot, claim or health criterion naming a metric value key that no
metric of the suite gives is a one-line error (also under `ganzoo bench --dry-run`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ganzoo.bench import check_suite
from ganzoo.errors import ConfigError
from ganzoo.suite import expand, find_suite, load_suite

ROOT = Path(__file__).resolve().parents[1]
WHERE = ROOT / "plugins" / "ganzoo_selfmod" / "suites" / "selfmod-where.toml"


def _edited(tmp_path: Path, old: str, new: str) -> Path:
    text = WHERE.read_text()
    assert old in text
    path = tmp_path / "where.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("old, new, where", [
    ('metric = "fid"\nvalue = "best"\ntest = "difference"', 'metric = "fidd"\nvalue = "best"\ntest = "difference"',
     "claim 'where-all-beats-bn'"),
    ('collapsed_metric = "is"', 'collapsed_metric = "iss"', "health"),
    ('{ metric = "is", at_least = 7.0 }', '{ metric = "inception", at_least = 7.0 }', "health criteria"),
])
def test_unknown_metric_keys_fail_before_training(tmp_path, registry, old, new, where):
    suite = load_suite(_edited(tmp_path, old, new))
    with pytest.raises(ConfigError, match=f"{where}.*no metric the suite evaluates gives"):
        check_suite(suite, "smoke", expand(suite, "smoke", registry)[:1], registry)


def test_a_table_metric_key_is_checked_and_every_builtin_suite_passes(tmp_path, registry):
    for name in registry.names("suites"):
        suite = find_suite(name, registry)
        check_suite(suite, "smoke", expand(suite, "smoke", registry)[:1], registry)
    robustness = (ROOT / "plugins" / "ganzoo_selfmod" / "suites" / "selfmod-robustness.toml").read_text()
    bad = tmp_path / "r.toml"
    bad.write_text(robustness.replace('metric = "is"\nrows', 'metric = "isx"\nrows', 1))
    suite = load_suite(bad)
    with pytest.raises(ConfigError, match="table 4 .*'isx'"):
        check_suite(suite, "smoke", expand(suite, "smoke", registry)[:1], registry)


def test_dry_run_reports_it_in_one_line(tmp_path):
    path = _edited(tmp_path, 'collapsed_metric = "is"', 'collapsed_metric = "iss"')
    res = subprocess.run([sys.executable, "-m", "ganzoo.cli", "bench", "--suite", str(path), "--scale", "smoke",
                          "--out", str(tmp_path / "out"), "--dry-run"], capture_output=True, text=True,
                         env={"GANZOO_DISABLE_PLUGIN_AUTOLOAD": "1", "PATH": "/usr/bin:/bin"})
    assert res.returncode == 2, res.stderr
    assert "no metric the suite evaluates gives 'iss'" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_healthy_claim_needs_the_collapse_criterion(tmp_path):
    robustness = (ROOT / "plugins" / "ganzoo_selfmod" / "suites" / "selfmod-robustness.toml").read_text()
    assert "healthy = true" in robustness and 'collapsed_metric = "is"' in robustness
    load_suite(_write(tmp_path / "ok.toml", robustness))  # as shipped: fine
    bad = _write(tmp_path / "r.toml", robustness.replace('collapsed_metric = "is"', "", 1))
    with pytest.raises(ConfigError, match=r"selfmod-paired-healthy\)\.healthy: needs \[health\] collapsed_metric"):
        load_suite(bad)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
