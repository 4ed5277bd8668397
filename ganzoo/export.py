"""A compact, committed export of a suite's store: one JSON line per run, from which the report is rebuilt.

``results/<suite>.runs.jsonl`` (or ``<suite>-<scale>.runs.jsonl``) holds, in this order:

* one ``{"kind": "suite", ...}`` line: suite, scale, the export's format version;
* one ``{"kind": "invocation", ...}`` line per ``ganzoo bench`` invocation (start, seconds, executor,
  runs it trained), so the report's wall-time figures come back too;
* one ``{"kind": "reference", ...}`` line per real-data reference value;
* one ``{"kind": "run", ...}`` line per run: config hash, setting, seed, status, steps, seconds,
  error, every metric value (best, best step, final, protocol hash) and its series, and the
  artefacts the report draws from (kimg per step, singular values, sample-grid names, and for the
  first seed, whose grids the figures draw, the last grid as base64 PNG).

The resolved config of each run is kept too (the report's header reads the dataset, networks and
evaluation from it). :func:`load_export` turns the file back into an in-memory :class:`Store`, so
``ganzoo report`` on a fresh clone, with no ``runs/`` folder, renders exactly what the bench rendered;
:func:`import_export` merges an export's finished runs into a bench's store (``ganzoo bench
--from-export``), so a suite longer than one machine's session continues where it stopped.
Torch-free.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from ganzoo.errors import GanzooError
from ganzoo.store import Store

FORMAT = 1


def export_lines(store: Store, suite: str, scale: str, keep_grid: dict[str, str] | None = None,
                 keys: set[str] | None = None) -> list[dict[str, Any]]:
    """The export's lines. Sample grids are kept for the first seed (the figures draw it) and for
    every run of the setting ``keep_grid`` names (the reference setting, whose seeds the report shows).
    ``keys``: only these runs (the report's; None: every run of the suite and scale)."""
    lines: list[dict[str, Any]] = [{"kind": "suite", "suite": suite, "scale": scale, "format": FORMAT}]
    for started, seconds, executor, ran in store.invocations(suite, scale):
        lines.append({"kind": "invocation", "started": started, "seconds": seconds, "executor": executor,
                      "ran": ran})
    for ref in store.references(suite, scale):
        lines.append({"kind": "reference", **ref})
    records = [r for r in store.records(suite, scale) if keys is None or r["key"] in keys]
    first_seed = min((r["seed"] for r in records), default=0)
    for rec in records:
        art = store.artifacts(rec["key"])
        keep = rec["seed"] == first_seed or (keep_grid and all(rec["setting"].get(k) == v
                                                                   for k, v in keep_grid.items()))
        if not keep:  # the figures draw the first seed's grids: keep the export compact
            art.pop("grid", None)
        lines.append({"kind": "run", "key": rec["key"], "setting": rec["setting"], "seed": rec["seed"],
                      "status": rec["status"], "step": rec["step"], "seconds": rec["seconds"],
                      "error": rec["error"], "values": rec["values"],
                      "series": [list(s) for s in store.series(rec["key"])],
                      "artifacts": _encode(art),
                      "config": json.loads(rec["config"]) if rec.get("config") else None})
    return lines


def _encode(artifacts: dict[str, Any]) -> dict[str, Any]:
    return {k: ({"base64": base64.b64encode(v).decode()} if isinstance(v, bytes) else v)
            for k, v in sorted(artifacts.items())}


def _decode(artifacts: dict[str, Any]) -> dict[str, Any]:
    return {k: (base64.b64decode(v["base64"]) if isinstance(v, dict) and set(v) == {"base64"} else v)
            for k, v in artifacts.items()}


def export_path(results_dir: Path, suite: str, scale: str) -> Path:
    """``results/<suite>.runs.jsonl`` for the cpu scale (committed), ``<suite>-<scale>.runs.jsonl`` otherwise."""
    return Path(results_dir) / (f"{suite}.runs.jsonl" if scale == "cpu" else f"{suite}-{scale}.runs.jsonl")


def write_export(store: Store, suite: str, scale: str, path: Path, keep_grid: dict[str, str] | None = None,
                 keys: set[str] | None = None) -> Path:
    """Write the export atomically (one line per entry, keys sorted, so diffs stay readable)."""
    from ganzoo.atomic import atomic_write_text

    text = "".join(json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n"
                   for line in export_lines(store, suite, scale, keep_grid, keys))
    atomic_write_text(path, text)
    return path


def read_export(path: Path) -> tuple[str, str, list[dict[str, Any]]]:
    """(suite, scale, lines after the suite line) of an export; one-line errors for anything else."""
    try:
        lines = [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]
    except (OSError, ValueError) as e:
        raise GanzooError(f"{path}: not a ganzoo results export ({e})") from None
    if not lines or lines[0].get("kind") != "suite":
        raise GanzooError(f"{path}: not a ganzoo results export (no suite line first)")
    head = lines[0]
    if head.get("format") != FORMAT:
        raise GanzooError(f"{path}: export format {head.get('format')} (this ganzoo reads {FORMAT})")
    for line in lines[1:]:
        if line.get("kind") not in ("invocation", "reference", "run"):
            raise GanzooError(f"{path}: unknown line kind {line.get('kind')!r}")
    return head["suite"], head["scale"], lines[1:]


def _add_run(store: Store, suite: str, scale: str, line: dict[str, Any], run_dir: str = "") -> None:
    config = json.dumps(line["config"], sort_keys=True) if line.get("config") else ""
    store.add_run(line["key"], suite, scale, line["setting"], line["seed"], config, run_dir)
    store.set_status(line["key"], line["status"], line["step"], line["seconds"], line["error"])
    results = [{"metric": m, **v} for m, v in line["values"].items()]
    store.record(line["key"], results, [tuple(s) for s in line["series"]], _decode(line.get("artifacts") or {}))


def load_export(path: Path, store_path: str | Path = ":memory:") -> tuple[Store, str, str]:
    """An (in-memory) store holding exactly what the export holds; returns (store, suite, scale)."""
    suite, scale, lines = read_export(path)
    store = Store(store_path)
    for line in lines:
        kind = line["kind"]
        if kind == "invocation":
            row = store.start_invocation(suite, scale, line["started"], line["executor"])
            store.update_invocation(row, line["seconds"], line["ran"])
        elif kind == "reference":
            store.add_reference(suite, scale, line["metric"], line["protocol_hash"], line["value"],
                                line.get("protocol") or {})
        else:
            _add_run(store, suite, scale, line)
    return store, suite, scale


def import_export(path: Path, store: Store, suite: str, scale: str, out: Path,
                  runs: dict[str, tuple[dict, int, str]]) -> tuple[int, int]:
    """Merge an export's done (finished or diverged) runs into ``store``, so a bench continues a
    suite where the export left off, on another machine or in a later session.

    ``runs`` maps the bench's run keys (config hashes) to (setting, seed, config JSON). Only runs of
    the export whose key is among them are taken, under the bench's own setting: a run is its
    config, so the export may be of another suite that trains the same config (the robustness
    grid's reference is a setting of selfmod-where), while a run written for other configs (another
    scale, an older suite file) is not one of this bench's runs and is counted, not taken.

    Runs the store already has as done are kept as they are; interrupted or failed runs of the export
    are not taken (they train again from the start: an export has no checkpoints). From an export
    of this very suite and scale, the invocations (for the report's wall-time figures) and the
    real-data references come along too. Returns (imported, done runs not among ``runs``).
    """
    from ganzoo.store import DONE

    got_suite, got_scale, lines = read_export(path)
    same = (got_suite, got_scale) == (suite, scale)
    have = {(round(started, 3), executor) for started, _, executor, _ in store.invocations(suite, scale)}
    known = {r["key"]: r for r in store.records(suite, scale)}
    refs = {r["metric"] for r in store.references(suite, scale)}
    imported = unmatched = 0
    for line in lines:
        kind = line["kind"]
        if kind == "invocation":
            if same and (round(line["started"], 3), line["executor"]) not in have:
                row = store.start_invocation(suite, scale, line["started"], line["executor"])
                store.update_invocation(row, line["seconds"], line["ran"])
        elif kind == "reference":
            if same and line["metric"] not in refs:
                store.add_reference(suite, scale, line["metric"], line["protocol_hash"], line["value"],
                                    line.get("protocol") or {})
        elif line["status"] not in DONE:
            continue
        elif line["key"] not in runs:
            unmatched += 1
        elif store.status(line["key"]) not in DONE:
            if line["key"] in known and known[line["key"]]["status"] == "running":
                continue  # another bench trains it right now: its own outcome wins
            setting, seed, config = runs[line["key"]]
            _add_run(store, suite, scale, {**line, "setting": setting, "seed": seed, "config": json.loads(config)},
                     str(Path(out) / "runs" / line["key"]))
            imported += 1
    return imported, unmatched
