"""PGGAN training speed while growing, against the same network at fixed full resolution, in one process.

Measures images per second of PGGAN training at every level of detail of a growing network
(``progressive=True``: lod 3 = 4x4, 2 = 8x8, 1 = 16x16, 0 = 32x32 for a 32x32 target, and the fades
between them, lod k + 0.5), and of the same network built with ``progressive=False`` (always full
resolution). Each step is what ``ganzoo.train.train`` does for PGGAN: a D step (reals through
:func:`~ganzoo_pggan.networks.fade_reals`, fakes made under no_grad, ``wgan`` loss, the ``wgan-gp``
and ``drift`` regularizers of the registry) and a G step (D frozen), Adam(lr 1e-3, betas (0, 0.99),
eps 1e-8), batch 16. ``ganzoo.train.train`` changes the lod only through its schedule, so this
script runs the same step in a minimal loop; like the trainer, it gives each phase fresh Adam states.

Rounds alternate the order of the measurements; the ratio growing/fixed is taken within each round,
then the median over rounds, because these machines are shared and noisy. The whole-schedule
speed-up assumes equal images per phase (PGGAN's schedule: ``stabilize_kimg`` at each resolution,
``fade_kimg`` for each fade): it is the time the fixed network needs for all the phases' images
divided by the time the growing network needs. Usage::

    python benchmarks/perf/pggan_growth.py                      # 32x32, 1 thread
    python benchmarks/perf/pggan_growth.py --resolution 64 --threads 2 --rounds 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("GANZOO_DISABLE_PLUGIN_AUTOLOAD", "1")

import torch  # noqa: E402

from ganzoo import DataInfo, RegContext  # noqa: E402
from ganzoo.train.latents import LatentSampler  # noqa: E402
from ganzoo.data import BatchSampler, ImageData  # noqa: E402
from ganzoo.registry import load_registry  # noqa: E402
from ganzoo_pggan.networks import PGGANParams, build_pggan, channels, fade_reals  # noqa: E402

FIXED = "fixed"


class PGGANStep:
    """One network pair (growing or fixed) and the trainer's PGGAN step on it."""

    def __init__(self, params: PGGANParams, info: DataInfo, batch: int, reg) -> None:
        torch.manual_seed(0)
        self.G, self.D = build_pggan(params, info)
        self.batch = batch
        rng = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (1024, info.channels, info.resolution, info.resolution),
                               dtype=torch.uint8, generator=rng)
        self.sampler = BatchSampler(ImageData(images), batch, seed=0)
        self.latents = LatentSampler(self.G.z_dim, "normal", 0, 1, torch.device("cpu"))
        self.loss = reg.get("losses", "wgan")
        # The trainer's D regularizers for PGGAN, in config order, with their default params.
        self.d_regs = [(s, s.params()) for s in (reg.get("regularizers", "wgan-gp"),
                                                 reg.get("regularizers", "drift"))]
        self.lod = 0.0
        self.new_phase(0.0)

    def new_phase(self, lod: float) -> None:
        """Set the level of detail and reset Adam, as the trainer does when a phase starts."""
        self.lod = lod
        self.G.set_lod(lod)
        self.D.set_lod(lod)
        self.G_opt = torch.optim.Adam(self.G.parameters(), lr=1e-3, betas=(0.0, 0.99), eps=1e-8)
        self.D_opt = torch.optim.Adam(self.D.parameters(), lr=1e-3, betas=(0.0, 0.99), eps=1e-8)

    def step(self) -> None:
        G, D, n = self.G, self.D, self.batch
        # D step.
        G.requires_grad_(False)
        D.requires_grad_(True)
        real, _ = self.sampler.next(n)
        real = fade_reals(real, self.lod)  # the schedule's reals (unchanged at lod 0)
        z, _ = self.latents.sample(n)
        with torch.no_grad():
            fake = G(z)
        d_real, d_fake = D(real), D(fake)
        d_loss = self.loss.d_loss(d_real.float(), d_fake.float(), None)
        ctx = RegContext(D, G, real, fake, None, None, d_real, d_fake, 0, contextlib.nullcontext)
        for spec, p in self.d_regs:
            d_loss = d_loss + spec.penalty(ctx, p)
        self.D_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        self.D_opt.step()
        # G step.
        G.requires_grad_(True)
        D.requires_grad_(False)
        z, _ = self.latents.sample(n)
        g_loss = self.loss.g_loss(D(G(z)).float(), None)
        self.G_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        self.G_opt.step()
        # The trainer reads both losses every step (divergence check).
        if not math.isfinite(d_loss.item() + g_loss.item()):
            raise RuntimeError(f"non-finite loss at lod {self.lod}")


def measure(net: PGGANStep, lod: float, steps: int, min_seconds: float) -> float:
    """Images per second at ``lod``: 1 warm-up step, then at least ``steps`` steps and ``min_seconds``."""
    net.new_phase(lod)
    net.step()  # warm-up (Adam's state, allocator)
    done, t0 = 0, time.perf_counter()
    while done < steps or time.perf_counter() - t0 < min_seconds:
        net.step()
        done += 1
    return net.batch * done / (time.perf_counter() - t0)


def lod_label(lod: float, resolution: int) -> str:
    k = math.floor(lod)
    res = resolution >> k
    if lod == k:
        return f"lod {lod:g} ({res}x{res})"
    return f"lod {lod:g} (fade {res // 2}->{res})"


def schedule_speedup(ips: dict[str, float], lods: list[float]) -> float:
    """Fixed-network time over growing-network time for equal images in every phase of the schedule.

    Phases: a stabilisation at each integer lod and a fade for each k + 0.5 (a fade's cost hardly
    depends on the fade weight: the same blocks run for all of it)."""
    growing = sum(1.0 / ips[str(lod)] for lod in lods)
    return len(lods) / ips[FIXED] / growing


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--resolution", type=int, default=32, help="target resolution (power of 2, >= 8)")
    ap.add_argument("--fmap-base", type=int, default=2048, help="PGGAN fmap_base (paper: 8192)")
    ap.add_argument("--fmap-max", type=int, default=128, help="PGGAN fmap_max (paper: 512)")
    ap.add_argument("--batch", type=int, default=16, help="minibatch size")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--steps", type=int, default=3, help="least timed steps per measurement")
    ap.add_argument("--min-seconds", type=float, default=2.0,
                    help="least timed seconds per measurement (low resolutions run more steps)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (median reported)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()
    print(f"load average at start (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in load_start)}")
    reg = load_registry()
    info = DataInfo(resolution=args.resolution, channels=3)
    common = {"fmap_base": args.fmap_base, "fmap_max": args.fmap_max}
    growing = PGGANStep(PGGANParams(**common, progressive=True), info, args.batch, reg)
    fixed = PGGANStep(PGGANParams(**common, progressive=False), info, args.batch, reg)
    max_lod = growing.G.max_lod
    # The schedule's phases in training order: 4x4, fade to 8x8, 8x8, ..., fade to R, R.
    lods = [x / 2 for x in range(2 * max_lod, -1, -1)]
    log2_res = int(math.log2(args.resolution))
    nf = [channels(s, args.fmap_base, args.fmap_max, 1.0) for s in range(log2_res)]
    results = {
        "machine": {"cpus": os.cpu_count(), "threads": torch.get_num_threads(),
                    "torch": torch.__version__, "python": platform.python_version(),
                    "load_start": load_start},
        "setup": {"resolution": args.resolution, "fmap_base": args.fmap_base,
                  "fmap_max": args.fmap_max, "batch": args.batch, "nf": nf,
                  "params_G": sum(p.numel() for p in fixed.G.parameters()),
                  "params_D": sum(p.numel() for p in fixed.D.parameters()),
                  "steps": args.steps, "min_seconds": args.min_seconds, "rounds": args.rounds},
    }
    keys = [str(lod) for lod in lods] + [FIXED]
    rounds: dict[str, list[float]] = {k: [] for k in keys}
    for r in range(args.rounds):
        order = keys if r % 2 == 0 else keys[::-1]
        for key in order:
            if key == FIXED:
                rounds[key].append(measure(fixed, 0.0, args.steps, args.min_seconds))
            else:
                rounds[key].append(measure(growing, float(key), args.steps, args.min_seconds))
        print(f"  round {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f} img/s" for k, v in rounds.items()),
              file=sys.stderr)

    # Paired (within-round) ratios, then medians over rounds.
    ratio = {k: statistics.median(g / f for g, f in zip(rounds[k], rounds[FIXED])) for k in keys}
    speedups = [schedule_speedup({k: v[i] for k, v in rounds.items()}, lods)
                for i in range(args.rounds)]
    # If the growing phases before the last fade cost nothing: the bound on the speed-up.
    bound = len(lods) / 2
    load_end = os.getloadavg()
    results["machine"]["load_end"] = load_end
    results["images_per_second"] = {k: statistics.median(v) for k, v in rounds.items()}
    results["ratio_growing_over_fixed"] = ratio
    results["schedule_speedup"] = statistics.median(speedups)
    results["schedule_speedup_bound"] = bound
    results["rounds"] = rounds

    print(f"\nmachine: {results['machine']}")
    print(f"setup: {results['setup']}")
    print("| network | images/s | growing / fixed |")
    print("| --- | --- | --- |")
    for lod in lods:
        k = str(lod)
        print(f"| growing, {lod_label(lod, args.resolution)} | "
              f"{results['images_per_second'][k]:.1f} | {ratio[k]:.2f}x |")
    print(f"| fixed, {args.resolution}x{args.resolution} | {results['images_per_second'][FIXED]:.1f} "
          f"| 1.00x |")
    print(f"\nwhole schedule, equal images in each of the {len(lods)} phases: growing is "
          f"{results['schedule_speedup']:.2f}x faster than fixed (rounds: "
          f"{', '.join(f'{s:.2f}' for s in speedups)}; at most {bound:.1f}x if the phases below "
          f"the last fade were free)")
    print(f"load average at end (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in load_end)}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
