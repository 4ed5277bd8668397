"""The fast path (channels_last + bf16) against plain loops over the same modules, in one process.

Three measurements, each as ratios within interleaved rounds (ABAB...), medianed, because these
machines are shared and noisy. Seconds per G step (1 D step + 1 G step, hinge, Adam):

* ``sndcgan``: SNDCGAN width 1, 32x32x3, batch 64: plain fp32 loop, plain bf16-autocast loop, and
  ganzoo's ``train`` with ``fast.channels_last`` + ``fast.bf16``.
* ``biggan``: ganzoo's BigGAN at BigGAN-PyTorch's CIFAR launch config (ch 64, N(0, 0.02) init, no
  attention, no shared embedding or hierarchy, z 128, conditional, 10 classes; G 4,304,387 and D
  4,207,361 parameters), batch 50: a plain bf16-autocast loop over ganzoo's modules, and ganzoo's
  ``train`` on its fast path.
* ``cpu-scale``: SNDCGAN and ResNet width 1/8, 32x32x3, batch 64, fast path: this checkout's
  ``ganzoo train`` against another checkout's (``--base DIR``, e.g. the commit before a change,
  unpacked with ``git archive``), each in a subprocess, seconds per step from the run's log.

Usage::

    python benchmarks/perf/fast_path.py sndcgan --rounds 3 --steps 4
    python benchmarks/perf/fast_path.py biggan --rounds 3 --steps 3
    python benchmarks/perf/fast_path.py cpu-scale --base /tmp/base --rounds 3 --steps 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GANZOO_DISABLE_PLUGIN_AUTOLOAD", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def machine() -> str:
    flags = ""
    try:
        text = Path("/proc/cpuinfo").read_text()
        model = next(ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name"))
        fl = next(ln for ln in text.splitlines() if ln.startswith("flags")).split()
        flags = ", ".join(f for f in ("avx512_bf16", "amx_bf16") if f in fl) or "no bf16 flags"
    except (OSError, StopIteration):
        model = platform.processor()
    return f"{model} ({os.cpu_count()} cores; {flags}), torch {torch.__version__}"


def dataset(tmp: Path, n: int, labels: bool) -> Path:
    rng = np.random.default_rng(0)
    arrays = {"images": rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)}
    if labels:
        arrays["labels"] = rng.integers(0, 10, n)
    path = tmp / f"data-{int(labels)}.npz"
    np.savez(path, **arrays)
    return path


def raw_config(model: dict, npz: Path, batch: int, steps: int, fast: bool, threads: int) -> dict:
    return {
        "name": "perf", "model": model, "loss": {"name": "hinge"},
        "data": {"name": "npz", "resolution": 32, "params": {"path": str(npz), "test_fraction": 0.0}},
        "train": {"g_steps": steps, "batch_size": batch, "n_disc": 1, "seed": 0},
        "g_optim": {"beta1": 0.0}, "d_optim": {"beta1": 0.0},
        "log": {"log_every": steps // 2, "sample_every": 0, "checkpoint_every": 10**9, "n_samples": 4},
        "fast": {"channels_last": fast, "bf16": fast, "threads": threads},
    }


def plain_loop(cfg, reg, steps: int, bf16: bool) -> float:
    """The shortest correct loop over ganzoo's modules (no channels_last). Seconds per step."""
    from ganzoo.data import BatchSampler, load_data
    from ganzoo.data import data_info
    from ganzoo.train.networks import build_networks

    data = load_data(cfg, reg)
    torch.manual_seed(0)
    G, D = build_networks(cfg, reg, data_info(data))
    G_opt = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.0, 0.999))
    D_opt = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.0, 0.999))
    n = cfg.train.batch_size
    sampler = BatchSampler(data, n, seed=0)
    gen = torch.Generator().manual_seed(1)
    labels = data.num_classes > 0
    ac = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else (lambda: torch.autocast("cpu", enabled=False))

    def step():
        real, y = sampler.next()
        z = torch.randn(n, G.z_dim, generator=gen)
        yf = torch.randint(10, (n,), generator=gen) if labels else None
        G.requires_grad_(False)
        D.requires_grad_(True)
        with ac():
            with torch.no_grad():
                fake = G(z, yf)
            d_loss = torch.relu(1 - D(real, y).float()).mean() + torch.relu(1 + D(fake, yf).float()).mean()
        D_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        D_opt.step()
        G.requires_grad_(True)
        D.requires_grad_(False)
        z = torch.randn(n, G.z_dim, generator=gen)
        with ac():
            g_loss = -D(G(z, yf), yf).float().mean()
        G_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        G_opt.step()

    for _ in range(2):  # warm-up
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps


def ganzoo_loop(raw: dict, reg, out: Path, steps: int) -> float:
    """Seconds per step of ``ganzoo.train.train``, from its log: the second window of ``steps``."""
    from ganzoo.config import resolve
    from ganzoo.train import train

    raw = json.loads(json.dumps(raw))
    raw["train"]["g_steps"] = 2 * steps
    raw["log"]["log_every"] = steps
    train(resolve(raw, reg), out, registry=reg, progress=False)
    return [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines() if "sec_per_step" in x][-1]["sec_per_step"]


def cli_loop(src: Path, raw: dict, out: Path, steps: int) -> float:
    """Seconds per step of ``python -m ganzoo train`` from the checkout at ``src``, in a subprocess."""
    raw = json.loads(json.dumps(raw))
    raw["train"]["g_steps"] = 2 * steps
    raw["log"]["log_every"] = steps
    cfg = out.with_suffix(".json")
    cfg.write_text(json.dumps(raw))
    env = dict(os.environ, PYTHONPATH=f"{src}:{src / 'plugins'}")
    subprocess.run([sys.executable, "-m", "ganzoo", "train", str(cfg), "--out", str(out), "--quiet"],
                   cwd="/", env=env, check=True, capture_output=True)
    return [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines() if "sec_per_step" in x][-1]["sec_per_step"]


def rounds(loops: dict, n: int) -> dict[str, list[float]]:
    """Run every loop once per round, the order reversed every other round (ABBA...)."""
    times: dict[str, list[float]] = {k: [] for k in loops}
    for r in range(n):
        for name in (list(loops) if r % 2 == 0 else list(reversed(loops))):
            times[name].append(loops[name](r))
        print(f"  round {r + 1}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in times.items()), file=sys.stderr)
    return times


def ratio(times: dict, slow: str, fast: str) -> tuple[float, list[float]]:
    per_round = [s / f for s, f in zip(times[slow], times[fast])]
    return statistics.median(per_round), per_round


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("part", choices=["sndcgan", "biggan", "cpu-scale"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=4, help="timed steps per measurement")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--base", type=Path, default=None, help="cpu-scale: the checkout to compare against")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from ganzoo.config import resolve
    from ganzoo.registry import load_registry

    reg = load_registry()
    print(f"machine: {machine()}; {args.threads} thread(s); {args.rounds} rounds of {args.steps} steps")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.part == "sndcgan":
            npz = dataset(tmp, 1024, labels=False)
            model = {"name": "sndcgan", "params": {"width": 1.0, "g_norm": "bn"}}
            plain = resolve(raw_config(model, npz, 64, 2, False, args.threads), reg)
            fast = raw_config(model, npz, 64, 2, True, args.threads)
            times = rounds({
                "plain fp32": lambda r: plain_loop(plain, reg, args.steps, bf16=False),
                "plain bf16": lambda r: plain_loop(plain, reg, args.steps, bf16=True),
                "ganzoo fast": lambda r: ganzoo_loop(fast, reg, tmp / f"fast-{r}", args.steps),
            }, args.rounds)
            pairs = [("plain fp32", "ganzoo fast"), ("plain bf16", "ganzoo fast"), ("plain fp32", "plain bf16")]
        elif args.part == "biggan":
            npz = dataset(tmp, 1000, labels=True)
            model = {"name": "biggan", "params": {"ch": 64, "init": "N02", "conditional": True,
                                                  "shared_embedding": False, "hierarchical": False,
                                                  "attention": [], "z_dim": 128}}
            plain = resolve(raw_config(model, npz, 50, 2, False, args.threads), reg)
            fast = raw_config(model, npz, 50, 2, True, args.threads)
            times = rounds({
                "plain bf16": lambda r: plain_loop(plain, reg, args.steps, bf16=True),
                "ganzoo fast": lambda r: ganzoo_loop(fast, reg, tmp / f"fast-{r}", args.steps),
            }, args.rounds)
            pairs = [("plain bf16", "ganzoo fast")]
        else:
            assert args.base is not None, "cpu-scale needs --base"
            npz = dataset(tmp, 1024, labels=False)
            loops, pairs = {}, []
            for name in ("sndcgan", "resnet"):
                raw = raw_config({"name": name, "params": {"width": 0.125, "g_norm": "bn"}}, npz, 64, 2,
                                 True, 1)
                loops[f"{name} base"] = lambda r, raw=raw, name=name: cli_loop(args.base, raw, tmp / f"{name}-b{r}", args.steps)
                loops[f"{name} now"] = lambda r, raw=raw, name=name: cli_loop(ROOT, raw, tmp / f"{name}-n{r}", args.steps)
                pairs.append((f"{name} base", f"{name} now"))
            times = rounds(loops, args.rounds)
    print("| loop | median s/step |\n| --- | --- |")
    for k, v in times.items():
        print(f"| {k} | {statistics.median(v):.3f} |")
    print("| ratio | median | rounds |\n| --- | --- | --- |")
    for slow, fast_ in pairs:
        med, per = ratio(times, slow, fast_)
        print(f"| {slow} / {fast_} | {med:.2f}x | {', '.join(f'{x:.2f}' for x in per)} |")


if __name__ == "__main__":
    main()
