"""The benchmark runner: suite -> runs -> executor -> result store -> tables.

``run_suite`` expands a suite at a scale, registers every run in the store, skips runs that are
finished (or diverged: a result too), resumes interrupted ones from their last checkpoint, and runs
the rest on an executor: in process, a local process pool, or Ray. The parent claims each run in
the store before handing it to the executor, so several benches (and their executors) can share
one store; workers never touch the store: they return an outcome that the parent records with the
release of the claim, one short transaction. Then the tables are regenerated from the store
(``ganzoo report`` does only that step).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
import traceback
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Iterable

from tqdm.auto import tqdm

from ganzoo import preempt
from ganzoo.errors import GanzooError
from ganzoo.store import DONE, Heartbeat, Store
from ganzoo.suite import RunSpec, Suite, expand

STORE_FILE = "store.sqlite"


# -- one run, in whatever process executes it -------------------------------------------------------
LOCK_WAIT_S = float(os.environ.get("GANZOO_LOCK_WAIT_SECONDS", "60"))


def run_job(job: dict[str, Any], registry: Any) -> dict[str, Any]:
    """Train (or resume) one run and collect its metric results. Never raises: failures are outcomes.

    The run directory is locked (``flock`` on ``job["lock"]``, released by the kernel when the
    process dies) for the whole run, so two processes never train one run at once, even when a
    bench was presumed dead while its worker still trained. A stop request (SIGTERM, Ctrl-C)
    ends the run at a step boundary as ``interrupted``; one that came before it started starts
    nothing.
    """
    t0 = time.time()
    if preempt.STATE.stopping:
        return _outcome(job, "interrupted", t0, error="stopped before it started")
    lock = acquire_lock(Path(job["lock"]), LOCK_WAIT_S) if job.get("lock") else None
    if lock is False:
        return _outcome(job, "busy", t0, error="its run directory is locked by another process")
    try:
        return _train_job(job, t0, registry)
    finally:
        if lock:
            lock.close()


def run_job_in_worker(job: dict[str, Any]) -> dict[str, Any]:
    """:func:`run_job` in a worker process (a pool or Ray): the worker builds its own registry."""
    from ganzoo.registry import load_registry

    with preempt.in_job():
        outcome = run_job(job, load_registry())
    outcome["gpus"] = os.environ.get("CUDA_VISIBLE_DEVICES")  # where it ran (None: not restricted)
    return outcome


def _train_job(job: dict[str, Any], t0: float, registry: Any) -> dict[str, Any]:
    import torch

    from ganzoo.config import resolve
    from ganzoo.train import train

    run_dir = Path(job["run_dir"])
    cfg = None
    try:
        if job.get("threads"):
            torch.set_num_threads(job["threads"])
        cfg = resolve(json.loads(job["config"]), registry)
        resume = (run_dir / "checkpoint.pt").exists() or (run_dir / "config.json").exists()
        with preempt.in_training():
            result = train(cfg, run_dir, registry=registry, resume=resume, progress=False)
        results, series = collect_metrics(run_dir, result.status, cfg.train.g_steps)
        results += collapse_result(run_dir, cfg)
        if job.get("sweep") and result.status == "finished":
            from ganzoo.sweep import run_sweep

            results += run_sweep(run_dir, job["sweep"], result.step, registry)
        return {"key": job["key"], "status": result.status, "step": result.step,
                "seconds": result.seconds, "results": results, "series": series, "error": None,
                "artifacts": collect_artifacts(run_dir)}
    except KeyboardInterrupt:  # a stop before the trainer's own handler was in place, or a second one
        results, series = [], []
        if cfg is not None:
            with contextlib.suppress(Exception):
                results, series = collect_metrics(run_dir, "interrupted", cfg.train.g_steps)
        return {**_outcome(job, "interrupted", t0, error="interrupted"), "results": results, "series": series,
                "artifacts": collect_artifacts(run_dir)}
    except Exception as exc:  # a failed run is recorded, the suite goes on
        detail = f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, GanzooError):
            detail += "\n" + traceback.format_exc(limit=5)
        return {**_outcome(job, "failed", t0, error=detail), "artifacts": collect_artifacts(run_dir)}


def _outcome(job: dict, status: str, t0: float, error: str | None = None) -> dict[str, Any]:
    return {"key": job["key"], "status": status, "step": None, "seconds": time.time() - t0,
            "results": [], "series": [], "error": error}


def acquire_lock(path: Path, wait: float):
    """An open file holding an exclusive ``flock`` on ``path`` (close it to release), False when
    another process holds it for longer than ``wait`` seconds, None where locking is unavailable."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: the store's claims alone
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    f = open(path, "a")
    deadline = time.time() + wait
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return f
        except BlockingIOError:
            if time.time() >= deadline or preempt.STATE.stopping:
                f.close()
                return False
            time.sleep(0.2)
        except OSError:  # a file system without locks
            f.close()
            return None


def collect_metrics(run_dir: Path, status: str, g_steps: int) -> tuple[list[dict], list[tuple]]:
    """Best-during-training and final value of every metric value, and the series.

    The best values are the ones training kept (``status.json``, by each metric's declared
    direction); the series and final values come from ``metrics.jsonl``.
    """
    status_path = run_dir / "status.json"
    best = json.loads(status_path.read_text()).get("best") or {} if status_path.exists() else {}
    path = run_dir / "metrics.jsonl"
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []
    series, by_metric = [], {}
    for rec in lines:
        for key, value in rec["values"].items():
            name = f"{rec['name']}/{key}"
            series.append((rec["step"], name, value))
            by_metric.setdefault(name, {"protocol_hash": rec["protocol_hash"], "points": []})
            by_metric[name]["points"].append((rec["step"], value))
    results = []
    for name, info in by_metric.items():
        points = info["points"]
        kept = best.get(name) or {}
        final = next((v for s, v in points if s == g_steps), None) if status == "finished" else None
        results.append({"metric": name, "protocol_hash": info["protocol_hash"], "best": kept.get("value"),
                        "best_step": kept.get("step"), "final": final})
    return results, series


def _jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by a kill: the rest still counts
            continue
    return out


def collect_artifacts(run_dir: Path) -> dict[str, Any]:
    """What the report needs from a run directory, read once when the run ends (see ganzoo.store).

    ``kimg``: images shown (thousands) per step from log.jsonl and metrics.jsonl, as the trainer
    counted them; ``sv``: the singular-value records of sv.jsonl; ``samples``: the sample-grid
    file names; ``grid``: the last grid of the run (the final one when it finished) as PNG bytes.
    """
    run_dir = Path(run_dir)
    kimg = {}
    for rec in _jsonl(run_dir / "log.jsonl") + _jsonl(run_dir / "metrics.jsonl"):
        if "step" in rec and "kimg" in rec:
            kimg[str(int(rec["step"]))] = float(rec["kimg"])
    grids = sorted(p for p in (run_dir / "samples").glob("*.png")) if (run_dir / "samples").is_dir() else []
    step_grids = [p for p in grids if p.name.startswith("step-")]
    last = (step_grids or grids)[-1] if grids else None
    return {"kimg": kimg, "sv": _jsonl(run_dir / "sv.jsonl"), "samples": [p.name for p in grids],
            "grid": last.read_bytes() if last is not None else None}


def collapse_result(run_dir: Path, cfg: Any) -> list[dict]:
    """The singular-value monitor's collapse step (BigGAN Table 1's 'Itr') as a pseudo-metric.

    Stored as ``monitor/collapse_step``; a run without a detected collapse stores no value.
    """
    if not cfg.log.sv_every:
        return []
    status = json.loads((run_dir / "status.json").read_text()) if (run_dir / "status.json").exists() else {}
    step = status.get("collapse_step")
    return [{"metric": "monitor/collapse_step", "protocol_hash": f"sv-every-{cfg.log.sv_every}",
             "best": step, "best_step": step, "final": step}]


# -- executors --------------------------------------------------------------------------------------
# An executor runs ``run(next_job, on_done)``: it asks ``next_job()`` for work (a claimed run, or
# None when there is nothing left to claim now) whenever it has a free slot, and hands every
# outcome to ``on_done`` in this process. ``signal_workers(sig)`` passes a stop request on: SIGTERM
# (stop at a step boundary) or SIGINT (stop now).
def visible_gpus() -> list[str]:
    """The GPUs this process may use: ``CUDA_VISIBLE_DEVICES``'s list, else each GPU torch counts."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def assign_gpu(gpus: list[str], counter: Any) -> str:
    """The next worker's GPU, in turn (``counter``: a shared ``Value`` the pool's workers count with);
    set as ``CUDA_VISIBLE_DEVICES``, so a run on ``cuda`` in that worker uses it alone."""
    with counter.get_lock():
        index, counter.value = counter.value, counter.value + 1
    os.environ["CUDA_VISIBLE_DEVICES"] = gpus[index % len(gpus)]
    return os.environ["CUDA_VISIBLE_DEVICES"]


def _init_worker(threads: int | None, parent: int, gpus: list[str] | None = None, counter: Any = None) -> None:
    preempt.init_worker(detach=True, parent=parent)
    if gpus and counter is not None:
        assign_gpu(gpus, counter)
    if threads:
        import torch

        torch.set_num_threads(threads)


class LocalExecutor:
    """Runs jobs one after another in this process, with the caller's registry."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry

    def run(self, next_job: Callable, on_done: Callable) -> None:
        while (job := next_job()) is not None:
            on_done(run_job(job, self.registry))

    def signal_workers(self, sig: int) -> None:
        if sig == signal.SIGTERM:
            preempt.request_stop()
        elif preempt.STATE.in_training:
            raise KeyboardInterrupt


class ProcessExecutor:
    """A local pool of ``workers`` processes (spawned), each running one job at a time.

    On a machine with several GPUs (``gpus``, by default :func:`visible_gpus`) the workers are
    spread over them, one GPU per worker in turn, so runs on ``cuda`` do not all land on the first;
    more workers than GPUs share them (small models leave a GPU mostly idle: benchmarks/gpu).
    """

    def __init__(self, workers: int, gpus: list[str] | None = None) -> None:
        self.workers = workers
        self.gpus = gpus
        self._pool: ProcessPoolExecutor | None = None

    def run(self, next_job: Callable, on_done: Callable) -> None:
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        gpus = self.gpus if self.gpus is not None else visible_gpus()
        ctx = get_context("spawn")
        spread = (gpus, ctx.Value("i", 0)) if len(gpus) > 1 else (None, None)
        pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                   initargs=(threads, os.getpid(), *spread))
        self._pool = pool
        running: dict = {}
        broken = False
        try:
            while True:
                while not broken and len(running) < self.workers and (job := next_job()) is not None:
                    running[pool.submit(run_job_in_worker, job)] = job
                if not running:
                    break
                done, _ = wait(running, timeout=5, return_when=FIRST_COMPLETED)
                for fut in done:
                    job = running.pop(fut)
                    try:
                        outcome = fut.result()
                    except Exception as exc:  # the worker died (killed, out of memory)
                        broken = True
                        outcome = _outcome(job, "failed", time.time(),
                                           error=f"the worker process died: {type(exc).__name__}: {exc}")
                    on_done(outcome)
            pool.shutdown(wait=True)
        except BaseException:  # abandoned (a third Ctrl-C): the workers must not train on
            self.signal_workers(signal.SIGKILL)
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            self._pool = None

    def signal_workers(self, sig: int) -> None:
        pool = self._pool
        for pid in list(getattr(pool, "_processes", None) or {}):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)


class RayExecutor:
    """Runs jobs as Ray tasks on an existing cluster (``address``) or a local one.

    A run reserves ``gpus_per_run`` GPUs (Ray's ``num_gpus``; a fraction packs several runs on one
    GPU); by default 1 for a run on CUDA (``train.device``) and 0 otherwise. A task that reserves
    none is neither sent to a node with a GPU nor given one of its own (Ray sets no
    ``CUDA_VISIBLE_DEVICES`` for it), so CUDA runs would pile onto the first GPU of whatever node.
    """

    def __init__(self, address: str | None, workers: int, gpus_per_run: float | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise GanzooError("--executor ray needs Ray: pip install 'ganzoo[ray]'") from None
        self.ray = ray
        self.address, self.workers, self.gpus_per_run = address, workers, gpus_per_run
        self._running: dict = {}

    def gpus_for(self, job: dict) -> float:
        if self.gpus_per_run is not None:
            return self.gpus_per_run
        return 1.0 if json.loads(job["config"])["train"]["device"].startswith("cuda") else 0.0

    def run(self, next_job: Callable, on_done: Callable) -> None:
        ray = self.ray
        if not ray.is_initialized():
            kwargs = {"address": self.address} if self.address else {"num_cpus": os.cpu_count()}
            ray.init(include_dashboard=False, log_to_driver=False, **kwargs)
        cpus = max(1, int(ray.available_resources().get("CPU", 1)) // max(1, self.workers))
        task = ray.remote(num_cpus=cpus)(run_job_in_worker)
        running = self._running
        while True:
            while len(running) < self.workers and (job := next_job()) is not None:
                running[task.options(num_gpus=self.gpus_for(job)).remote(job)] = job
            if not running:
                break
            done, _ = ray.wait(list(running), num_returns=1, timeout=5)
            for ref in done:
                job = running.pop(ref)
                try:
                    on_done(ray.get(ref))
                except Exception as exc:  # cancelled or lost
                    on_done(_outcome(job, "interrupted", time.time(), error=f"{type(exc).__name__}: {exc}"))

    def signal_workers(self, sig: int) -> None:
        for ref in list(self._running):  # a KeyboardInterrupt in the task: the trainer's SIGINT path
            self.ray.cancel(ref, force=False)


def make_executor(name: str, registry: Any, workers: int = 1, address: str | None = None,
                  gpus_per_run: float | None = None):
    if name == "local":
        return LocalExecutor(registry)
    if name == "processes":
        return ProcessExecutor(workers)
    if name == "ray":
        return RayExecutor(address, workers, gpus_per_run)
    raise GanzooError(f"--executor: unknown executor {name!r}; choose local, processes or ray")


# -- the suite ------------------------------------------------------------------------------------
@dataclass
class BenchSummary:
    total: int
    skipped: int
    finished: int
    diverged: int
    failed: int
    seconds: float
    report: Path | None
    interrupted: int = 0  # runs stopped by SIGINT/SIGTERM (recorded as interrupted, ready to resume)
    elsewhere: int = 0  # runs still being trained by other benches on the same store
    note: str = ""  # e.g. why the existing report was kept
    imported: int = 0  # done runs taken from --from-export
    unmatched: int = 0  # done runs of that export whose configs are not this bench's
    late: int = 0  # runs not started because they were not expected to end by finish_by


def _longest_finished(runs: list[RunSpec], records: list[dict[str, Any]]) -> float | None:
    """The longest finished run among ``runs`` (a bench of one architecture, say, is not timed by
    another's), else among all ``records``; None when none has finished."""
    done = [r for r in records if r["status"] == "finished" and r["seconds"]]
    mine = {r.key for r in runs}
    own = [float(r["seconds"]) for r in done if r["key"] in mine]
    return max(own or [float(r["seconds"]) for r in done], default=None)


def expected_seconds(runs: list[RunSpec], records: Iterable[dict[str, Any]], minutes_per_run: float | None = None,
                     steps_done: dict[str, int] | None = None,
                     basis: dict[str, str] | None = None) -> dict[str, float | None]:
    """How long each run is expected to take, from finished runs (``records``: dicts with ``key``,
    ``setting``, ``status``, ``step``, ``seconds``, as :meth:`Store.records` gives them): the mean
    time per G step of its setting's finished runs (its other seeds, and runs of the setting at
    another length: a scale whose step count changed keeps its old runs in the store) times its
    own G steps, else :func:`_longest_finished` (a new setting may be the largest), else
    ``minutes_per_run`` (the scale's measured figure); None when nothing is known. A run stopped
    at step s of n (``steps_done``, by default the records' steps of runs not done) is expected to
    need (n - s) / n of it. ``basis``, when given, gets each run's source: ``setting``,
    ``longest``, ``scale`` or ``none``."""
    records = list(records)
    took: dict[str, list[float]] = {}  # seconds per G step of each setting's finished runs
    for r in records:
        if r["status"] == "finished" and r["seconds"] and r.get("step"):
            took.setdefault(json.dumps(r["setting"], sort_keys=True), []).append(float(r["seconds"]) / r["step"])
    longest = _longest_finished(runs, records)
    fallback = longest if longest is not None else (minutes_per_run * 60 if minutes_per_run else None)
    if steps_done is None:
        steps_done = {r["key"]: r["step"] or 0 for r in records if r["status"] not in DONE}
    out: dict[str, float | None] = {}
    for r in runs:
        same = took.get(json.dumps(r.setting, sort_keys=True))
        total = max(1, r.config.train.g_steps)
        full = sum(same) / len(same) * total if same else fallback
        if basis is not None:
            basis[r.key] = ("setting" if same else "longest" if longest is not None
                            else "scale" if fallback is not None else "none")
        if full is not None:
            full *= max(0.0, 1.0 - min(steps_done.get(r.key, 0), total) / total)
        out[r.key] = full
    return out


def run_suite(suite: Suite, scale: str, out: Path, registry: Any, executor: Any,
              results_dir: Path | None, extra_set: dict | None = None, seeds: list[int] | None = None,
              progress: bool = True, only: dict[str, list[str]] | None = None,
              from_export: Path | list[Path] | None = None, finish_by: float | None = None) -> BenchSummary:
    """Run every unfinished run of ``suite`` at ``scale`` (or of the settings ``only`` selects) and
    regenerate its tables from every run of the store.

    With ``finish_by`` (a time stamp), a run is started only when :func:`expected_seconds` says it
    ends by then (a run with no estimate at all is started); the others are left for a later bench,
    and the tables are regenerated from what is done.

    Any number of benches may run this on one ``out`` at once: each run is claimed in the store
    before it starts (see :mod:`ganzoo.store`), so they share the work and none is trained or
    recorded twice. The first SIGINT/SIGTERM stops claiming and has every running run stop at a
    step boundary, recorded as ``interrupted``; the tables are then left for the next invocation.
    """
    t0 = time.time()
    if results_dir is not None:  # a bad table or plot fails now, not after hours of training
        from ganzoo.report import validate_kinds

        validate_kinds(suite, registry)
    runs = _unique(expand(suite, scale, registry, extra_set, seeds, only))
    if results_dir is not None:  # ... and so does a metric key no metric of the suite gives
        check_suite(suite, scale, runs, registry)
    exports = [from_export] if isinstance(from_export, (str, Path)) else (from_export or [])
    # An export's runs outside ``only`` are taken too: the tables and the export this bench writes
    # cover every run of the store, so a bench of one part must not drop the rest from the export.
    whole = runs if not (exports and only) else _unique(expand(suite, scale, registry, extra_set, seeds))
    store = Store(out / STORE_FILE)
    store.add_runs([(r.key, suite.name, scale, r.setting, r.seed, r.config.to_json(), str(out / "runs" / r.key))
                    for r in whole])
    keys = [r.key for r in runs]
    by_key = {r.key: r for r in runs}
    imported = unmatched = 0
    for path in exports:
        # continue a suite another machine (or session) left off, or take its runs from another suite
        from ganzoo.export import import_export

        got = import_export(Path(path), store, suite.name, scale, out,
                            {r.key: (r.setting, r.seed, r.config.to_json()) for r in whole})
        imported, unmatched = imported + got[0], unmatched + got[1]
    skipped = sum(store.status(k) in DONE for k in keys)
    if results_dir is not None:  # first, so that a bench stopped half-way leaves a complete reference
        store_references(suite, scale, runs, store, registry)
    sweep = ({**suite.sweep.model_dump(), **suite.scale(scale).sweep} if suite.sweep is not None else None)
    counts = {"finished": 0, "diverged": 0, "failed": 0, "interrupted": 0, "running": 0}
    produced = False
    attempted: set[str] = set()
    invocation = store.start_invocation(suite.name, scale, t0, type(executor).__name__)
    ran = 0
    bar = tqdm(total=len(runs), initial=skipped, desc=f"{suite.name} [{scale}]", unit="run",
               disable=not progress, dynamic_ncols=True)
    owner = store.register_owner()
    preempt.reset()
    stop = preempt.BenchStop(executor.signal_workers)

    late: set[str] = set()  # runs not expected to end by finish_by

    def next_job() -> dict | None:
        if stop.requested or counts["interrupted"]:
            return None
        if finish_by is not None:
            left = finish_by - time.time()
            late.clear()
            late.update(k for k, sec in expected_seconds(runs, store.records(suite.name, scale),
                                                          suite.scale(scale).minutes_per_run).items()
                        if sec is not None and sec > left)
        key = store.claim(keys, owner, retry_failed_before=t0, skip=attempted | late)
        if key is None:
            return None
        attempted.add(key)
        r = by_key[key]
        counts["running"] += 1
        bar.set_postfix(counts)
        return {"key": key, "config": r.config.to_json(), "run_dir": str(out / "runs" / key),
                "lock": str(out / "locks" / key), "threads": r.config.fast.threads,
                "name": r.config.name, "sweep": sweep}

    def on_done(outcome: dict) -> None:
        nonlocal ran, produced
        key, status = outcome["key"], outcome["status"]
        counts["running"] -= 1
        if status == "busy":  # another process still trains it: give it back untouched
            store.release(key, owner, "pending")
            bar.write(f"run {key} skipped: {outcome['error']}")
            return
        if not store.finish(key, owner, status, outcome["step"], outcome["seconds"], outcome["error"],
                            outcome["results"], outcome["series"], outcome.get("artifacts")):
            bar.write(f"run {key}: its claim was taken over by another bench; this outcome is not recorded")
            return
        ran += 1
        store.update_invocation(invocation, time.time() - t0, ran)
        produced = produced or any(r.get("best") is not None or r.get("final") is not None
                                   for r in outcome["results"])
        counts[status if status in counts else "failed"] += 1
        if status == "failed":
            bar.write(f"run {key} failed: {outcome['error'].splitlines()[0]}")
        if status != "interrupted":
            bar.update(1)
        bar.set_postfix(counts)

    try:
        with stop, Heartbeat(store.path, owner):
            executor.run(next_job, on_done)
    finally:
        bar.close()
        if ran:
            store.update_invocation(invocation, time.time() - t0, ran)
        else:  # it trained nothing: its header figures ("over N invocations") stay as they were
            store.drop_invocation(invocation)
        store.retire_owner(owner)
    summary = BenchSummary(len(runs), skipped, counts["finished"], counts["diverged"], counts["failed"],
                           time.time() - t0, None, counts["interrupted"], store.held_by_others(keys, owner),
                           imported=imported, unmatched=unmatched,
                           late=sum(1 for k in late if store.status(k) not in DONE))
    if stop.requested or counts["interrupted"]:
        summary.note = "interrupted: the tables were not regenerated; run the same command to resume"
    elif results_dir is not None:
        path = report_path(Path(results_dir), suite, scale)
        if ran and not produced and path.exists():
            # A bench in which every run failed (a missing data root, say) must not replace a
            # good report with empty tables.
            summary.note = (f"no run of this bench produced a value ({counts['failed']} failed); "
                            f"kept the existing report {path}")
        else:
            with store.tx():  # serialised with other benches' records: the last writer sees them all
                summary.report = write_report(suite, scale, store, results_dir, registry,
                                              extra_keys=[r.key for r in whole])
    summary.seconds = time.time() - t0
    store.close()
    return summary


def _live_step(run_dir: Path, default: int) -> int:
    try:
        return int(json.loads((run_dir / "status.json").read_text())["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return default


@dataclass(frozen=True)
class Planned:
    """What a bench would do with one run (``--dry-run``)."""

    state: str  # done, from, running, to resume, to train again, to train
    step: int = 0  # running / to resume: the step it is at
    source: str = ""  # from: the export

    @property
    def group(self) -> str:
        """The label runs are counted under: the state, with the export for ``from``."""
        return f"from {self.source}" if self.state == "from" else self.state

    @property
    def to_train(self) -> bool:
        return self.state not in ("done", "from")

    def __str__(self) -> str:
        if self.state in ("running", "to resume"):
            return f"{self.state} (step {self.step})"
        return {"from": self.group, "to train again": "to train again (failed)"}.get(self.state, self.state)


def plan_runs(runs: list[RunSpec], store_path: Path, exports: Iterable[Path] = ()) -> dict[str, Planned]:
    """What a bench would do with each run, read without writing anything (``--dry-run``): ``done``
    (the store has it), ``from PATH`` (a done run of that export, taken as ``--from-export`` takes
    it), ``running (step N)`` (another bench, or one that died: it resumes after the lease),
    ``to resume (step N)``, ``to train again (failed)`` or ``to train``."""
    from ganzoo.export import read_export
    from ganzoo.store import peek_statuses

    known = peek_statuses(store_path)
    offered: dict[str, str] = {}
    for path in exports:
        for line in read_export(Path(path))[2]:
            if line["kind"] == "run" and line["status"] in DONE:
                offered.setdefault(line["key"], str(path))
    plan = {}
    for r in runs:
        status, step = known.get(r.key, (None, 0))
        if status in DONE:
            plan[r.key] = Planned("done")
        elif r.key in offered and status != "running":
            plan[r.key] = Planned("from", source=offered[r.key])
        elif status == "running":  # its own status file has the live step
            plan[r.key] = Planned("running", _live_step(store_path.parent / "runs" / r.key, step))
        elif status == "failed":
            plan[r.key] = Planned("to train again")
        elif step:
            plan[r.key] = Planned("to resume", step)
        else:
            plan[r.key] = Planned("to train")
    return plan


def plan_seconds(runs: list[RunSpec], plan: dict[str, Planned], suite: Suite, scale: str, store_path: Path,
                 exports: Iterable[Path] = ()) -> tuple[float, dict[str, int], float | None]:
    """The run time the runs left to train are expected to take (:func:`expected_seconds`, from the
    finished runs of the store and of the exports; read only), how many of them were estimated on
    each basis (``setting``, ``longest``, ``scale``, ``none``), and the longest finished run."""
    from ganzoo.export import read_export
    from ganzoo.store import peek_runs

    by_key = {r.key: r for r in runs}
    found = {r["key"]: r for r in peek_runs(store_path, suite.name, scale)}
    for path in exports:
        name, export_scale, lines = read_export(Path(path))
        for line in lines:
            if line["kind"] != "run" or line["status"] != "finished" or found.get(line["key"], {}).get(
                    "status") == "finished":  # each run once
                continue
            if line["key"] in by_key:  # another suite's run with one of these configs: this suite's setting
                found[line["key"]] = {**line, "setting": by_key[line["key"]].setting}
            elif name == suite.name and export_scale == scale:
                found[line["key"]] = line
    records = list(found.values())
    steps = {k: p.step for k, p in plan.items() if p.step}
    left = [r.key for r in runs if plan[r.key].to_train]
    seconds, basis = seconds_left(runs, records, left, suite.scale(scale).minutes_per_run, steps)
    return seconds, basis, _longest_finished(runs, records)


def seconds_left(runs: list[RunSpec], records: list[dict[str, Any]], left: list[str],
                 minutes_per_run: float | None = None,
                 steps_done: dict[str, int] | None = None) -> tuple[float, dict[str, int]]:
    """The run time the runs ``left`` (keys) are expected to take (:func:`expected_seconds`), and
    how many of them were estimated on each basis."""
    basis: dict[str, str] = {}
    est = expected_seconds(runs, records, minutes_per_run, steps_done, basis)
    return sum(est[k] or 0.0 for k in left), dict(Counter(basis[k] for k in left))


def seconds_left_in(suite: Suite, scale: str, store: Any, registry: Any) -> tuple[float, dict[str, int]] | None:
    """:func:`seconds_left` for the runs of the scale's grid that ``store`` (an export's, say) does
    not have done; None when this registry cannot expand the grid."""
    try:
        runs = _unique(expand(suite, scale, registry))
    except GanzooError:
        return None
    records = store.records(suite.name, scale)
    done = {r["key"] for r in records if r["status"] in DONE}
    return seconds_left(runs, records, [r.key for r in runs if r.key not in done], suite.scale(scale).minutes_per_run)


def check_suite(suite: Suite, scale: str, runs: list[RunSpec], registry: Any) -> None:
    """Every check that can fail before training: each table and plot against its kind's spec, and
    every metric value key a table, plot, claim or health criterion names against the keys the
    suite's metrics give (at any of its scales).

    A key no evaluated metric declares (``MetricSpec.values``) is a one-line ConfigError naming the
    table; when any evaluated metric leaves its keys undeclared, keys are not checked.
    """
    from fnmatch import fnmatch

    from ganzoo.errors import ConfigError
    from ganzoo.report import validate_kinds

    validate_kinds(suite, registry)
    names = set(suite.reference_metrics)
    for r in runs[:1]:
        names |= set(r.config.eval.metrics)
    # A key is unknown when no scale of the suite evaluates a metric giving it (a table that shows a
    # key only another scale evaluates is "not available" at this one, not an error).
    sets = [suite.base] + [sc.set for sc in suite.scales.values()] + [v.set for a in suite.axes for v in a.values]
    for st in sets:
        ev = st.get("eval.metrics", (st.get("eval") or {}).get("metrics") if isinstance(st.get("eval"), dict) else None)
        names |= set(ev or [])
    for sw in [suite.sweep.model_dump() if suite.sweep is not None else {}] + [sc.sweep for sc in suite.scales.values()]:
        names |= set(sw.get("metrics") or []) | ({sw["data_metric"]} if sw.get("data_metric") else set())
    specs = [registry.get("metrics", n, where=f"suite {suite.name!r}: eval.metrics") for n in sorted(names)]
    if any(not s.values for s in specs):
        return
    patterns = [p for s in specs for p in s.values] + ["collapse_step"]  # + the singular-value monitor's

    def check(key: str, where: str) -> None:
        if not any(fnmatch(key, p) for p in patterns):
            raise ConfigError(f"suite {suite.name!r}, {where}: no metric the suite evaluates gives {key!r} "
                              f"(they give: {', '.join(sorted(set(patterns)))})")

    for group, entries in (("table", suite.tables), ("plot", suite.plots)):
        for i, entry in enumerate(entries):
            d = entry.model_dump()
            where = f"{group} {i + 1} ({entry.title!r})"
            keys = ([d["metric"]] if isinstance(d.get("metric"), str) else []) + list(d.get("metrics") or [])
            for key in keys:
                check(key, where)
    for c in suite.claims:
        check(c.metric, f"claim {c.id!r}")
    for c in suite.health.criteria:
        check(c.metric, "health criteria")
    for key in (suite.health.collapsed_metric, suite.health.first_eval_metric):
        if key:
            check(key, "health")


def store_references(suite: Suite, scale: str, runs: list[RunSpec], store: Store, registry: Any) -> None:
    """The real-data reference of the suite's metrics, computed once per store (and data set).

    Each metric protocol the runs evaluate (``reference_metrics`` of the suite, else the scale's
    eval metrics, and the truncation sweep's) is computed with real images in place of generated
    ones (:func:`ganzoo.metrics.evaluate_real_reference`). A protocol that cannot run here (e.g.
    Inception weights that cannot be downloaded) is reported in one line and left out.
    """
    if not runs:
        return
    from ganzoo.data import data_info, load_data
    from ganzoo.metrics import EvalSettings, evaluate_real_reference

    cfg = runs[0].config
    metrics = list(suite.reference_metrics or cfg.eval.metrics)
    if suite.sweep is not None:
        metrics += [m for m in suite.sweep.metrics if m not in metrics]
    stored = {r["metric"].split("/")[0]: r["protocol"] for r in store.references(suite.name, scale)}
    todo = []
    for m in metrics:
        name = m + (f"@{cfg.eval.extractor}" if registry.get("metrics", m).uses_extractor else "")
        old = stored.get(name)
        if old is None or old.get("dataset") != cfg.data.name or old.get("resolution") != cfg.data.resolution:
            todo.append(m)
    if not todo:
        return
    settings = EvalSettings(extractor=cfg.eval.extractor, seed=cfg.eval.seed, batch_size=cfg.eval.batch_size,
                            progress=False)
    try:
        info = data_info(load_data(cfg, registry, "train"))
        for m in todo:
            for r in evaluate_real_reference(cfg, info, [m], settings, registry):
                for key, value in r.values.items():
                    store.add_reference(suite.name, scale, f"{r.name}/{key}", r.protocol_hash, value, r.protocol)
    except GanzooError as exc:
        print(f"ganzoo bench: no real-data reference for {suite.name} ({exc})", file=sys.stderr)


def _unique(runs: Iterable[RunSpec]) -> list[RunSpec]:
    seen, out = set(), []
    for r in runs:
        if r.key not in seen:
            seen.add(r.key)
            out.append(r)
    return out


def grid_keys(suite: Suite, scale: str, registry: Any) -> set[str] | None:
    """The keys (config hashes) of the scale's whole grid; None when this registry cannot resolve
    the suite's configs (a hand-made suite, a plugin gone)."""
    try:
        return {r.key for r in expand(suite, scale, registry)}
    except GanzooError:
        return None


def report_path(results_dir: Path, suite: Suite, scale: str) -> Path:
    """``results/<suite>.md`` for the cpu scale (the one committed), ``<suite>-<scale>.md`` otherwise."""
    return results_dir / (f"{suite.name}.md" if scale == "cpu" else f"{suite.name}-{scale}.md")


def write_report(suite: Suite, scale: str, store: Store, results_dir: Path, registry: Any = None,
                 html: bool = True, extra_keys: Iterable[str] = ()) -> Path:
    """The suite's markdown (and, with ``html``, its HTML page and the results index) from the store,
    and the per-run export beside it (``<suite>.runs.jsonl``) that ``ganzoo report`` rebuilds it from.

    Both cover the runs of the scale's grid as the suite file now defines it, and ``extra_keys``
    (a bench's own runs, made with --set, --seeds or --steps); runs of the store with other configs
    (an older version of the suite file, say, whose budget or networks have since changed) are
    left out, and the header says how many. Without a registry every run of the store is kept."""
    from ganzoo.export import export_path, write_export
    from ganzoo.report import load_records, write_suite_report

    path = report_path(Path(results_dir), suite, scale)
    grid = grid_keys(suite, scale, registry) if registry is not None else None
    keep = None if grid is None else grid | set(extra_keys)
    records = load_records(store, suite.name, scale)
    outside = 0 if keep is None else sum(r.key not in keep for r in records)
    if keep is not None:
        records = [r for r in records if r.key in keep]
    write_suite_report(suite, scale, records, path, store.invocations(suite.name, scale), registry=registry,
                       html=html, references=store.references(suite.name, scale),
                       planned=None if grid is None else len(grid), outside=outside)
    write_export(store, suite.name, scale, export_path(Path(results_dir), suite.name, scale),
                 keep_grid=dict(suite.health.reference) or None, keys=keep)
    return path
