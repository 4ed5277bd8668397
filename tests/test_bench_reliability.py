"""Running suites safely: several benches on one store, SIGTERM, checks before training, never losing
a good report, and a suite with two workers killed at random moments."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from ganzoo.bench import LocalExecutor, run_suite
from ganzoo.errors import ConfigError
from ganzoo.store import Store
from ganzoo.suite import load_suite
from test_bench import tiny_suite, values_by_key

ROOT = Path(__file__).resolve().parents[1]
TRAIN_CONFIG = ROOT / "benchmarks" / "configs" / "selfmod-sndcgan-mnist.toml"


def bench_cmd(suite_file: Path, out: Path, results: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "ganzoo.cli", "bench", "--suite", str(suite_file), "--scale", "smoke",
            "--out", str(out), "--results", str(results), "--quiet", *extra]


def tables(path: Path) -> list[str]:
    return [ln for ln in path.read_text().splitlines() if ln.startswith("|")]


def store_rows(out: Path) -> tuple[dict, list, list]:
    store = Store(out / "store.sqlite")
    try:
        runs = {k: s for k, s in store.db.execute("SELECT key, status FROM runs")}
        claims = store.db.execute("SELECT key, owner FROM claims").fetchall()
        invocations = store.invocations("tiny", "smoke")
        assert store.integrity() == "ok"
    finally:
        store.close()
    return runs, claims, invocations


def log_events(run_dir: Path) -> list[str]:
    return [json.loads(ln).get("event") for ln in (run_dir / "log.jsonl").read_text().splitlines()
            if ln.strip() and "event" in json.loads(ln)]


# -- checks before any training ------------------------------------------------------------------
PLOT = '\n[[plots]]\nkind = "bars"\ntitle = "b"\nfile = "b"\ncolumns = "methd"\n'


@pytest.mark.parametrize("old, new, expected", [
    ('rows = ["loss"]', 'rows = ["archh"]', "tables.0 ('best').rows.0: unknown axis 'archh'"),
    ('[scales.smoke]', PLOT + '[scales.smoke]', "plots.0 ('b').columns: unknown axis 'methd'"),
    ('title = "paired"', 'title = "paired"\ntreatment = "selfmood"',
     "tables.1 ('paired').treatment: 'method' has no label 'selfmood'"),
])
def test_tables_and_plots_naming_unknown_axes_fail_at_load(tmp_path, old, new, expected):
    path = tiny_suite(tmp_path)
    path.write_text(path.read_text().replace(old, new, 1))
    with pytest.raises(ConfigError) as err:
        load_suite(path)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_dry_run_checks_the_tables_before_any_training(tmp_path):
    path = tiny_suite(tmp_path)
    path.write_text(path.read_text().replace('rows = ["loss"]', 'rows = ["archh"]'))
    for extra in (("--dry-run",), ()):
        res = subprocess.run(bench_cmd(path, tmp_path / "out", tmp_path / "res", *extra), cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 2 and "unknown axis 'archh'" in res.stderr and "Traceback" not in res.stderr
        assert not (tmp_path / "out" / "runs").exists()  # nothing was trained


# -- never lose a good report --------------------------------------------------------------------
def test_a_bench_without_values_keeps_the_existing_report(tmp_path, registry):
    suite = load_suite(tiny_suite(tmp_path, steps=2))
    results = tmp_path / "results"
    results.mkdir()
    report = results / "tiny-smoke.md"
    report.write_text("| a good table |\n")
    missing = {"data.name": "image-folder", "data.params": {"path": str(tmp_path / "nowhere")}}
    summary = run_suite(suite, "smoke", tmp_path / "out", registry, LocalExecutor(registry), results,
                        extra_set=missing, seeds=[0], progress=False)
    assert summary.failed == 4 and summary.report is None
    assert "no run of this bench produced a value" in summary.note and str(report) in summary.note
    assert report.read_text() == "| a good table |\n"


# -- many benches, one store ---------------------------------------------------------------------
@pytest.mark.slow
def test_three_benches_on_one_store_train_and_record_every_run_once(tmp_path, registry):
    suite_file = tiny_suite(tmp_path, steps=10)
    shared, res = tmp_path / "shared", tmp_path / "res"
    procs = [subprocess.Popen(bench_cmd(suite_file, shared, res), cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=900) for p in procs]
    for p, (stdout, stderr) in zip(procs, outputs):
        assert p.returncode == 0, stderr
        assert "Traceback" not in stderr
    runs, claims, invocations = store_rows(shared)
    assert len(runs) == 8 and set(runs.values()) == {"finished"} and claims == []
    assert sum(ran for _, _, _, ran in invocations) == 8  # every run recorded exactly once
    for key in runs:  # ... and trained exactly once: one start, no resume, one finish
        assert log_events(shared / "runs" / key) == ["start", "finished"]

    single = run_suite(load_suite(suite_file), "smoke", tmp_path / "single", registry, LocalExecutor(registry),
                       tmp_path / "res1", progress=False)
    assert single.finished == 8
    assert values_by_key(shared / "store.sqlite") == values_by_key(tmp_path / "single" / "store.sqlite")
    assert tables(res / "tiny-smoke.md") == tables(tmp_path / "res1" / "tiny-smoke.md")


# -- preemption ----------------------------------------------------------------------------------
@contextlib.contextmanager
def _killed_on_failure(proc: subprocess.Popen):
    """A failed test must not leave a 100000-step training behind (workers stop with their parent)."""
    try:
        yield
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _wait_for(predicate, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.mark.slow
def test_sigterm_stops_ganzoo_train_with_a_checkpoint(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "ganzoo.cli", "train", str(TRAIN_CONFIG), "--out", str(out), "--quiet",
           "--set", "data.name=digits", "--set", "data.resolution=8", "--set", "model.params.width=0.0625",
           "--set", "train.g_steps=100000", "--set", "train.batch_size=16", "--set", "fast.bf16=false",
           "--set", "log.checkpoint_every=100000", "--set", "log.log_every=5", "--set", "eval.metrics=[]"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = out / "log.jsonl"
    with _killed_on_failure(proc):
        _wait_for(lambda: log.exists() and len(log.read_text().splitlines()) >= 3, 240, proc)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert stdout.startswith("interrupted: ")
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "interrupted" and 0 < status["step"] < 100000
    assert (out / "checkpoint.pt").exists()  # written at the step boundary, not at checkpoint_every
    assert log_events(out)[-1] == "interrupted"


def _two_worker_bench(tmp_path: Path, **popen) -> tuple[subprocess.Popen, Path]:
    """A 2-worker bench of runs too long to finish (no checkpoint or evaluation on the way)."""
    suite_file = tiny_suite(tmp_path, steps=100000)
    suite_file.write_text(suite_file.read_text().replace("checkpoint_every = 5", "checkpoint_every = 100000")
                          .replace("every = 10, extractor", "every = 100000, extractor"))
    out = tmp_path / "out"
    cmd = bench_cmd(suite_file, out, tmp_path / "res", "--executor", "processes", "--workers", "2")
    return subprocess.Popen(cmd, cwd=ROOT, **popen), out


def _two_training(out: Path) -> Callable[[], bool]:
    def check() -> bool:
        logs = list(out.glob("runs/*/log.jsonl"))
        return len(logs) == 2 and all(len(p.read_text().splitlines()) >= 2 for p in logs)

    return check


@pytest.mark.slow
def test_sigterm_stops_every_worker_of_ganzoo_bench(tmp_path):
    proc, out = _two_worker_bench(tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with _killed_on_failure(proc):
        _wait_for(_two_training(out), 300, proc)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "2 interrupted" in stdout and "Traceback" not in stderr
    runs, claims, _ = store_rows(out)
    interrupted = sorted(k for k, s in runs.items() if s == "interrupted")
    assert len(interrupted) == 2 and claims == []
    assert sorted(s for s in runs.values() if s != "interrupted") == ["pending"] * 6
    for key in interrupted:
        run_dir = out / "runs" / key
        status = json.loads((run_dir / "status.json").read_text())
        assert status["state"] == "interrupted" and 0 < status["step"] < 100000
        assert (run_dir / "checkpoint.pt").exists()
    store = Store(out / "store.sqlite")  # ready to resume: the next bench claims them first
    # The real-data reference is computed before any training, so a stopped bench has it too.
    assert [r["metric"] for r in store.references("tiny", "smoke")] == ["fid100@mnist-cnn/fid"]
    me = store.register_owner()
    keys = sorted(runs, key=lambda k: k not in interrupted)
    assert store.claim(keys, me, 0) in interrupted
    store.close()


# -- chaos at scale ------------------------------------------------------------------------------
def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _progress(out: Path) -> list:
    """What the workers have written so far (size and time of every run's log and status)."""
    files = sorted(out.glob("runs/*/log.jsonl")) + sorted(out.glob("runs/*/status.json"))
    return [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.exists()]


@pytest.mark.slow(seconds=350)
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc to find the workers")
def test_two_worker_suite_killed_20_times_finishes_as_if_uninterrupted(tmp_path, registry):
    # Long enough that 20 kills land before it finishes: 2,000-image evaluations every 10 steps.
    suite_file = tiny_suite(tmp_path, steps=80, metric="fid2k")
    out, res = tmp_path / "killed", tmp_path / "res"
    cmd = bench_cmd(suite_file, out, res, "--executor", "processes", "--workers", "2")
    rng = random.Random(int(os.environ.get("GANZOO_CHAOS_SEED", "0")))
    kills = 0
    while kills < 20:
        before = _progress(out)
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 300
        while _progress(out) == before and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)  # until a worker trains: past the imports and the spawning
        time.sleep(rng.uniform(0.0, 4.0))  # a random moment: training, eval, checkpoint, recording
        if proc.poll() is not None:
            break  # the suite finished before this kill
        victims = [proc.pid] + _children(proc.pid)
        for pid in victims:  # SIGKILL the bench and its workers at once (a power cut, the OOM killer)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
        kills += 1
    final = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert final.returncode == 0, final.stderr
    assert kills == 20, "the suite finished before it was killed 20 times"

    runs, claims, _ = store_rows(out)
    assert len(runs) == 8 and set(runs.values()) == {"finished"} and claims == []
    for key in runs:  # no run finished twice or lost its log: one finish event each
        assert log_events(out / "runs" / key).count("finished") == 1
    assert sum(log_events(out / "runs" / k).count("resume") for k in runs) >= 5  # kills hit training
    clean = run_suite(load_suite(suite_file), "smoke", tmp_path / "clean", registry, LocalExecutor(registry),
                      tmp_path / "res2", progress=False)
    assert clean.finished == 8
    assert values_by_key(out / "store.sqlite") == values_by_key(tmp_path / "clean" / "store.sqlite")
    assert tables(res / "tiny-smoke.md") == tables(tmp_path / "res2" / "tiny-smoke.md")


def _alive(pid: int) -> bool:
    """Running (a zombie that nobody reaped has exited)."""
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc to find the workers")
def test_workers_of_a_sigkilled_bench_checkpoint_and_exit(tmp_path):
    proc, out = _two_worker_bench(tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with _killed_on_failure(proc):
        _wait_for(_two_training(out), 300, proc)
        workers = _children(proc.pid)
        assert len(workers) >= 2
        os.kill(proc.pid, signal.SIGKILL)  # the bench alone: the OOM killer's choice, say
        proc.wait()
    deadline = time.time() + 120
    while any(_alive(p) for p in workers) and time.time() < deadline:
        time.sleep(0.2)
    left = [p for p in workers if _alive(p)]
    for pid in left:  # do not leak them into the rest of the test run
        os.kill(pid, signal.SIGKILL)
    assert not left, "workers of a dead bench are still running"
    for run_dir in [p.parent for p in out.glob("runs/*/log.jsonl")]:  # each stopped at a step boundary
        status = json.loads((run_dir / "status.json").read_text())
        assert status["state"] == "interrupted" and 0 < status["step"] < 100000
        assert (run_dir / "checkpoint.pt").exists()
