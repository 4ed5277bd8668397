"""The benchmark runner: suite -> runs -> executor -> result store -> tables.

``run_suite`` expands a suite at a scale, registers every run in the store, skips runs that are
finished (or diverged: a result too), resumes interrupted ones from their last checkpoint, and runs
the rest on an executor: in process, a local process pool, or Ray. Workers never touch the store:
they return an outcome that the parent records, one short transaction each. Then the tables are
regenerated from the store (``ganzoo report`` does only that step).
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Iterable

from tqdm.auto import tqdm

from ganzoo.errors import GanzooError
from ganzoo.store import DONE, Store
from ganzoo.suite import RunSpec, Suite, expand

STORE_FILE = "store.sqlite"


# -- one run, in whatever process executes it -------------------------------------------------------
def run_job(job: dict[str, Any], registry: Any) -> dict[str, Any]:
    """Train (or resume) one run and collect its metric results. Never raises: failures are outcomes."""
    import torch

    from ganzoo.config import resolve
    from ganzoo.train import train

    run_dir = Path(job["run_dir"])
    t0 = time.time()
    try:
        if job.get("threads"):
            torch.set_num_threads(job["threads"])
        cfg = resolve(json.loads(job["config"]), registry)
        resume = (run_dir / "checkpoint.pt").exists() or (run_dir / "config.json").exists()
        result = train(cfg, run_dir, registry=registry, resume=resume, progress=False)
        results, series = collect_metrics(run_dir, result.status, cfg.train.g_steps)
        results += collapse_result(run_dir, cfg)
        if job.get("sweep") and result.status == "finished":
            from ganzoo.sweep import run_sweep

            results += run_sweep(run_dir, job["sweep"], result.step, registry)
        return {"key": job["key"], "status": result.status, "step": result.step,
                "seconds": result.seconds, "results": results, "series": series, "error": None,
                "artifacts": collect_artifacts(run_dir)}
    except Exception as exc:  # a failed run is recorded, the suite goes on
        detail = f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, GanzooError):
            detail += "\n" + traceback.format_exc(limit=5)
        return {"key": job["key"], "status": "failed", "step": None, "seconds": time.time() - t0,
                "results": [], "series": [], "error": detail, "artifacts": collect_artifacts(run_dir)}


def run_job_in_worker(job: dict[str, Any]) -> dict[str, Any]:
    """:func:`run_job` in a worker process (a pool or Ray): the worker builds its own registry."""
    from ganzoo.registry import load_registry

    return run_job(job, load_registry())


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
def _init_worker(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


class LocalExecutor:
    """Runs jobs one after another in this process, with the caller's registry."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry

    def run(self, jobs: list[dict], on_start: Callable, on_done: Callable) -> None:
        for job in jobs:
            on_start(job)
            on_done(run_job(job, self.registry))


class ProcessExecutor:
    """A local pool of ``workers`` processes (spawned), each running one job at a time."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def run(self, jobs: list[dict], on_start: Callable, on_done: Callable) -> None:
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        with ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"),
                                 initializer=_init_worker, initargs=(threads,)) as pool:
            queue, running = list(jobs), {}
            while queue or running:
                while queue and len(running) < self.workers:
                    job = queue.pop(0)
                    on_start(job)
                    running[pool.submit(run_job_in_worker, job)] = job
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    running.pop(fut)
                    on_done(fut.result())


class RayExecutor:
    """Runs jobs as Ray tasks on an existing cluster (``address``) or a local one."""

    def __init__(self, address: str | None, workers: int) -> None:
        try:
            import ray
        except ImportError:
            raise GanzooError("--executor ray needs Ray: pip install 'ganzoo[ray]'") from None
        self.ray = ray
        self.address, self.workers = address, workers

    def run(self, jobs: list[dict], on_start: Callable, on_done: Callable) -> None:
        ray = self.ray
        if not ray.is_initialized():
            kwargs = {"address": self.address} if self.address else {"num_cpus": os.cpu_count()}
            ray.init(include_dashboard=False, log_to_driver=False, **kwargs)
        cpus = max(1, int(ray.available_resources().get("CPU", 1)) // max(1, self.workers))
        task = ray.remote(num_cpus=cpus)(run_job_in_worker)
        queue, running = list(jobs), {}
        while queue or running:
            while queue and len(running) < self.workers:
                job = queue.pop(0)
                on_start(job)
                running[task.remote(job)] = job
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                running.pop(ref)
                on_done(ray.get(ref))


def make_executor(name: str, registry: Any, workers: int = 1, address: str | None = None):
    if name == "local":
        return LocalExecutor(registry)
    if name == "processes":
        return ProcessExecutor(workers)
    if name == "ray":
        return RayExecutor(address, workers)
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


def run_suite(suite: Suite, scale: str, out: Path, registry: Any, executor: Any,
              results_dir: Path | None, extra_set: dict | None = None, seeds: list[int] | None = None,
              progress: bool = True) -> BenchSummary:
    """Run every unfinished run of ``suite`` at ``scale`` and regenerate its tables."""
    t0 = time.time()
    if results_dir is not None:  # a bad [[tables]]/[[plots]] entry fails now, not after hours of training
        from ganzoo.report import validate_kinds

        validate_kinds(suite, registry)
    runs = expand(suite, scale, registry, extra_set, seeds)
    store = Store(out / STORE_FILE)
    threads = {}
    for r in runs:
        run_dir = out / "runs" / r.key
        store.add_run(r.key, suite.name, scale, r.setting, r.seed, r.config.to_json(), str(run_dir))
        threads[r.key] = r.config.fast.threads
    todo = [r for r in _unique(runs) if store.status(r.key) not in DONE]
    skipped = len(_unique(runs)) - len(todo)
    sweep = ({**suite.sweep.model_dump(), **suite.scale(scale).sweep} if suite.sweep is not None else None)
    jobs = [{"key": r.key, "config": r.config.to_json(), "run_dir": str(out / "runs" / r.key),
             "threads": threads[r.key], "name": r.config.name, "sweep": sweep} for r in todo]
    counts = {"finished": 0, "diverged": 0, "failed": 0, "running": 0}
    invocation = store.start_invocation(suite.name, scale, t0, type(executor).__name__)
    ran = 0
    bar = tqdm(total=len(_unique(runs)), initial=skipped, desc=f"{suite.name} [{scale}]", unit="run",
               disable=not progress, dynamic_ncols=True)

    def on_start(job: dict) -> None:
        store.set_status(job["key"], "running")
        counts["running"] += 1
        bar.set_postfix(counts)

    def on_done(outcome: dict) -> None:
        nonlocal ran
        ran += 1
        store.update_invocation(invocation, time.time() - t0, ran)
        store.record(outcome["key"], outcome["results"], outcome["series"], outcome.get("artifacts"))
        store.set_status(outcome["key"], outcome["status"], outcome["step"], outcome["seconds"],
                         outcome["error"])
        counts["running"] -= 1
        counts[outcome["status"] if outcome["status"] in counts else "failed"] += 1
        if outcome["status"] == "failed":
            bar.write(f"run {outcome['key']} failed: {outcome['error'].splitlines()[0]}")
        bar.update(1)
        bar.set_postfix(counts)

    try:
        executor.run(jobs, on_start, on_done)
    finally:
        bar.close()
        store.update_invocation(invocation, time.time() - t0, ran)
    if results_dir is not None:
        store_references(suite, scale, runs, store, registry)
    report = write_report(suite, scale, store, results_dir, registry) if results_dir is not None else None
    store.close()
    return BenchSummary(len(_unique(runs)), skipped, counts["finished"], counts["diverged"],
                        counts["failed"], time.time() - t0, report)


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


def report_path(results_dir: Path, suite: Suite, scale: str) -> Path:
    """``results/<suite>.md`` for the cpu scale (the one committed), ``<suite>-<scale>.md`` otherwise."""
    return results_dir / (f"{suite.name}.md" if scale == "cpu" else f"{suite.name}-{scale}.md")


def write_report(suite: Suite, scale: str, store: Store, results_dir: Path, registry: Any = None,
                 html: bool = True) -> Path:
    """The suite's markdown (and, with ``html``, its HTML page and the results index) from the store,
    and the per-run export beside it (``<suite>.runs.jsonl``) that ``ganzoo report`` rebuilds it from."""
    from ganzoo.export import export_path, write_export
    from ganzoo.report import load_records, write_suite_report

    path = report_path(Path(results_dir), suite, scale)
    records = load_records(store, suite.name, scale)
    write_suite_report(suite, scale, records, path, store.invocations(suite.name, scale), registry=registry,
                       html=html, references=store.references(suite.name, scale))
    write_export(store, suite.name, scale, export_path(Path(results_dir), suite.name, scale))
    return path
