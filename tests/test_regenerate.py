"""`ganzoo report` on a fresh clone: the committed per-run export rebuilds the committed markdown."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from ganzoo.cli import main

DATA = Path(__file__).parent / "data"


def _claims(text: str) -> list[str]:
    """The lines of the claims index (the progress table below it has a row per suite too)."""
    return text.split("### Progress of each suite")[0].splitlines()


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
    # ... and the reference setting's final samples, one grid per seed, from the export's grids.
    assert (results / "selfmod-where-smoke-reference.png").read_bytes()[:4] == b"\x89PNG"
    # Rebuilding rewrote the export unchanged.
    assert (results / "selfmod-where-smoke.runs.jsonl").read_text() == (DATA / "selfmod-where-smoke.runs.jsonl").read_text()


def test_runs_whose_configs_the_scale_no_longer_has_are_left_out(tmp_path):
    """A run of an older version of the suite file (another budget, say) stays in the store, but
    not in the tables or the export, and the header says so."""
    import json

    results = tmp_path / "results"
    results.mkdir()
    original = (DATA / "selfmod-where-smoke.runs.jsonl").read_text()
    lines = original.splitlines()
    stale = json.loads(next(x for x in reversed(lines) if '"kind":"run"' in x))
    stale["key"] = "0ld5c41e0f5u1te0"
    (results / "selfmod-where-smoke.runs.jsonl").write_text(original + json.dumps(stale) + "\n")
    res = CliRunner().invoke(main, ["report", "--suite", "selfmod-where", "--scale", "smoke", "--out",
                                    str(tmp_path / "no-runs"), "--results", str(results)])
    assert res.exit_code == 0, res.output
    made = _body((results / "selfmod-where-smoke.md").read_text())
    note = [x for x in made if x.startswith("- **Left out:** 1 run(s) of this suite and scale")]
    assert len(note) == 1
    assert [x for x in made if x not in note] == _body((DATA / "selfmod-where-smoke.md").read_text())
    assert (results / "selfmod-where-smoke.runs.jsonl").read_text() == original


def test_report_of_a_suite_the_store_lacks_rebuilds_from_its_export(tmp_path):
    from ganzoo.store import Store

    out, results = tmp_path / "runs", tmp_path / "results"
    store = Store(out / "store.sqlite")  # this machine's store: other suites only
    store.add_run("k", "another-suite", "smoke", {"a": "b"}, 0, "{}", "/x")
    store.close()
    args = ["report", "--suite", "selfmod-where", "--scale", "smoke", "--out", str(out), "--results", str(results)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code != 0 and "holds no runs of selfmod-where at scale 'smoke' and no export" in res.output
    results.mkdir()
    shutil.copy(DATA / "selfmod-where-smoke.runs.jsonl", results)
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "holds no runs of selfmod-where at scale 'smoke': rebuilding from" in res.output
    made = (results / "selfmod-where-smoke.md").read_text()
    assert _body(made) == _body((DATA / "selfmod-where-smoke.md").read_text())


def test_report_without_store_or_export_is_a_one_line_error(tmp_path):
    res = CliRunner().invoke(main, ["report", "--suite", "selfmod-where", "--scale", "smoke",
                                    "--out", str(tmp_path / "x"), "--results", str(tmp_path / "r")])
    assert res.exit_code != 0
    assert "no export" in res.output and "Traceback" not in res.output


def test_claims_index_is_computed_from_the_exports_and_rewritten_in_place(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    shutil.copy(DATA / "selfmod-where-smoke.runs.jsonl", results)
    (results / "README.md").write_text("# Results\n\nintro\n\n<!-- claims-index:start (old) -->\n"
                                       "stale\n<!-- claims-index:end -->\n\n## Calibration\n")
    res = CliRunner().invoke(main, ["report", "--index", "--scale", "smoke", "--results", str(results)])
    # A hand-edited start marker: one line, nothing rewritten.
    assert res.exit_code != 0 and "one claims-index marker but not the other" in res.output
    assert "stale" in (results / "README.md").read_text()
    from ganzoo.report.index import END, START

    (results / "README.md").write_text(f"# Results\n\nintro\n\n{START}\nstale\n{END}\n\n## Calibration\n")
    res = CliRunner().invoke(main, ["report", "--index", "--scale", "smoke", "--results", str(results)])
    assert res.exit_code == 0, res.output
    text = (results / "README.md").read_text()
    assert "stale" not in text and text.startswith("# Results\n\nintro\n") and text.endswith("## Calibration\n")
    where = [line for line in _claims(text) if line.startswith("| selfmod-where")]
    assert len(where) == 3 and all("8/8 runs" in line for line in where)
    # The where suite's smoke reference cannot learn in 3 steps: every verdict is inconclusive.
    assert all("inconclusive" in line and "did not learn" in line for line in where)
    robustness = [line for line in _claims(text) if line.startswith("| selfmod-robustness")]
    assert len(robustness) == 1 and "7 claims" in robustness[0] and "not run at this scale yet (0/72 runs)" in robustness[0]
    again = CliRunner().invoke(main, ["report", "--index", "--scale", "smoke", "--results", str(results)])
    assert again.exit_code == 0 and (results / "README.md").read_text() == text


def test_index_says_waiting_for_runs_for_claims_a_partial_suite_cannot_test_yet(tmp_path):
    # Defect: a partial suite's claims with no runs to test them counted as "inconclusive", as if tested.
    import json

    results = tmp_path / "results"
    results.mkdir()
    lines = (DATA / "selfmod-where-smoke.runs.jsonl").read_text().splitlines()
    runs = [i for i, line in enumerate(lines) if json.loads(line).get("kind") == "run"]
    del lines[runs[-1]]  # one run missing: 7 of 8
    (results / "selfmod-where-smoke.runs.jsonl").write_text("\n".join(lines) + "\n")
    res = CliRunner().invoke(main, ["report", "--index", "--scale", "smoke", "--results", str(results)])
    assert res.exit_code == 0, res.output
    text = (results / "README.md").read_text()
    where = [line for line in _claims(text) if line.startswith("| selfmod-where")]
    assert len(where) == 3 and all("waiting for runs (7/8 runs (partial)" in line for line in where)
    assert "inconclusive: 0, waiting for runs: 3" in text
    # The suite's own verdict table says so too (it said "inconclusive" while the index waited).
    res = CliRunner().invoke(main, ["report", "--suite", "selfmod-where", "--scale", "smoke", "--out",
                                    str(tmp_path / "none"), "--results", str(results)])
    assert res.exit_code == 0, res.output
    md = (results / "selfmod-where-smoke.md").read_text()
    table = md[md.index("### The paper's claims: verdicts"):md.index("### Run health")]
    assert table.count("| waiting for runs |") == 3 and "inconclusive |" not in table


def test_an_unfinished_reference_is_not_a_reference_that_did_not_learn(tmp_path):
    # Defect: a partial suite whose reference runs were still pending or interrupted was reported as
    # "reference **did not learn**", and its claims as inconclusive on that account.
    import json

    results = tmp_path / "results"
    results.mkdir()
    lines = []
    for line in (DATA / "selfmod-where-smoke.runs.jsonl").read_text().splitlines():
        d = json.loads(line)
        if d.get("kind") == "run" and d["setting"] == {"arch": "resnet", "method": "bn"}:  # the reference
            d["status"] = "interrupted"
            line = json.dumps(d)
        lines.append(line)
    (results / "selfmod-where-smoke.runs.jsonl").write_text("\n".join(lines) + "\n")
    res = CliRunner().invoke(main, ["report", "--index", "--scale", "smoke", "--results", str(results)])
    assert res.exit_code == 0, res.output
    where = [line for line in _claims((results / "README.md").read_text()) if line.startswith("| selfmod-where")]
    assert len(where) == 3
    assert all("reference not finished yet" in line and "did not learn" not in line for line in where)
    assert all("waiting for runs" in line for line in where)
    res = CliRunner().invoke(main, ["report", "--suite", "selfmod-where", "--scale", "smoke", "--out",
                                    str(tmp_path / "none"), "--results", str(results)])
    assert res.exit_code == 0, res.output
    md = (results / "selfmod-where-smoke.md").read_text()
    assert "learned on every seed run so far: not known yet" in md and "not finished yet |" in md


def test_index_gives_each_suites_progress_and_the_run_time_left(tmp_path):
    # The progress table under the claims index is computed from the exports: runs done, the
    # reference's seeds, collapsed runs, wall and run time, and the run time left by the bench's estimate.
    import json

    from ganzoo.report.index import _union_seconds
    from ganzoo.report.markdown import fmt_duration

    results = tmp_path / "results"
    results.mkdir()
    lines = [json.loads(line) for line in (DATA / "selfmod-where-smoke.runs.jsonl").read_text().splitlines()]
    runs = [d for d in lines if d["kind"] == "run"]
    wall = sum(d["seconds"] for d in lines if d["kind"] == "invocation")
    # One run goes back to pending: 7 of 8 done. Its setting has no other seed at smoke scale, so
    # the bench's --dry-run rule counts it at the longest finished run.
    gone = next(d for d in runs if d["setting"] != {"arch": "resnet", "method": "bn"})
    assert not [d for d in runs if d["setting"] == gone["setting"] and d is not gone]
    others = [d["seconds"] for d in runs if d is not gone]
    gone.update(status="pending", seconds=None, step=None, values={}, series=[])
    (results / "selfmod-where-smoke.runs.jsonl").write_text("\n".join(json.dumps(d) for d in lines) + "\n")
    res = CliRunner().invoke(main, ["report", "--index", "--scale", "smoke", "--results", str(results)])
    assert res.exit_code == 0, res.output
    text = (results / "README.md").read_text()
    progress = text.split("### Progress of each suite")[1].splitlines()
    row = [c.strip() for c in next(line for line in progress if line.startswith("| selfmod-where")).split("|")[1:-1]]
    assert row[:4] == ["selfmod-where", "7/8", "learned on 0 of 1 seed", "0 of 7"]  # 3 steps: nothing learns
    assert row[4] == fmt_duration(wall) and row[5] == fmt_duration(sum(others))
    assert row[6] == f"{fmt_duration(max(others))} (1 run at the longest finished run)"
    assert f"about {fmt_duration(max(others))} of run time left, 1 run of it counted" in text
    robustness = next(line for line in progress if line.startswith("| selfmod-robustness"))
    assert "0/72" in robustness and "not run at this scale yet" in robustness
    # Benches that ran at once count once in the total wall time.
    assert _union_seconds([(0, 10), (5, 10), (20, 1), (20.5, 0.2)]) == 16
    assert _union_seconds([]) == 0
    assert fmt_duration(7200) == "2.0 h" and fmt_duration(90) == "2 min"
