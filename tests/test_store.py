"""The result store: recognising its own files (one-line errors for corrupt, foreign or newer ones),
the explicit schema migration, and the claims that let many benches share one store."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ganzoo import store as store_mod
from ganzoo.store import SCHEMA_V1, SCHEMA_VERSION, Store, StoreError, check_store

ROOT = Path(__file__).resolve().parents[1]


def _bench_cli(out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganzoo.cli", "bench", "--suite", "selfmod-where",
                           "--scale", "smoke", "--out", str(out), *extra], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def test_corrupt_store_is_a_one_line_error(tmp_path):
    path = tmp_path / "store.sqlite"
    path.write_bytes(b"this is not a database, just garbage" * 100)
    with pytest.raises(StoreError) as err:
        Store(path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and "move it away" in msg
    with pytest.raises(StoreError):
        check_store(path)
    assert path.read_bytes().startswith(b"this is not a database")  # nothing was overwritten


def test_foreign_sqlite_file_is_refused(tmp_path):
    path = tmp_path / "store.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE photos (id INTEGER, name TEXT)")
    db.commit()
    db.close()
    for opener in (Store, check_store):
        with pytest.raises(StoreError, match="not a ganzoo result store.*tables photos"):
            opener(path)
    db = sqlite3.connect(path)
    assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("photos",)]  # untouched


def test_store_from_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "store.sqlite"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match=f"newer ganzoo \\(store schema {SCHEMA_VERSION + 1}"):
        Store(path)


def test_cli_says_one_line_for_a_garbage_store(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "store.sqlite").write_bytes(b"\x00garbage" * 64)
    for extra in ((), ("--dry-run",)):
        res = _bench_cli(out, "--quiet", *extra)
        assert res.returncode == 2, res.stderr
        assert "Traceback" not in res.stderr and "is not a readable ganzoo result store" in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1


def test_a_version_1_store_is_migrated_and_keeps_its_runs(tmp_path):
    path = tmp_path / "store.sqlite"
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_V1)
    db.execute("INSERT INTO runs (key, suite, scale, setting, seed, config, run_dir, status) "
               "VALUES ('k', 's', 'x', '{}', 0, '{}', 'd', 'finished')")
    db.commit()
    db.close()
    store = Store(path)
    assert store.status("k") == "finished" and store.integrity() == "ok"
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert store.db.execute("PRAGMA application_id").fetchone()[0] == store_mod.APPLICATION_ID
    store.close()


def _store_with(tmp_path: Path, keys: list[str]) -> Store:
    store = Store(tmp_path / "store.sqlite")
    store.add_runs([(k, "s", "x", {}, 0, "{}", "d") for k in keys])
    return store


def test_claims_are_exclusive_and_recorded_once(tmp_path):
    a = _store_with(tmp_path, ["k1", "k2"])
    b = Store(tmp_path / "store.sqlite")
    oa, ob = a.register_owner(), b.register_owner()
    assert a.claim(["k1", "k2"], oa, 0) == "k1"
    assert b.claim(["k1", "k2"], ob, 0) == "k2"  # k1 is held by a live owner
    assert b.claim(["k1", "k2"], ob, 0) is None
    result = [{"metric": "m/fid", "protocol_hash": "h", "best": 1.0, "best_step": 1, "final": 1.0}]
    assert not b.finish("k1", ob, "finished", 1, 1.0, None, result, [])  # not b's claim
    assert b.status("k1") == "running"
    assert a.finish("k1", oa, "finished", 1, 1.0, None, result, [(1, "m/fid", 1.0), (1, "m/fid", 1.0)])
    assert not a.finish("k1", oa, "finished", 1, 1.0, None, result, [])  # released: once only
    assert a.status("k1") == "finished" and a.series("k1") == [(1, "m/fid", 1.0)]
    assert a.claim(["k1", "k2"], oa, 0) is None  # k1 done, k2 held by b


def test_a_claim_of_a_dead_process_is_taken_over(tmp_path):
    store = _store_with(tmp_path, ["k1"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store.db.execute("INSERT INTO owners VALUES ('ghost', ?, ?, 0, 1e18)", (store_mod.HOST, dead.pid))
    store.db.execute("INSERT INTO claims VALUES ('k1', 'ghost', 0)")
    store.db.execute("UPDATE runs SET status = 'running'")
    me = store.register_owner()
    assert store.claim(["k1"], me, 0) == "k1"


def test_a_silent_owner_on_another_host_expires_after_the_lease(tmp_path, monkeypatch):
    store = _store_with(tmp_path, ["k1"])
    import time

    store.db.execute("INSERT INTO owners VALUES ('far', 'other-host', 1, 0, ?)", (time.time(),))
    store.db.execute("INSERT INTO claims VALUES ('k1', 'far', 0)")
    me = store.register_owner()
    assert store.claim(["k1"], me, 0) is None  # a fresh heartbeat: alive
    monkeypatch.setattr(store_mod, "LEASE_SECONDS", 0.0)
    time.sleep(0.01)
    assert store.claim(["k1"], me, 0) == "k1"


def test_runs_failed_during_this_invocation_are_not_retried(tmp_path):
    store = _store_with(tmp_path, ["k1"])
    me = store.register_owner()
    assert store.claim(["k1"], me, 0) == "k1"
    store.finish("k1", me, "failed", None, 1.0, "boom", [], [])
    import time

    assert store.claim(["k1"], me, retry_failed_before=time.time() - 60) is None
    assert store.claim(["k1"], me, retry_failed_before=time.time() + 1) == "k1"  # a later invocation
