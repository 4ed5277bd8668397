"""The result store of the benchmark runner: one embedded SQLite file (WAL) beside the run directories.

``runs`` holds every run of every suite and scale (keyed by the hash of its resolved config) with its
state; ``results`` the best-during-training and final value of every metric value; ``series`` the
metric time series; ``artifacts`` what the report needs from a run directory, read once when the
run ends (kimg per step, the singular-value series, sample-grid names and the last grid's PNG), so
no renderer opens a run directory; ``reference`` the real-data reference value of each metric value
(real images in place of generated ones, :func:`ganzoo.metrics.evaluate_real_reference`). Any
number of ``ganzoo bench`` processes may share one store: each registers itself in ``owners`` (host, pid, a heartbeat it renews) and claims a run in ``claims`` in one
``BEGIN IMMEDIATE`` transaction before training it; a claim whose owner is dead (its pid is gone on
this host, or its heartbeat is older than the lease) is taken over. A run's outcome, its status
and the release of its claim are written in one transaction, only by the claim's holder, so a run
is never recorded twice and a killed bench leaves a consistent store that any bench resumes.

The file carries SQLite's ``application_id`` (``GANZ``) and ``user_version`` (the schema version);
older schemas are migrated explicitly, a newer, foreign or corrupt file is refused with one line.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterable

from ganzoo.errors import GanzooError

APPLICATION_ID = 0x47414E5A  # "GANZ"
SCHEMA_VERSION = 3  # 1: runs, results, invocations, series (no version stamp); 2: + owners, claims;
# 3: + artifacts (what the report reads from a run directory), reference (real-data reference values)
LEASE_SECONDS = float(os.environ.get("GANZOO_LEASE_SECONDS", "120"))  # a silent owner's claims expire
SCHEMA_V1 = """
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
CREATE TABLE IF NOT EXISTS series (
    key TEXT NOT NULL, step INTEGER NOT NULL, metric TEXT NOT NULL, value REAL,
    PRIMARY KEY (key, step, metric)
);
"""
MIGRATIONS = {  # version reached -> the statements that reach it from the one before
    2: """
CREATE TABLE IF NOT EXISTS owners (
    owner TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, started REAL NOT NULL,
    heartbeat REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY, owner TEXT NOT NULL, claimed REAL NOT NULL
);
""",
    3: """
CREATE TABLE IF NOT EXISTS artifacts (
    key TEXT NOT NULL, name TEXT NOT NULL, text TEXT, data BLOB,
    PRIMARY KEY (key, name)
);
CREATE TABLE IF NOT EXISTS reference (
    suite TEXT NOT NULL, scale TEXT NOT NULL, metric TEXT NOT NULL, protocol_hash TEXT NOT NULL,
    value REAL, protocol TEXT NOT NULL,
    PRIMARY KEY (suite, scale, metric)
);
""",
}
V1_TABLES = {"runs", "results", "invocations", "series"}
DONE = ("finished", "diverged")
HOST = socket.gethostname()


class StoreError(GanzooError):
    """The store file is corrupt, foreign, or from a newer ganzoo."""


def pid_alive(pid: int) -> bool:
    """Whether a process of this host is alive (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return True


def recognise(db: sqlite3.Connection, path: Path) -> tuple[int, set[str]]:
    """The schema version and tables of an open store file; StoreError for a foreign or newer one."""
    app = db.execute("PRAGMA application_id").fetchone()[0]
    version = db.execute("PRAGMA user_version").fetchone()[0]
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if app not in (0, APPLICATION_ID) or (app == 0 and tables and not V1_TABLES <= tables):
        raise StoreError(
            f"{path} is not a ganzoo result store (an SQLite file of another program: application id "
            f"{app:#x}, tables {', '.join(sorted(tables)) or 'none'}); point --out at another directory")
    if app == APPLICATION_ID and version > SCHEMA_VERSION:
        raise StoreError(f"{path} was written by a newer ganzoo (store schema {version}; this one reads "
                         f"up to {SCHEMA_VERSION}); upgrade ganzoo, or point --out elsewhere")
    return max(version, 1), tables  # a store without a stamp is schema 1


def _unreadable(path: Path, exc: Exception) -> StoreError:
    return StoreError(f"{path} is not a readable ganzoo result store ({exc}: corrupt, or another "
                      "program's file); move it away and run again to start a new store, or point "
                      "--out elsewhere")


def check_store(path: str | Path) -> None:
    """Read-only: the checks opening ``path`` would make (nothing to check when it does not exist)."""
    path = Path(path)
    if not path.exists():
        return
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
    except sqlite3.DatabaseError as exc:
        raise _unreadable(path, exc) from None
    try:
        recognise(db, path)
    except sqlite3.DatabaseError as exc:
        raise _unreadable(path, exc) from None
    finally:
        db.close()


def peek_statuses(path: str | Path) -> dict[str, tuple[str, int]]:
    """Read-only: (status, step) of every run key in the store at ``path`` ({} when there is none),
    a done row first when several suites list one run, as :meth:`Store.status` does."""
    path = Path(path)
    if not path.exists():
        return {}
    check_store(path)
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
    try:
        rows = db.execute("SELECT key, status, step FROM runs").fetchall()
    finally:
        db.close()
    out: dict[str, tuple[str, int]] = {}
    for key, status, step in rows:
        if key not in out or (status in DONE and out[key][0] not in DONE):
            out[key] = (status, step or 0)
    return out


def peek_runs(path: str | Path, suite: str, scale: str) -> list[dict[str, Any]]:
    """Read-only: key, setting, status, step and seconds of every run of a suite and scale in the
    store at ``path`` ([] when there is none)."""
    path = Path(path)
    if not path.exists():
        return []
    check_store(path)
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
    try:
        rows = db.execute("SELECT key, setting, status, step, seconds FROM runs WHERE suite = ? AND scale = ?",
                          (suite, scale)).fetchall()
    finally:
        db.close()
    return [{"key": k, "setting": json.loads(st), "status": s, "step": n, "seconds": sec}
            for k, st, s, n, sec in rows]


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)  # explicit transactions
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self._open_schema()
        except sqlite3.DatabaseError as exc:
            self.db.close()
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            raise _unreadable(self.path, exc) from None

    def _open_schema(self) -> None:
        """Create, recognise or migrate the schema, in one write transaction (benches may race here)."""
        with self.tx():
            version, tables = recognise(self.db, self.path)
            if not tables:
                self._script(SCHEMA_V1)
            for target in range(version + 1, SCHEMA_VERSION + 1):
                self._script(MIGRATIONS[target])
            self.db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _script(self, sql: str) -> None:
        for statement in sql.split(";"):  # not executescript, which would commit the transaction
            if statement.strip():
                self.db.execute(statement)

    def tx(self):
        """A ``BEGIN IMMEDIATE`` transaction: the write lock is taken at once, so read-then-write is atomic."""
        return _Transaction(self.db)

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
        self.add_runs([(key, suite, scale, setting, seed, config, run_dir)])

    def add_runs(self, runs: Iterable[tuple[str, str, str, dict, int, str, str]]) -> None:
        """Register runs (key, suite, scale, setting, seed, config, run_dir) in one transaction."""
        now = time.time()
        with self.tx():
            self.db.executemany(
                "INSERT OR IGNORE INTO runs (key, suite, scale, setting, seed, config, run_dir, updated)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(k, su, sc, json.dumps(st, sort_keys=True), seed, c, d, now)
                 for k, su, sc, st, seed, c, d in runs])
            # A run with the same config is the same run, whichever suites list it (the reference
            # setting of one suite is often a setting of another): a row added for a run another
            # suite's row already has done takes its outcome, so both suites' reports show it.
            self.db.execute(
                "UPDATE runs SET (status, step, seconds, error) = (SELECT d.status, d.step, d.seconds, d.error "
                "FROM runs d WHERE d.key = runs.key AND d.status IN ('finished', 'diverged') LIMIT 1) "
                "WHERE status NOT IN ('finished', 'diverged') AND key IN "
                "(SELECT key FROM runs WHERE status IN ('finished', 'diverged'))")

    def status(self, key: str) -> str | None:
        """A run's status; a run known under several suites is done when any of its rows is."""
        rows = [r[0] for r in self.db.execute("SELECT status FROM runs WHERE key = ?", (key,))]
        return next((s for s in rows if s in DONE), rows[0] if rows else None)

    # -- owners and claims: many benches on one store ----------------------------------------------
    def register_owner(self) -> str:
        """This process as a claim owner (host, pid, heartbeat); returns its token."""
        owner = f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        now = time.time()
        with self.tx():
            self.db.execute("INSERT INTO owners (owner, host, pid, started, heartbeat) VALUES (?, ?, ?, ?, ?)",
                            (owner, HOST, os.getpid(), now, now))
        return owner

    def heartbeat(self, owner: str) -> None:
        with self.tx():
            self.db.execute("UPDATE owners SET heartbeat = ? WHERE owner = ?", (time.time(), owner))

    def retire_owner(self, owner: str) -> None:
        """A bench that ends: its claims (normally none left) and its owner row go."""
        with self.tx():
            self.db.execute("DELETE FROM claims WHERE owner = ?", (owner,))
            self.db.execute("DELETE FROM owners WHERE owner = ?", (owner,))

    def _live_owners(self, now: float) -> set[str]:
        """Owners whose heartbeat is within the lease and, on this host, whose process lives."""
        live = set()
        for owner, host, pid, beat in self.db.execute("SELECT owner, host, pid, heartbeat FROM owners"):
            if beat >= now - LEASE_SECONDS and (host != HOST or pid_alive(pid)):
                live.add(owner)
        return live

    def claim(self, keys: list[str], owner: str, retry_failed_before: float,
              skip: set[str] = frozenset()) -> str | None:
        """Claim the first of ``keys`` that is not done, not held by a live owner, not in ``skip``
        and not failed since ``retry_failed_before`` (failed during this invocation, maybe by
        another bench: not retried in a loop); one transaction. Returns the key, or None."""
        now = time.time()
        with self.tx():
            live = self._live_owners(now) | {owner}
            held = {k: o for k, o in self.db.execute("SELECT key, owner FROM claims")}
            state: dict[str, tuple[str, float]] = {}
            for key, status, updated in self.db.execute("SELECT key, status, updated FROM runs"):
                if key not in state or status in DONE:
                    state[key] = (status, updated or 0.0)
            for key in keys:
                if key in skip or key not in state:
                    continue
                status, updated = state[key]
                if status in DONE or (status == "failed" and updated >= retry_failed_before):
                    continue
                if key in held and held[key] in live:
                    continue
                self.db.execute("INSERT OR REPLACE INTO claims (key, owner, claimed) VALUES (?, ?, ?)",
                                (key, owner, now))
                self.db.execute("UPDATE runs SET status = 'running', updated = ? WHERE key = ?", (now, key))
                return key
        return None

    def held_by_others(self, keys: Iterable[str], owner: str) -> int:
        """How many of ``keys`` are being trained right now by other live benches."""
        live = self._live_owners(time.time()) - {owner}
        wanted = set(keys)
        return sum(1 for k, o in self.db.execute("SELECT key, owner FROM claims") if k in wanted and o in live)

    def finish(self, key: str, owner: str, status: str, step: int | None, seconds: float | None,
               error: str | None, results: list[dict[str, Any]], series: list[tuple[int, str, float]],
               artifacts: dict[str, Any] | None = None) -> bool:
        """Record a claimed run's outcome and release the claim, in one transaction.

        Only the claim's holder records: when the claim was taken over (this bench was presumed
        dead), nothing is written and False is returned.
        """
        with self.tx():
            row = self.db.execute("SELECT owner FROM claims WHERE key = ?", (key,)).fetchone()
            if row is None or row[0] != owner:
                return False
            self._record(key, results, series, artifacts)
            self._set_status(key, status, step, seconds, error)
            self.db.execute("DELETE FROM claims WHERE key = ?", (key,))
        return True

    def release(self, key: str, owner: str, status: str) -> None:
        """Give a claimed run back untouched (e.g. its directory is locked by a process still training it)."""
        with self.tx():
            if self.db.execute("DELETE FROM claims WHERE key = ? AND owner = ?", (key, owner)).rowcount:
                self._set_status(key, status, None, None, None)

    def set_status(self, key: str, status: str, step: int | None = None, seconds: float | None = None,
                   error: str | None = None) -> None:
        with self.tx():
            self._set_status(key, status, step, seconds, error)

    def _set_status(self, key: str, status: str, step: int | None, seconds: float | None,
                    error: str | None) -> None:
        self.db.execute("UPDATE runs SET status = ?, step = COALESCE(?, step), "
                        "seconds = COALESCE(?, seconds), error = ?, updated = ? WHERE key = ?",
                        (status, step, seconds, error, time.time(), key))

    def record(self, key: str, results: list[dict[str, Any]], series: list[tuple[int, str, float]],
               artifacts: dict[str, Any] | None = None) -> None:
        """Store a run's metric results ({metric, protocol_hash, best, best_step, final}), series and
        artefacts (name -> JSON-able value, or bytes)."""
        with self.tx():
            self._record(key, results, series, artifacts)

    def _record(self, key: str, results: list[dict[str, Any]], series: list[tuple[int, str, float]],
                artifacts: dict[str, Any] | None = None) -> None:
        if artifacts is not None:
            self._set_artifacts(key, artifacts)
        self.db.execute("DELETE FROM results WHERE key = ?", (key,))
        self.db.execute("DELETE FROM series WHERE key = ?", (key,))
        self.db.executemany(
            "INSERT OR REPLACE INTO results (key, metric, protocol_hash, best, best_step, final) VALUES (?, ?, ?, ?, ?, ?)",
            [(key, r["metric"], r["protocol_hash"], r["best"], r["best_step"], r["final"]) for r in results])
        # OR REPLACE: a metrics.jsonl with a step written twice keeps its last value, not a crash.
        self.db.executemany("INSERT OR REPLACE INTO series (key, step, metric, value) VALUES (?, ?, ?, ?)",
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
        with self.tx():
            cur = self.db.execute("INSERT INTO invocations VALUES (?, ?, ?, ?, ?, ?)",
                                  (suite, scale, started, 0.0, executor, 0))
        return int(cur.lastrowid)

    def update_invocation(self, rowid: int, seconds: float, ran: int) -> None:
        with self.tx():
            self.db.execute("UPDATE invocations SET seconds = ?, ran = ? WHERE rowid = ?", (seconds, ran, rowid))

    def drop_invocation(self, rowid: int) -> None:
        """Forget an invocation that recorded no run (everything was done or taken by other benches)."""
        with self.tx():
            self.db.execute("DELETE FROM invocations WHERE rowid = ?", (rowid,))

    def invocations(self, suite: str, scale: str) -> list[tuple]:
        return self.db.execute("SELECT started, seconds, executor, ran FROM invocations WHERE suite = ? "
                               "AND scale = ? ORDER BY started", (suite, scale)).fetchall()

    def integrity(self) -> str:
        """SQLite's ``integrity_check``: "ok" for a sound file."""
        return "; ".join(r[0] for r in self.db.execute("PRAGMA integrity_check"))

    def series(self, key: str) -> list[tuple[int, str, float]]:
        return self.db.execute("SELECT step, metric, value FROM series WHERE key = ? ORDER BY step, metric",
                               (key,)).fetchall()

    def add_reference(self, suite: str, scale: str, metric: str, protocol_hash: str, value: float,
                      protocol: dict[str, Any]) -> None:
        """Store (or replace) the real-data reference value of ``metric`` ("fid2k@mnist-cnn/fid")."""
        with self.tx():
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
        with self.tx():
            self._set_artifacts(key, artifacts)

    def artifacts(self, key: str) -> dict[str, Any]:
        """A run's artefacts: name -> decoded JSON value, or bytes."""
        return {n: (bytes(d) if d is not None else json.loads(t))
                for n, t, d in self.db.execute("SELECT name, text, data FROM artifacts WHERE key = ?", (key,))}


class Heartbeat:
    """A daemon thread renewing an owner's heartbeat every quarter lease, on its own connection."""

    def __init__(self, path: Path, owner: str) -> None:
        self.path, self.owner = path, owner
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ganzoo-heartbeat", daemon=True)

    def _run(self) -> None:
        db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            while not self._stop.wait(LEASE_SECONDS / 4):
                with contextlib.suppress(sqlite3.OperationalError):  # busy: the next beat will do
                    db.execute("UPDATE owners SET heartbeat = ? WHERE owner = ?", (time.time(), self.owner))
        finally:
            db.close()

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on an exception); nested uses join the outer one."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.outer = False

    def __enter__(self) -> sqlite3.Connection:
        if not self.db.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")
            self.outer = True
        return self.db

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.outer:
            self.db.execute("ROLLBACK" if exc_type is not None else "COMMIT")
