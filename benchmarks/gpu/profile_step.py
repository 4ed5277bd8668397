"""Where a training step's time goes: operator calls and wall time per G step, by difference.

Trains a suite's first run (``--scale``, evaluation and sample grids off) twice, for ``--short`` and
``--long`` G steps, under ``torch.profiler``; the difference divided by the extra steps is the cost of
one steady step (set-up, data loading and the first steps' warm-up cancel out). Prints the operators
with the most calls per step and, on CUDA, the kernels with the most time. The time per step comes
from a third run without the profiler: the loop's own ``sec_per_step`` after the first log window.

    python benchmarks/gpu/profile_step.py --suite selfmod-robustness --device cuda
    python benchmarks/gpu/profile_step.py --suite selfmod-robustness --device cpu --batch 8

A step that launches thousands of small kernels is bound by launches and Python, not arithmetic
(benchmarks/gpu/README.md: a 32x32 SNDCGAN step of batch 64 took 50 ms on an H200).
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile

import torch
from torch.profiler import ProfilerActivity, profile

from ganzoo.config import resolve
from ganzoo.registry import load_registry
from ganzoo.train import train

from first_runs import first_run  # beside this file


def config(reg, suite: str, scale: str, device: str, steps: int, batch: int | None):
    raw = first_run(reg, suite, scale, device, steps, batch, threads=1 if device == "cpu" else None)
    raw["log"].update(log_every=10**6, checkpoint_every=10**6)
    return resolve(raw, reg)


def seconds_per_step(reg, cfg, window: int) -> float:
    """The loop's own s/step, averaged over the log windows after the first (no profiler)."""
    cfg = cfg.model_copy(update={"log": cfg.log.model_copy(update={"log_every": window})})
    with tempfile.TemporaryDirectory() as d:
        train(cfg, f"{d}/run", registry=reg, progress=False)
        lines = [json.loads(x) for x in open(f"{d}/run/log.jsonl") if '"sec_per_step"' in x]
    steady = [r["sec_per_step"] for r in lines[1:]] or [lines[-1]["sec_per_step"]]
    return sum(steady) / len(steady)


def measure(reg, cfg, cuda: bool) -> tuple[collections.Counter, collections.Counter]:
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with tempfile.TemporaryDirectory() as d, profile(activities=acts) as prof:
        train(cfg, f"{d}/run", registry=reg, progress=False)
        if cuda:
            torch.cuda.synchronize()
    calls, kernel_us = collections.Counter(), collections.Counter()
    for e in prof.key_averages():
        calls[e.key] += e.count
        if cuda and e.device_time_total > 0 and not e.key.startswith("aten::"):
            kernel_us[e.key] += e.device_time_total
    return calls, kernel_us


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--suite", default="selfmod-robustness")
    ap.add_argument("--scale", default="paper")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batch", type=int, default=None, help="override the batch size")
    ap.add_argument("--short", type=int, default=5)
    ap.add_argument("--long", type=int, default=25)
    ap.add_argument("--top", type=int, default=20)
    a = ap.parse_args()
    reg = load_registry()
    cuda = a.device.startswith("cuda")
    runs = [measure(reg, config(reg, a.suite, a.scale, a.device, n, a.batch), cuda) for n in (a.short, a.long)]
    n = a.long - a.short
    (c1, k1), (c2, k2) = runs
    per_call = {k: (c2[k] - c1[k]) / n for k in c2}
    aten = sum(v for k, v in per_call.items() if k.startswith("aten::"))
    sps = seconds_per_step(reg, config(reg, a.suite, a.scale, a.device, a.long, a.batch), a.short)
    print(f"{a.suite} [{a.scale}] on {a.device}: {sps * 1000:.1f} ms per G step, "
          f"{aten:.0f} aten calls per G step (nested calls included)")
    for k, v in sorted(per_call.items(), key=lambda kv: -kv[1])[: a.top]:
        print(f"{v:9.1f}  {k}")
    if cuda:
        per_kernel = {k: (k2[k] - k1[k]) / n for k in k2}
        print(f"kernels: {sum(per_kernel.values()) / 1000:.2f} ms of GPU time per G step; the most:")
        for k, v in sorted(per_kernel.items(), key=lambda kv: -kv[1])[: a.top]:
            print(f"{v / 1000:9.3f} ms  {k[:100]}")


if __name__ == "__main__":
    main()
