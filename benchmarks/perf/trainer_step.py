"""Trainer step time against a plain hand-written PyTorch loop over the same modules, in one process.

Measures, for each model, seconds per generator step (1 D step + 1 G step, hinge loss, batch 64,
32x32, 3 channels) of:

* ``plain fp32``: a hand-written loop: sample a batch, D step, G step, Adam; nothing else;
* ``ganzoo fp32``: :func:`ganzoo.train.train` with the same modules, data, loss and optimizers,
  logging, EMA off, checkpoints only at the end;
* ``ganzoo fast``: the same with ``fast.channels_last`` and ``fast.bf16``.

Both loops do the same work per step (fakes for the D step under no_grad, D's weights frozen for the
G step), so the ratio measures what the trainer adds. Rounds alternate the order of the three
loops; overhead and speedup are ratios within each round, medianed over rounds, because these
machines are shared and noisy. Usage::

    python benchmarks/perf/trainer_step.py                 # SNDCGAN width 1 and ResNet width 0.25
    python benchmarks/perf/trainer_step.py --steps 10 --rounds 3 --models sndcgan:1.0
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GANZOO_DISABLE_PLUGIN_AUTOLOAD", "1")

import torch  # noqa: E402

from ganzoo.data import data_info  # noqa: E402
from ganzoo.train.networks import build_networks  # noqa: E402
from ganzoo.config import resolve  # noqa: E402
from ganzoo.data import BatchSampler, ImageData  # noqa: E402
from ganzoo.registry import load_registry  # noqa: E402
from ganzoo.train import train  # noqa: E402


def run_config(model: str, width: float, steps: int, fast: bool) -> dict:
    return {
        "name": f"perf-{model}",
        "data": {"name": "npz", "resolution": 32, "params": {"path": "", "test_fraction": 0.0}},
        "model": {"name": model, "params": {"width": width, "g_norm": "bn"}},
        "loss": {"name": "hinge"},
        "train": {"g_steps": steps, "batch_size": 64, "n_disc": 1, "seed": 0},
        "log": {"log_every": steps, "sample_every": 0, "checkpoint_every": 10**9, "n_samples": 4},
        "fast": {"channels_last": fast, "bf16": fast},
    }


def plain_loop(G, D, data: ImageData, steps: int, cfg) -> float:
    """The reference: the shortest correct loop over the same modules. Returns seconds per step."""
    G_opt = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    D_opt = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    sampler = BatchSampler(data, 64, seed=0)
    gen = torch.Generator().manual_seed(1)
    t0 = time.perf_counter()
    for _ in range(steps):
        real, _ = sampler.next()
        z = torch.randn(64, G.z_dim, generator=gen)
        G.requires_grad_(False)
        D.requires_grad_(True)
        with torch.no_grad():
            fake = G(z)
        d_loss = torch.relu(1 - D(real)).mean() + torch.relu(1 + D(fake)).mean()
        D_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        D_opt.step()
        G.requires_grad_(True)
        D.requires_grad_(False)
        z = torch.randn(64, G.z_dim, generator=gen)
        g_loss = -D(G(z)).mean()
        G_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        G_opt.step()
    return (time.perf_counter() - t0) / steps


def ganzoo_loop(raw: dict, npz: Path, out: Path, warmup: int, steps: int) -> float:
    """Seconds per step of the trainer, from its own log: the window after ``warmup`` steps."""
    raw = json.loads(json.dumps(raw))
    raw["data"]["params"]["path"] = str(npz)
    raw["train"]["g_steps"] = warmup + steps
    raw["log"]["log_every"] = warmup if warmup == steps else steps
    reg = load_registry()
    cfg = resolve(raw, reg)
    train(cfg, out, registry=reg, progress=False)
    log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    windows = [r for r in log if "sec_per_step" in r]
    return windows[-1]["sec_per_step"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="sndcgan:1.0,resnet:0.25",
                    help="comma-separated name:width pairs")
    ap.add_argument("--steps", type=int, default=8, help="timed steps per measurement")
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds (median reported)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()

    reg = load_registry()
    rng = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (2048, 3, 32, 32), dtype=torch.uint8, generator=rng)
    results = {"machine": {"cpus": os.cpu_count(), "threads": torch.get_num_threads(),
                           "torch": torch.__version__, "python": platform.python_version()},
               "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "random.npz"
        import numpy as np

        np.savez(npz, images=images.numpy())
        data = ImageData(images)
        for item in args.models.split(","):
            model, width = item.split(":")
            width = float(width)
            raw = run_config(model, width, args.steps, fast=False)
            raw_fast = run_config(model, width, args.steps, fast=True)
            times = {"plain fp32": [], "ganzoo fp32": [], "ganzoo fast": []}
            for r in range(args.rounds):
                cfg = resolve({**raw, "data": {"name": "digits", "resolution": 32}}, reg)
                order = ["plain", "ganzoo", "fast"] if r % 2 == 0 else ["fast", "ganzoo", "plain"]
                for which in order:
                    if which == "plain":
                        torch.manual_seed(0)
                        G, D = build_networks(cfg, reg, data_info(data))
                        plain_loop(G, D, data, 2, cfg)  # warm-up
                        times["plain fp32"].append(plain_loop(G, D, data, args.steps, cfg))
                    elif which == "ganzoo":
                        times["ganzoo fp32"].append(
                            ganzoo_loop(raw, npz, Path(tmp) / f"{model}-{r}", args.steps, args.steps))
                    else:
                        times["ganzoo fast"].append(ganzoo_loop(
                            raw_fast, npz, Path(tmp) / f"{model}-fast-{r}", args.steps, args.steps))
                print(f"  {model} x{width} round {r + 1}: " + ", ".join(
                    f"{k} {v[-1]:.3f} s" for k, v in times.items()), file=sys.stderr)
            med = {k: statistics.median(v) for k, v in times.items()}
            # Ratios are taken within each round (paired), then the median over rounds: slow drifts
            # of a shared machine cancel out.
            overhead = [g / p - 1 for g, p in zip(times["ganzoo fp32"], times["plain fp32"])]
            speedup = [p / f for p, f in zip(times["plain fp32"], times["ganzoo fast"])]
            results["models"][f"{model} (width {width})"] = {
                "sec_per_step": med,
                "overhead_fp32": statistics.median(overhead),
                "speedup_fast_vs_plain_fp32": statistics.median(speedup),
                "rounds": times,
            }

    print(f"\nmachine: {results['machine']}")
    print("| model | plain fp32 s/step | ganzoo fp32 s/step | overhead | ganzoo fast s/step | "
          "speedup vs plain fp32 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, r in results["models"].items():
        m = r["sec_per_step"]
        print(f"| {name} | {m['plain fp32']:.3f} | {m['ganzoo fp32']:.3f} | "
              f"{100 * r['overhead_fp32']:+.1f}% | {m['ganzoo fast']:.3f} | "
              f"{r['speedup_fast_vs_plain_fp32']:.2f}x |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
