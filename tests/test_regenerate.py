"""`ganzoo report` on a fresh clone: the committed per-run export rebuilds the committed markdown."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from ganzoo.cli import main

DATA = Path(__file__).parent / "data"


def _body(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("- **Updated:**")]


def test_report_rebuilds_the_committed_markdown_from_the_export_alone(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    shutil.copy(DATA / "selfmod-where-smoke.runs.jsonl", results)
    out = tmp_path / "no-runs-folder"
    res = CliRunner().invoke(main, ["report", "--suite", "selfmod-where", "--scale", "smoke", "--out", str(out),
                                    "--results", str(results)])
    assert res.exit_code == 0, res.output
    assert "rebuilding from" in res.output
    assert not out.exists()
    made = (results / "selfmod-where-smoke.md").read_text()
    assert _body(made) == _body((DATA / "selfmod-where-smoke.md").read_text())
    # The verdicts, health and real-data reference come back too.
    assert "### The paper's claims: verdicts" in made and "### Real-data reference" in made
    # Rebuilding rewrote the export unchanged.
    assert (results / "selfmod-where-smoke.runs.jsonl").read_text() == (DATA / "selfmod-where-smoke.runs.jsonl").read_text()


def test_report_without_store_or_export_is_a_one_line_error(tmp_path):
    res = CliRunner().invoke(main, ["report", "--suite", "selfmod-where", "--scale", "smoke",
                                    "--out", str(tmp_path / "x"), "--results", str(tmp_path / "r")])
    assert res.exit_code != 0
    assert "no export" in res.output and "Traceback" not in res.output
