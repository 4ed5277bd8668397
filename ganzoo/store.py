"""The result store of the benchmark runner: one embedded SQLite file (WAL) beside the run directories.

``runs`` holds every run of every suite and scale (keyed by the hash of its resolved config) with its
state; ``results`` the best-during-training and final value of every metric value; ``series`` the
metric time series; ``artifacts`` what the report needs from a run directory, read once when the
run ends (kimg per step, the singular-value series, sample-grid names and the last grid's PNG), so
no renderer opens a run directory; ``reference`` the real-data reference value of each metric value
(real images in place of generated ones, :func:`ganzoo.metrics.evaluate_real_reference`). Only the
parent process writes (executors return outcomes to it), and each
write is a short transaction, so a killed suite leaves a consistent store and resumes from it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    key TEXT NOT NULL, suite TEXT NOT NULL, scale TEXT NOT NULL,
    setting TEXT NOT NULL, seed INTEGER NOT NULL, config TEXT NOT NULL, run_dir TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending', step INTEGER, seconds REAL, error TEXT, updated REAL,
    PRIMARY KEY (key, suite, scale)
);
CREATE TABLE IF NOT EXISTS results (
    key TEXT NOT NULL, metric TEXT NOT NULL, protocol_hash TEXT NOT NULL,
    best REAL, best_step INTEGER, final REAL,
    PRIMARY KEY (key, metric)
);
CREATE TABLE IF NOT EXISTS invocations (
    suite TEXT NOT NULL, scale TEXT NOT NULL, started REAL NOT NULL, seconds REAL NOT NULL,
    executor TEXT, ran INTEGER
);
CREATE TABLE IF NOT EXISTS reference (
    suite TEXT NOT NULL, scale TEXT NOT NULL, metric TEXT NOT NULL, protocol_hash TEXT NOT NULL,
    value REAL, protocol TEXT NOT NULL,
    PRIMARY KEY (suite, scale, metric)
);
CREATE TABLE IF NOT EXISTS series (
    key TEXT NOT NULL, step INTEGER NOT NULL, metric TEXT NOT NULL, value REAL,
    PRIMARY KEY (key, step, metric)
);
CREATE TABLE IF NOT EXISTS artifacts (
    key TEXT NOT NULL, name TEXT NOT NULL, text TEXT, data BLOB,
    PRIMARY KEY (key, name)
);
"""
DONE = ("finished", "diverged")


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=60)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.db.commit()

    def close(self) -> None:
        self.db.close()

    def _run_dir(self, key: str, stored: str) -> str:
        """The run directory: as stored, or beside the store when stored relative to another cwd."""
        if Path(stored).is_absolute() or Path(stored).exists():
            return stored
        return str(self.path.parent / "runs" / key)

    def add_run(self, key: str, suite: str, scale: str, setting: dict, seed: int, config: str,
                run_dir: str) -> None:
        """Register a run (a no-op when it is already known)."""
        with self.db:
            self.db.execute(
                "INSERT OR IGNORE INTO runs (key, suite, scale, setting, seed, config, run_dir, updated)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key, suite, scale, json.dumps(setting, sort_keys=True), seed, config, run_dir, time.time()))

    def status(self, key: str) -> str | None:
        row = self.db.execute("SELECT status FROM runs WHERE key = ? LIMIT 1", (key,)).fetchone()
        return row[0] if row else None

    def set_status(self, key: str, status: str, step: int | None = None, seconds: float | None = None,
                   error: str | None = None) -> None:
        with self.db:
            self.db.execute("UPDATE runs SET status = ?, step = COALESCE(?, step), "
                            "seconds = COALESCE(?, seconds), error = ?, updated = ? WHERE key = ?",
                            (status, step, seconds, error, time.time(), key))

    def record(self, key: str, results: list[dict[str, Any]], series: list[tuple[int, str, float]],
               artifacts: dict[str, Any] | None = None) -> None:
        """Store a run's metric results ({metric, protocol_hash, best, best_step, final}), series and
        artefacts (name -> JSON-able value, or bytes)."""
        with self.db:
            if artifacts is not None:
                self._set_artifacts(key, artifacts)
            self.db.execute("DELETE FROM results WHERE key = ?", (key,))
            self.db.execute("DELETE FROM series WHERE key = ?", (key,))
            self.db.executemany(
                "INSERT INTO results (key, metric, protocol_hash, best, best_step, final) VALUES (?, ?, ?, ?, ?, ?)",
                [(key, r["metric"], r["protocol_hash"], r["best"], r["best_step"], r["final"]) for r in results])
            self.db.executemany("INSERT INTO series (key, step, metric, value) VALUES (?, ?, ?, ?)",
                                [(key, s, m, v) for s, m, v in series])

    def records(self, suite: str, scale: str) -> list[dict[str, Any]]:
        """One record per run of a suite and scale: setting, seed, status and metric values."""
        runs = self.db.execute(
            "SELECT key, setting, seed, status, step, seconds, error, config, run_dir FROM runs WHERE suite = ?"
            " AND scale = ? ORDER BY rowid", (suite, scale)).fetchall()
        out = []
        for key, setting, seed, status, step, seconds, error, config, run_dir in runs:
            values = {m: {"best": b, "best_step": bs, "final": f, "protocol_hash": h}
                      for m, h, b, bs, f in self.db.execute(
                          "SELECT metric, protocol_hash, best, best_step, final FROM results WHERE key = ?",
                          (key,))}
            out.append({"key": key, "setting": json.loads(setting), "seed": seed, "status": status,
                        "step": step, "seconds": seconds, "error": error, "values": values,
                        "config": config, "run_dir": self._run_dir(key, run_dir)})
        return out

    def start_invocation(self, suite: str, scale: str, started: float, executor: str) -> int:
        """Record an invocation when it starts (so one killed mid-way still counts its time)."""
        with self.db:
            cur = self.db.execute("INSERT INTO invocations VALUES (?, ?, ?, ?, ?, ?)",
                                  (suite, scale, started, 0.0, executor, 0))
        return int(cur.lastrowid)

    def update_invocation(self, rowid: int, seconds: float, ran: int) -> None:
        with self.db:
            self.db.execute("UPDATE invocations SET seconds = ?, ran = ? WHERE rowid = ?", (seconds, ran, rowid))

    def invocations(self, suite: str, scale: str) -> list[tuple]:
        return self.db.execute("SELECT started, seconds, executor, ran FROM invocations WHERE suite = ? "
                               "AND scale = ? ORDER BY started", (suite, scale)).fetchall()

    def series(self, key: str) -> list[tuple[int, str, float]]:
        return self.db.execute("SELECT step, metric, value FROM series WHERE key = ? ORDER BY step, metric",
                               (key,)).fetchall()

    def add_reference(self, suite: str, scale: str, metric: str, protocol_hash: str, value: float,
                      protocol: dict[str, Any]) -> None:
        """Store (or replace) the real-data reference value of ``metric`` ("fid2k@mnist-cnn/fid")."""
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO reference VALUES (?, ?, ?, ?, ?, ?)",
                            (suite, scale, metric, protocol_hash, value, json.dumps(protocol, sort_keys=True,
                                                                                   default=str)))

    def references(self, suite: str, scale: str) -> list[dict[str, Any]]:
        return [{"metric": m, "protocol_hash": h, "value": v, "protocol": json.loads(p)}
                for m, h, v, p in self.db.execute(
                    "SELECT metric, protocol_hash, value, protocol FROM reference WHERE suite = ? AND scale = ?"
                    " ORDER BY metric", (suite, scale))]

    def _set_artifacts(self, key: str, artifacts: dict[str, Any]) -> None:
        self.db.execute("DELETE FROM artifacts WHERE key = ?", (key,))
        self.db.executemany(
            "INSERT INTO artifacts (key, name, text, data) VALUES (?, ?, ?, ?)",
            [(key, n, None, v) if isinstance(v, bytes) else (key, n, json.dumps(v), None)
             for n, v in artifacts.items() if v is not None])

    def set_artifacts(self, key: str, artifacts: dict[str, Any]) -> None:
        """Replace a run's artefacts (e.g. to fill them in for runs stored before artefacts existed)."""
        with self.db:
            self._set_artifacts(key, artifacts)

    def artifacts(self, key: str) -> dict[str, Any]:
        """A run's artefacts: name -> decoded JSON value, or bytes."""
        return {n: (bytes(d) if d is not None else json.loads(t))
                for n, t, d in self.db.execute("SELECT name, text, data FROM artifacts WHERE key = ?", (key,))}
