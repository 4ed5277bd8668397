"""Training throughput of one process against two (``torch.distributed.run``) on this machine.

Runs ganzoo's real training command on the same config in three ways:

* ``1 proc x 1 thread``:  ``python -m ganzoo train CONFIG --out DIR --quiet --set fast.threads=1``
  (the reference);
* ``1 proc x 2 threads``: the same with ``--set fast.threads=2``;
* ``2 procs x 1 thread``: ``python -m torch.distributed.run --nproc_per_node 2 --master_port PORT
  -m ganzoo train CONFIG --out DIR --quiet``; the trainer gives each process
  ``cpu_count // 2`` threads, averages the gradients with one all-reduce per network and step,
  and turns G's batch norms into cross-replica batch norm (``ganzoo.distributed``). Each process
  computes half of the global batch.

The config (written to a temp dir) is self-modulated SNDCGAN (width 1/4) on the built-in ``mnist``
digits at 32x32, hinge loss, batch 64, log every 10 steps, no sample grids, no checkpoint until the
end. Seconds per step come from each run's ``log.jsonl`` (the ``sec_per_step`` of each logging
window, the first window skipped as warm-up, median of the rest), so process start-up, data
loading and the final checkpoint are not counted. Images per second = ``batch_size * n_disc /
sec_per_step``. Rounds alternate the order of the three runs; ratios are taken within each round,
then the median over rounds, because these machines are shared and noisy. Usage::

    python benchmarks/perf/ddp.py                        # SNDCGAN, 3 rounds of 20 steps
    python benchmarks/perf/ddp.py --rounds 1 --biggan    # and BigGAN (ch 16), if installed
    python benchmarks/perf/ddp.py --omp-wait-policy passive   # OpenMP threads sleep when idle
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNS = {  # label -> (processes, threads per process)
    "1 proc x 1 thread": (1, 1),
    "1 proc x 2 threads": (1, 2),
    "2 procs x 1 thread": (2, 1),
}
REFERENCE = "1 proc x 1 thread"


def run_config(model: dict, steps: int, log_every: int, batch: int, n_disc: int) -> dict:
    return {
        "name": f"perf-ddp-{model['name']}",
        "data": {"name": "mnist", "resolution": 32},
        "model": model,
        "loss": {"name": "hinge"},
        "train": {"g_steps": steps, "batch_size": batch, "n_disc": n_disc, "seed": 0},
        "log": {"log_every": log_every, "sample_every": 0, "checkpoint_every": 10**9},
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(procs: int, wait_policy: str | None) -> dict[str, str]:
    env = dict(os.environ)
    path = [str(ROOT), str(ROOT / "plugins")]
    if env.get("PYTHONPATH"):
        path.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(path)
    env["GANZOO_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env.pop("OMP_NUM_THREADS", None)
    if procs > 1:
        env["OMP_NUM_THREADS"] = "1"  # what torchrun sets (with a warning) when it is unset
    if wait_policy:
        env["OMP_WAIT_POLICY"] = wait_policy
    return env


def command(config: Path, out: Path, procs: int, threads: int) -> list[str]:
    if procs == 1:
        return [sys.executable, "-m", "ganzoo", "train", str(config), "--out", str(out), "--quiet",
                "--set", f"fast.threads={threads}"]
    # Each process gets cpu_count // procs threads from the trainer (no fast.threads).
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(procs),
            "--master_port", str(_free_port()), "-m", "ganzoo", "train", str(config),
            "--out", str(out), "--quiet"]


def run_once(config: Path, out: Path, procs: int, threads: int, warmup_windows: int,
             wait_policy: str | None = None) -> dict:
    """One training run; its median seconds per step after the warm-up windows, and its wall time."""
    t0 = time.perf_counter()
    proc = subprocess.run(command(config, out, procs, threads), env=_env(procs, wait_policy),
                          cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"training failed ({procs} processes):\n{proc.stderr[-4000:]}")
    log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines() if x.strip()]
    windows = [r["sec_per_step"] for r in log if "sec_per_step" in r][warmup_windows:]
    if not windows:
        raise RuntimeError(f"{out}: no logging window left after {warmup_windows} warm-up windows")
    return {"sec_per_step": statistics.median(windows), "windows": windows, "wall_s": wall}


def bench_model(label: str, model: dict, args: argparse.Namespace, tmp: Path) -> dict:
    raw = run_config(model, args.steps, args.log_every, args.batch, args.n_disc)
    config = tmp / f"{model['name']}.json"
    config.write_text(json.dumps(raw, indent=2))
    sec: dict[str, list[float]] = {k: [] for k in RUNS}
    detail: dict[str, list[dict]] = {k: [] for k in RUNS}
    names = list(RUNS)
    for r in range(args.rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            procs, threads = RUNS[name]
            res = run_once(config, tmp / f"{model['name']}-{r}-{procs}p{threads}t", procs, threads,
                           args.warmup_windows, args.omp_wait_policy)
            sec[name].append(res["sec_per_step"])
            detail[name].append(res)
        print(f"  {label} round {r + 1}: " + ", ".join(
            f"{k} {v[-1]:.3f} s/step" for k, v in sec.items()), file=sys.stderr)
    per_step_images = args.batch * args.n_disc
    ips = {k: [per_step_images / s for s in v] for k, v in sec.items()}

    def paired(a: str, b: str) -> float:  # median over rounds of (a / b) images per second
        return statistics.median(x / y for x, y in zip(ips[a], ips[b]))

    return {
        "config": raw,
        "sec_per_step": {k: statistics.median(v) for k, v in sec.items()},
        "images_per_second": {k: statistics.median(v) for k, v in ips.items()},
        "speedup_vs_1proc_1thread": {k: paired(k, REFERENCE) for k in RUNS},
        "speedup_2procs_vs_1proc_2threads": paired("2 procs x 1 thread", "1 proc x 2 threads"),
        "rounds": detail,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=20, help="G steps per training run")
    ap.add_argument("--log-every", type=int, default=10, help="steps per logging (timing) window")
    ap.add_argument("--warmup-windows", type=int, default=1, help="first windows not counted")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (median reported)")
    ap.add_argument("--batch", type=int, default=64, help="global batch size")
    ap.add_argument("--n-disc", type=int, default=1, help="D steps per G step")
    ap.add_argument("--width", type=float, default=0.25, help="SNDCGAN width")
    ap.add_argument("--biggan", action="store_true",
                    help="also BigGAN (ch --biggan-ch) when the ganzoo_biggan plugin is installed")
    ap.add_argument("--biggan-ch", type=int, default=16, help="BigGAN channel multiplier")
    ap.add_argument("--biggan-steps", type=int, default=15, help="G steps per BigGAN run")
    ap.add_argument("--biggan-log-every", type=int, default=5, help="BigGAN logging window")
    ap.add_argument("--omp-wait-policy", choices=["active", "passive"], default=None,
                    help="set OMP_WAIT_POLICY for every run (default: the OpenMP runtime's)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    if args.steps < (args.warmup_windows + 1) * args.log_every:
        ap.error("--steps must leave at least one logging window after the warm-up")

    import torch

    load_start = os.getloadavg()
    print(f"load average at start (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in load_start)}")
    results = {"machine": {"cpus": os.cpu_count(), "torch": torch.__version__,
                           "python": platform.python_version(), "load_start": load_start,
                           "omp_wait_policy": args.omp_wait_policy},
               "models": {}}
    models = [(f"SNDCGAN selfmod (width {args.width:g})",
               {"name": "sndcgan", "params": {"width": args.width, "g_norm": "selfmod"}}, None)]
    if args.biggan:
        if importlib.util.find_spec("ganzoo_biggan") is None:
            print("ganzoo_biggan is not installed: BigGAN skipped", file=sys.stderr)
        else:
            models.append((f"BigGAN (ch {args.biggan_ch})",
                           {"name": "biggan", "params": {"ch": args.biggan_ch}},
                           {"steps": args.biggan_steps, "log_every": args.biggan_log_every}))
    with tempfile.TemporaryDirectory() as tmp:
        for label, model, override in models:
            margs = argparse.Namespace(**{**vars(args), **(override or {})})
            results["models"][label] = bench_model(label, model, margs, Path(tmp))
    load_end = os.getloadavg()
    results["machine"]["load_end"] = load_end

    print(f"\nmachine: {results['machine']}")
    print("| model | run | s/step | images/s | vs 1 proc x 1 thread |")
    print("| --- | --- | --- | --- | --- |")
    for label, r in results["models"].items():
        for name in RUNS:
            print(f"| {label} | {name} | {r['sec_per_step'][name]:.3f} | "
                  f"{r['images_per_second'][name]:.0f} | {r['speedup_vs_1proc_1thread'][name]:.2f}x |")
        print(f"| {label} | 2 procs vs 1 proc x 2 threads | | | "
              f"{r['speedup_2procs_vs_1proc_2threads']:.2f}x |")
    print(f"load average at end (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in load_end)}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
