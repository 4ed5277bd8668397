"""The static HTML report, loaded in a real headless browser (Chromium; skipped where it is absent).

Every page must load with no console message, no broken image and no broken local link; a
screenshot of each page is saved (to $GANZOO_SCREENSHOTS when set, for a person to look at).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from browser import check_page, chromium, screenshot
from click.testing import CliRunner
from test_report_layer import SUITE, records

from ganzoo.store import Store


def _store(tmp_path: Path) -> Path:
    """A result store holding the hand-made runs of the tiny suite (with their stored artefacts)."""
    out = tmp_path / "bench"
    store = Store(out / "store.sqlite")
    for r in records():
        store.add_run(r.key, "tiny", "smoke", r.setting, r.seed, json.dumps(r.config), "/nonexistent")
        store.record(r.key, [{"metric": n, "protocol_hash": v.protocol_hash, "best": v.best, "best_step": 4,
                              "final": v.final} for n, v in r.values.items()], r.series,
                     {"kimg": {str(k): v for k, v in r.kimg.items()}, "grid": r.grid, "sv": [], "samples": []})
        store.set_status(r.key, r.status, 4, 60.0)
    store.close()
    return out


def test_report_html_pages_load_cleanly_in_a_browser(tmp_path):
    chromium()  # skip early where there is no browser
    from ganzoo.cli import main

    suite = tmp_path / "tiny.toml"
    suite.write_text(SUITE)
    results = tmp_path / "results"
    res = CliRunner().invoke(main, ["report", "--suite", str(suite), "--scale", "smoke", "--out",
                                    str(_store(tmp_path)), "--results", str(results), "--html"])
    assert res.exit_code == 0, res.output
    pages = sorted(results.glob("*.html"))
    assert [p.name for p in pages] == ["index.html", "tiny-smoke.html"]
    index = pages[0].read_text()
    assert 'href="tiny-smoke.html"' in index
    page = pages[1].read_text()
    assert "<script" not in page and "T1" in page and "hash <code>hswd</code>" in page
    assert page.count("data:image/png;base64,") == 4 and page.count("<svg") == 4  # one grid and curve per run
    shots = Path(os.environ.get("GANZOO_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    for p in pages:
        result = check_page(p, tmp_path)
        assert result["bad"] == [] and result["console"] == [], (p.name, result)
        assert result["images"] >= (0 if p.name == "index.html" else 6)  # 2 figures + 4 sample grids
        assert screenshot(p, shots / f"{p.stem}.png").stat().st_size > 5000


def test_the_browser_check_catches_a_broken_image_and_link(tmp_path):
    chromium()
    from ganzoo.report.html import page

    (tmp_path / "ok.png").write_bytes(b"")  # an empty file is no image
    bad = tmp_path / "bad.html"
    bad.write_text(page("bad", ['<img src="ok.png" alt="x">', '<img src="missing.png" alt="y">',
                                '<a href="gone.html">gone</a>']))
    result = check_page(bad, tmp_path)
    assert sorted(result["bad"]) == ["broken image: missing.png", "broken image: ok.png",
                                     "broken link: gone.html", "broken link: index.html"]
    shutil.rmtree(tmp_path / "ok.png", ignore_errors=True)


def test_markdown_in_cells_and_the_partial_note_render_as_html():
    """Table cells carry the markdown's **bold** and `code` (a verdict, a metric name); the header's
    partial-results blockquote is a warning paragraph, not a literal '>'."""
    from ganzoo.report.html import header_html, table_html

    t = table_html(["metric", "learned"], [["`fid2k@mnist-cnn/fid`", "**no**"], ["a < b", "yes"]])
    assert "<code>fid2k@mnist-cnn/fid</code>" in t and "<b>no</b>" in t and "a &lt; b" in t
    assert "**" not in t and "`" not in t
    h = "".join(header_html(["# T", "", "> **Partial results:** 3 of 4 runs have not finished"]))
    assert '<p class="warning"><b>Partial results:</b> 3 of 4' in h and "&gt;" not in h
