"""The static HTML report: ``results/index.html`` and one page per suite and scale.

Plain files that open from disk or any static host: no server, no JavaScript, one inline style
sheet. A suite page holds the header, the tables (with their captions: protocols and hashes), a
place for computed verdicts, the figures, and one row per run with its status, its metric values,
its final sample grid (embedded as a PNG data URI, so the page has no broken image when the run
folders are elsewhere), a metric-vs-kimg curve (inline SVG) and its resolved config. Every page is
written through :func:`ganzoo.atomic.write_atomic`.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from typing import Any, Iterable

from ganzoo.atomic import write_atomic
from ganzoo.report.markdown import DASH, fmt
from ganzoo.report.records import RunRecord

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em auto;max-width:1200px;
padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.5em}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
h3{font-size:1.05em;margin-top:1.4em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0 1em;display:block;overflow-x:auto}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top;white-space:nowrap}
td{white-space:normal;max-width:30em}
th{background:#f3f3f3}tr:nth-child(even) td{background:#fafafa}
ul.caption{font-size:.85em;color:#444;margin:.3em 0}
code{background:#f3f3f3;padding:0 .2em;border-radius:3px;font-size:.95em}
img.figure{max-width:100%;border:1px solid #eee}
img.grid{width:96px;height:auto;image-rendering:pixelated;border:1px solid #ddd}
details pre{font-size:.75em;max-width:480px;overflow:auto;background:#f8f8f8;padding:.5em}
.missing{color:#a33}.status-failed{color:#b00}.status-diverged{color:#b60}
nav{font-size:.9em;margin-bottom:1em}
svg.curve{background:#fcfcfc;border:1px solid #eee}
"""


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def inline(md: str) -> str:
    """The inline markdown the captions and header use (``code``, **bold**, _italic_), escaped, as HTML."""
    out = esc(md)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)
    return out


def page(title: str, body: list[str], up: bool = True) -> str:
    nav = '<nav><a href="index.html">&larr; all suites</a></nav>' if up else ""
    return "\n".join(["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
                      '<meta name="viewport" content="width=device-width, initial-scale=1">',
                      f"<title>{esc(title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>", nav,
                      *body, "</body>", "</html>", ""])


def table_html(headers: list[str], rows: list[list[str]], raw: bool = False) -> str:
    """A table; cells are markdown cell text (``code`` and **bold**, as in the .md) unless ``raw``
    (HTML already)."""
    cell = (lambda c: str(c)) if raw else (lambda c: inline(str(c)))
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "\n".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def section_html(s: Any) -> list[str]:
    """A table, a 'not available' note, a figure or a sentence (a :class:`ganzoo.report.suite_report.Section`)."""
    if s.kind == "text":
        return [f'<p class="warning">{inline(s.reason)}</p>']
    out = [f'<h3 id="{esc(_slug(s.title))}">{esc(s.title)}</h3>']
    if s.kind == "missing":
        return out + [f'<p class="missing">Not available: {esc(s.reason)}.</p>']
    if s.kind == "figure":
        return out + [f'<img class="figure" src="{esc(s.file)}" alt="{esc(s.alt)}">']
    if s.caption:
        out.append('<ul class="caption">' + "".join(f"<li>{inline(c)}</li>" for c in s.caption) + "</ul>")
    out.append(table_html(s.rows.headers, s.rows.rows))
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "section"


def curve_svg(rec: RunRecord, width: int = 220, height: int = 90) -> str:
    """Each plain metric value of a run against kimg (G step when kimg was not logged), inline SVG."""
    names = sorted({m for _, m, _ in rec.series if "~" not in m})
    if not names:
        return DASH
    curves = []
    for name in names:
        pts = rec.curve(name)
        xs = [rec.kimg_at(s) for s, _ in pts]
        use_kimg = all(x is not None for x in xs)
        curves.append((name, [(x if use_kimg else s, v) for (s, v), x in zip(pts, xs)], use_kimg))
    parts = [f'<svg class="curve" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             f'xmlns="http://www.w3.org/2000/svg" role="img">']
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    pad, label_h = 6, 12
    shown = [c for c in curves if c[1]][:6]
    for i, (name, pts, use_kimg) in enumerate(shown):
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        x0, x1 = min(xs), max(xs)
        y0, y1 = min(ys), max(ys)
        sx = (lambda x: pad + (width - 2 * pad) * ((x - x0) / (x1 - x0) if x1 > x0 else 0.5))
        sy = (lambda y: height - pad - label_h - (height - 2 * pad - 2 * label_h) * ((y - y0) / (y1 - y0) if y1 > y0 else 0.5))
        col = colors[i % len(colors)]
        pts_s = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        parts.append(f'<polyline fill="none" stroke="{col}" stroke-width="1.5" points="{pts_s}"><title>'
                     f'{esc(name)}: {fmt(y0, 4)} .. {fmt(y1, 4)} over {"kimg" if use_kimg else "G step"} '
                     f'{x0:g} .. {x1:g}</title></polyline>')
        for x, y in pts:
            parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2" fill="{col}"/>')
        key = name.rsplit("/", 1)[-1]
        parts.append(f'<text x="{pad + 70 * i}" y="{label_h - 2}" font-size="9" fill="{col}">{esc(key)}</text>')
    if shown:
        unit = "kimg" if shown[0][2] else "step"
        xs = [p[0] for p in shown[0][1]]
        parts.append(f'<text x="{pad}" y="{height - 2}" font-size="9" fill="#666">{unit} {min(xs):g}'
                     f' .. {max(xs):g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def grid_img(rec: RunRecord) -> str:
    if not rec.grid:
        return DASH
    data = base64.b64encode(rec.grid).decode("ascii")
    return f'<img class="grid" src="data:image/png;base64,{data}" alt="final samples of run {esc(rec.key)}">'


def runs_html(records: list[RunRecord]) -> str:
    """One row per run, ordered by setting then seed: values, sample grid, curve, config."""
    axes = sorted({a for r in records for a in r.setting if not a.endswith(".group")})
    names = sorted({m for r in records for m, v in r.values.items() if v.name.plain})
    headers = axes + ["seed", "status", "steps", "minutes"] + [f"{n} (best / final)" for n in names] + [
        "final samples", "metrics vs kimg", "config"]
    rows = []
    for r in sorted(records, key=lambda r: ([r.setting.get(a, "") for a in axes], r.seed)):
        vals = []
        for n in names:
            mv = r.values.get(n)
            vals.append(DASH if mv is None else f"{fmt(mv.best, 4)} / {fmt(mv.final, 4)}")
        cfg = esc(json.dumps(r.config, indent=1, sort_keys=True)) if r.config else DASH
        rows.append([esc(r.setting.get(a, "")) for a in axes] + [
            str(r.seed), f'<span class="status-{esc(r.status)}">{esc(r.status)}</span>',
            esc(r.step if r.step is not None else DASH),
            esc(fmt((r.seconds or 0) / 60, 1) if r.seconds is not None else DASH)] + [esc(v) for v in vals] + [
            grid_img(r), curve_svg(r),
            f"<details><summary>{esc(r.key)}</summary><pre>{cfg}</pre></details>" if r.config else DASH])
    return table_html(headers, rows, raw=True)


def header_html(head: list[str]) -> list[str]:
    """The markdown header lines (title, generated-by line, bullets) as HTML."""
    out, items = [], []
    for line in head:
        if line.startswith("# "):
            out.append(f"<h1>{inline(line[2:])}</h1>")
        elif line.startswith("- "):
            items.append(f"<li>{inline(line[2:])}</li>")
        elif line.startswith("> "):  # a markdown blockquote: the partial-results note
            out.append(f'<p class="warning">{inline(line[2:])}</p>')
        elif line.strip():
            out.append(f"<p>{inline(line)}</p>")
    return out + (["<ul>" + "".join(items) + "</ul>"] if items else [])


def write_suite_page(suite: Any, scale: str, records: list[RunRecord], head: list[str], sections: list,
                     path: Path, verdicts: Iterable[Any] = ()) -> Path:
    """``<suite>[-<scale>].html`` beside the markdown: header, verdicts (when given), tables, figures, runs."""
    body = header_html(head)
    verdicts = list(verdicts)
    if verdicts:
        body += ['<h2 id="verdicts">Verdicts and health</h2>'] + [x for s in verdicts for x in section_html(s)]
    tables = [s for s in sections if s.kind != "figure"]
    figures = [s for s in sections if s.kind == "figure"]
    if tables:
        body += ['<h2 id="tables">Tables</h2>'] + [x for s in tables for x in section_html(s)]
    if figures:
        body += ['<h2 id="figures">Figures</h2>'] + [x for s in figures for x in section_html(s)]
    body += [f'<h2 id="runs">Runs ({len(records)})</h2>',
             "<p>Every run of the suite at this scale: best-during-training and final value of each "
             "metric, the final sample grid, the metrics against images shown, and the resolved config.</p>",
             runs_html(records)]
    meta = f'{suite.name} [{scale}]: {suite.title}'
    text = page(meta, body).replace("<head>", f'<head>\n<meta name="ganzoo-suite" content="{esc(suite.name)}">'
                                    f'\n<meta name="ganzoo-scale" content="{esc(scale)}">'
                                    f'\n<meta name="ganzoo-runs" content="{len(records)}">', 1)
    return write_atomic(path, text)


def _meta(text: str, name: str) -> str:
    m = re.search(rf'<meta name="{name}" content="([^"]*)"', text)
    return html.unescape(m.group(1)) if m else ""


def write_index(results_dir: Path) -> Path:
    """``index.html``: every suite page in ``results_dir`` (found by its ganzoo-suite meta tag)."""
    results_dir = Path(results_dir)
    rows = []
    for p in sorted(results_dir.glob("*.html")):
        if p.name == "index.html":
            continue
        text = p.read_text(encoding="utf-8")
        suite = _meta(text, "ganzoo-suite")
        if not suite:
            continue
        title = re.search(r"<title>(.*?)</title>", text, re.S)
        rows.append([f'<a href="{esc(p.name)}">{esc(suite)}</a>', esc(_meta(text, "ganzoo-scale")),
                     esc(_meta(text, "ganzoo-runs")),
                     title.group(1).split(": ", 1)[-1] if title else ""])
    body = ["<h1>ganzoo results</h1>",
            "<p>One page per benchmark suite and scale: the tables with their protocols, the figures, "
            "and every run with its samples, curves and config. Regenerate with "
            "<code>ganzoo report --suite NAME --scale SCALE --html</code>.</p>",
            table_html(["suite", "scale", "runs", "title"], rows, raw=True) if rows else "<p>No suite pages yet.</p>"]
    return write_atomic(results_dir / "index.html", page("ganzoo results", body, up=False))
