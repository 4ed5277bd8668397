"""A suite's results: ``results/<suite>.md`` (and its figures, and its HTML page) from the run records.

The header states what the numbers are (suite, paper, scale, dataset, networks, the feature
extractors the computed metrics used, seeds, run counts, wall time). Each ``[[tables]]`` entry is
computed by its registered kind into :class:`~ganzoo.report.kinds.Rows`, captioned by the core
(scale, every protocol and its hash, the kind's notes) and rendered; each ``[[plots]]`` entry is
drawn by its figure kind and saved atomically. Every file is written through
:func:`ganzoo.atomic.write_atomic`.
"""

from __future__ import annotations

import io

import platform
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ganzoo.atomic import write_atomic
from ganzoo.errors import ConfigError, GanzooError
from ganzoo.report.kinds import Context, MixedProtocols, NotAvailable, Rows
from ganzoo.report.markdown import not_available, render_table
from ganzoo.report.records import RunRecord, coerce, in_suite_order
from ganzoo.specs import TableKind


@dataclass
class Section:
    """One table or figure of a suite page, computed once and rendered as markdown and HTML."""

    kind: str  # "table" | "missing" | "figure"
    title: str
    caption: list[str] = field(default_factory=list)
    rows: Rows | None = None
    reason: str = ""
    file: str = ""  # figure: the PNG's name beside the markdown
    alt: str = ""


def _format_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def validate_kinds(suite: Any, registry: Any) -> list[tuple[Any, Any, str]]:
    """(kind, validated spec, where) for every table and plot of the suite; a ConfigError naming the bad one."""
    out = []
    for group, entries in (("tables", suite.tables), ("figures", suite.plots)):
        for i, entry in enumerate(entries):
            raw = entry.model_dump()
            where = f"suite {suite.name!r}, {'table' if group == 'tables' else 'plot'} {i + 1} ({raw.get('title', '')!r})"
            kind = registry.get(group, raw["kind"], where=where)
            try:
                spec = kind.spec.model_validate(raw)
            except ValidationError as exc:
                raise ConfigError(f"{where}, kind {raw['kind']!r}: {_format_error(exc)}") from None
            out.append((kind, spec, where))
    return out


def _eval_when(cfgs: list[dict]) -> str:
    every = sorted({c["eval"]["every"] for c in cfgs})
    if every == [0]:
        return "evaluated once, at the end"
    return f"evaluated every {', '.join(map(str, every))} G steps and at the end"


def _joined(values: set) -> str:
    """Numbers in numeric order (batch 8, 16, 32, 64), then the rest in text order."""
    def order(v: Any) -> tuple:
        number = isinstance(v, (int, float)) and not isinstance(v, bool)
        return (0, v, "") if number else (1, 0, str(v))

    return ", ".join(str(v) for v in sorted(values, key=order)) or "—"


def _overridden(suite: Any, scale: str, cfgs: list[dict]) -> str:
    """A note when the runs' dataset is not one the suite's scale names (``ganzoo bench --dataset``)."""
    named = {str((suite.base.get("data") or {}).get("name", ""))}
    named |= {str(v.set["data.name"]) for a in suite.axes for v in a.values if "data.name" in v.set}
    if "data.name" in suite.scales[scale].set:
        named = {str(suite.scales[scale].set["data.name"])} | {
            str(v.set["data.name"]) for a in suite.axes for v in a.values if "data.name" in v.set}
    used = {str(c["data"]["name"]) for c in cfgs}
    other = sorted(used - named)
    if not other:
        return ""
    return (f" -- but these runs use data.name = {', '.join(other)}, set on the command line "
            f"(`--dataset`), so the description's dataset does not apply")


def header(suite: Any, scale: str, records: list[RunRecord], invocations: list[tuple],
           planned: int | None = None, outside: int = 0) -> list[str]:
    """The lines above the tables: what was run, on what, with which extractor, how long it took.

    ``planned``: how many runs the scale has (the bench's expansion); when fewer are done, the
    header says the report is partial. ``outside``: runs of the store left out of the report,
    their configs not the scale's."""
    cfgs = [r.config for r in records if r.config and "data" in r.config]
    datasets = _joined({f"{c['data']['name']} ({c['data']['resolution']}x{c['data']['resolution']})" for c in cfgs})
    status = Counter(r.status for r in records)
    seeds = sorted({r.seed for r in records})
    sc = suite.scales[scale]
    wall = sum(i[1] for i in invocations)
    compute = sum(r.seconds or 0 for r in records)
    # The extractors the computed metrics actually used (a run that computed only SWD used none).
    extractors = {v.name.extractor for r in records for v in r.values.values() if v.name.extractor}
    done = sum(r.counted for r in records)
    counts = f" ({', '.join(f'{k} {v}' for k, v in sorted(status.items()))})" if status else ""
    runs = f"{len(records)}{counts}"
    partial = []
    if planned is not None and done < planned:
        runs = f"{done} of the {planned} this scale plans are done{counts}"
        partial = [f"> **Partial results:** {planned - done} of {planned} runs have not finished yet, so every table, "
                   "health figure and verdict below covers only the runs that have. Continue with "
                   f"`ganzoo bench --suite {suite.name} --scale {scale} --from-export "
                   f"results/{suite.name}{'' if scale == 'cpu' else '-' + scale}.runs.jsonl`.", ""]
    return [
        f"# {suite.title}",
        "",
        f"Generated by `ganzoo bench --suite {suite.name} --scale {scale}` (regenerate with "
        f"`ganzoo report --suite {suite.name} --scale {scale}`); do not edit by hand.",
        "",
        f"- **Paper:** {suite.paper}",
        f"- **Scale:** `{scale}`: {sc.description}{_overridden(suite, scale, cfgs)}",
        f"- **Dataset:** {datasets}",
        f"- **Networks:** {_joined({c['model']['name'] for c in cfgs})}; "
        f"{_joined({c['train']['g_steps'] for c in cfgs})} generator steps; "
        f"batch {_joined({c['train']['batch_size'] for c in cfgs})}",
        f"- **Feature extractor** (of FID, IS, KID and precision/recall): "
        f"{_joined(extractors) if extractors else 'none (no computed metric uses one)'}; "
        f"metrics {_eval_when(cfgs) if cfgs else '—'}; each table says whether it shows the best value "
        f"during training or the final model's",
        f"- **Seeds:** {', '.join(map(str, seeds)) or '—'}",
        f"- **Runs:** {runs}",
        *([f"- **Left out:** {outside} run(s) of this suite and scale in the store whose configs are not "
           "this scale's (made with an older version of the suite file, or by a bench with --set, --seeds or "
           "--steps); `ganzoo bench --dry-run` lists the scale's runs"] if outside else []),
        f"- **Wall time:** {wall / 3600:.2f} h over {len(invocations)} invocation(s); "
        f"summed run time {compute / 3600:.2f} h; machine: {platform.machine()}, Python {platform.python_version()}",
        f"- **Updated:** {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        *partial,
    ]


def compute_sections(suite: Any, scale: str, records: list[RunRecord], path: Path,
                     registry: Any, references: list[dict[str, Any]] = ()) -> list[Section]:
    """Every table's rows and every figure (written beside ``path``), in suite order (tables first).

    Each table's caption states its protocols and hashes and, where the bench stored them, the
    real-data reference value of every metric value it shows (same protocol, real images)."""
    from ganzoo.report.findings import reference_line

    published = [p.model_dump() for p in suite.published]
    base = Context(suite.name, scale, records, published)
    sections = []
    for kind, spec, where in validate_kinds(suite, registry):
        ctx = base.fresh()
        if isinstance(kind, TableKind):
            try:
                rows = kind.rows(records, spec, ctx)
            except NotAvailable as exc:
                sections.append(Section("missing", spec.title, reason=str(exc)))
                continue
            except MixedProtocols as exc:
                raise GanzooError(f"{where}: {exc}") from None
            real = reference_line(ctx.used, list(references))
            caption = ([f"scale `{scale}`"] + ctx.protocol_lines() + ([real] if real else []) + list(rows.notes)
                       + list(spec.notes))
            sections.append(Section("table", spec.title, caption, rows))
        else:
            png = path.with_name(f"{path.stem}-{spec.file}.png" if spec.file else f"{path.stem}.png")
            from ganzoo.report.figures import new_figure, save

            fig = new_figure()
            try:
                made = kind.draw(records, spec, ctx, fig)
            except NotAvailable:
                made = False
            except MixedProtocols as exc:
                raise GanzooError(f"{where}: {exc}") from None
            if made:
                save(fig, png)
                sections.append(Section("figure", spec.title, file=png.name,
                                        alt=made if isinstance(made, str) else spec.title))
    return sections


def render_markdown(head: list[str], sections: list[Section], verdicts: list[Section] = ()) -> str:
    """Header, then the verdicts (when a caller computed any), then every table and figure."""
    parts = list(head)
    if verdicts:
        parts += ["## Verdicts and health", ""]
    for s in [*verdicts, *sections]:
        if s.kind == "text":
            parts += [s.reason, ""]
        elif s.kind == "table":
            parts += [render_table(s.title, s.caption, s.rows.headers, s.rows.rows), ""]
        elif s.kind == "missing":
            parts += [not_available(s.title, s.reason), ""]
        else:
            parts += [f"![{s.alt}]({s.file})", ""]
    return "\n".join(parts).rstrip() + "\n"


def reference_samples(suite: Any, records: list[RunRecord], path: Path) -> Section | None:
    """The final sample grid of every seed of the reference setting, side by side, written beside
    ``path`` as ``<stem>-reference.png`` (so "it learned" can be checked by eye, not only by IS)."""
    from ganzoo.report.figures import new_figure, save, suptitle, title
    from ganzoo.report.verdicts import _matches

    ref = suite.health.reference
    runs = sorted((r for r in records if ref and r.grid and _matches(r, ref)), key=lambda r: r.seed)
    if not runs:
        return None
    from PIL import Image

    # Stacked digits put one digit in each colour channel, and the colour grid hides them: below
    # it, each channel is drawn on its own in grey, so the digits (or their absence) can be seen.
    stacked = is_stacked(runs[0].config)
    rows = 4 if stacked else 1
    fig = new_figure(2.8 * len(runs), 3.2 + (2.9 * 3 if stacked else 0))
    axes = fig.subplots(rows, len(runs), squeeze=False)
    for j, r in enumerate(runs):
        image = Image.open(io.BytesIO(r.grid)).convert("RGB")
        axes[0][j].imshow(image)
        title(axes[0][j], f"seed {r.seed}, step {r.step}", fontsize=8)
        for c in range(1, rows):
            axes[c][j].imshow(image.getchannel(c - 1), cmap="gray", vmin=0, vmax=255)
            title(axes[c][j], f"seed {r.seed}: channel {'RGB'[c - 1]} (digit {c})", fontsize=8)
        for c in range(rows):
            axes[c][j].axis("off")
    suptitle(fig, "Reference setting: final samples of every seed"
             + (" (colour, then each channel's digit)" if stacked else ""), fontsize=9)
    png = path.with_name(f"{path.stem}-reference.png")
    save(fig, png)
    return Section("figure", "Reference setting: final samples", file=png.name,
                   alt="final samples of the reference setting, one grid per seed"
                       + (", with each colour channel's digit below" if stacked else ""))


def is_stacked(config: dict[str, Any]) -> bool:
    """Whether a run trained on stacked digits (three digits as the R, G and B channels)."""
    return str((config.get("data") or {}).get("name", "")).startswith("stacked")


def finding_sections(suite: Any, scale: str, records: list[RunRecord],
                     references: list[dict[str, Any]], path: Path | None = None,
                     partial: bool = False) -> list[Section]:
    """The reference setting's health (and, given ``path``, its samples), the verdicts, run health
    and the real-data reference."""
    from ganzoo.report.findings import findings, health_caption, rule_caption

    f = findings(suite, records, references, partial)
    out = []
    if f["warning"]:
        out.append(Section("text", "warning", reason=f"**{f['warning']}**"))
    if f["reference"] is not None:
        ref = ", ".join(f"{k} = {v}" for k, v in suite.health.reference.items())
        out.append(Section("table", "Reference setting: did it learn?",
                           [f"scale `{scale}`", f"reference setting: {ref}",
                            ("learned on every seed run so far: " if partial else "learned on every seed: ")
                            + ("not known yet: no run of it has finished, so no claim is tested yet"
                               if f["learned"] is None else "**yes**" if f["learned"] else
                                                         "**no**: every verdict below is inconclusive")],
                           f["reference"]))
        samples = reference_samples(suite, records, path) if path is not None else None
        if samples is not None:
            out.append(samples)
    if f["verdict_rows"] is not None:
        out.append(Section("table", "The paper's claims: verdicts", [f"scale `{scale}`", *rule_caption(suite)],
                           f["verdict_rows"]))
    out.append(Section("table", "Run health", [f"scale `{scale}`", *health_caption(suite)], f["health"]))
    if f["references"] is not None:
        out.append(Section("table", "Real-data reference",
                           [f"scale `{scale}`", "each protocol computed with real images in place of generated "
                            "ones, from a split it does not compare with; ours and the paper's columns read "
                            "against it"], f["references"]))
    return out


def write_suite_report(suite: Any, scale: str, records: list, path: Path, invocations: list[tuple] = (),
                       registry: Any = None, html: bool = False, verdicts: list[Section] | None = None,
                       references: list[dict[str, Any]] = (), planned: int | None = None,
                       outside: int = 0) -> Path:
    """Write the markdown, its figures and (``html``) the HTML page and results index for a suite.

    ``verdicts``: sections shown first in both renderings; by default the suite's findings
    (reference health, verdicts, run health, real-data reference, :func:`finding_sections`).
    ``outside``: how many runs of the store were left out (see :func:`header`).
    """
    if registry is None:
        raise TypeError("write_suite_report needs the registry (its table and figure kinds)")
    path = Path(path)
    records = in_suite_order(suite, coerce(records))
    head = header(suite, scale, records, list(invocations), planned, outside)
    sections = compute_sections(suite, scale, records, path, registry, references)
    if verdicts is None:
        done = sum(r.counted for r in records)
        verdicts = finding_sections(suite, scale, records, list(references), path,
                                    partial=planned is not None and done < planned)
    write_atomic(path, render_markdown(head, sections, list(verdicts)))
    if html:
        from ganzoo.report.html import write_index, write_suite_page

        write_suite_page(suite, scale, records, head, sections, path.with_suffix(".html"), verdicts)
        write_index(path.parent)
    return path
