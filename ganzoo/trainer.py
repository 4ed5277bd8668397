"""The training loop: one readable function over (G, D, loss, regularizers, optimizers, EMA, checkpoints).

GAN maths lives in the loss and regularizer plugins; this loop only orders the steps. A run directory
holds ``config.json`` (the resolved config), ``log.jsonl``, ``status.json``, ``checkpoint.pt`` (the
latest full state), ``samples/*.png`` and, optionally, numbered snapshots under ``checkpoints/``.
Resuming from ``checkpoint.pt`` is lossless: N steps straight and k steps + resume + N-k steps give
bit-identical networks on CPU (``tests/test_trainer.py`` proves it).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ganzoo import checkpoint, distributed
from ganzoo.build import (LatentSampler, build_networks, data_info, info_dict, load_data,
                          make_ema, update_ema)
from ganzoo.config import RunConfig, component_params
from ganzoo.data import BatchSampler, to_uint8
from ganzoo.errors import GanzooError
from ganzoo.images import save_grid
from ganzoo.specs import RegContext

SAMPLE_SEED_OFFSET = 7919  # the fixed z of the sample grids comes from seed + this
# Which metric values have a "best" during training (the self-mod study reports the best FID).
LOWER_IS_BETTER = {"fid", "kid", "swd_avg", "kl"}
HIGHER_IS_BETTER = {"is", "modes", "precision", "recall"}


@dataclass
class RunResult:
    status: str  # finished | diverged | interrupted | stopped
    step: int
    images_shown: int
    out: Path
    seconds: float
    best: dict[str, dict] | None = None  # metric value -> {"value", "step"}


class RunFiles:
    """The files of one run directory."""

    def __init__(self, out: Path, write: bool = True) -> None:
        self.out = Path(out)
        self.write = write  # False on ranks > 0 of a multi-process run: only rank 0 writes
        self.config = self.out / "config.json"
        self.log = self.out / "log.jsonl"
        self.metrics = self.out / "metrics.jsonl"
        self.sv = self.out / "sv.jsonl"
        self.status = self.out / "status.json"
        self.checkpoint = self.out / checkpoint.LATEST
        self.samples = self.out / "samples"
        self.snapshots = self.out / "checkpoints"
        self.tb = None  # a ganzoo.tblog.TensorBoardLog when log.tensorboard is on (rank 0 only)

    def write_status(self, state: str, step: int, cfg: RunConfig, images_shown: int, **extra: Any) -> None:
        if not self.write:
            return
        doc = {"state": state, "step": step, "g_steps": cfg.train.g_steps,
               "images_shown": images_shown, "updated": time.time(), **extra}
        checkpoint.atomic_write_text(self.status, json.dumps(doc, indent=2) + "\n")

    def append(self, path: Path, record: dict[str, Any]) -> None:
        if not self.write:
            return
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self.tb is not None:
            self.tb.record(path.name, record)

    def append_log(self, record: dict[str, Any]) -> None:
        self.append(self.log, record)

    def truncate(self, step: int) -> None:
        """Drop log and metric lines written after the checkpoint we resume from (no step twice)."""
        if not self.write:
            return
        for path in (self.log, self.metrics, self.sv):
            if not path.exists():
                continue
            keep = [ln for ln in path.read_text(encoding="utf-8").splitlines()
                    if ln.strip() and json.loads(ln).get("step", 0) <= step]
            checkpoint.atomic_write_text(path, "".join(k + "\n" for k in keep))


def update_best(best: dict[str, dict], results: list, step: int) -> None:
    """Keep, per metric value, the best seen so far (lower FID/KID/SWD/KL, higher IS/modes/P/R)."""
    for r in results:
        for key, value in r.values.items():
            lower = key in LOWER_IS_BETTER
            if not (lower or key in HIGHER_IS_BETTER):
                continue
            name = f"{r.name}/{key}"
            old = best.get(name)
            if old is None or (value < old["value"] if lower else value > old["value"]):
                best[name] = {"value": value, "step": step}


def _config_diff(a: dict, b: dict, prefix: str = "") -> list[str]:
    diffs = []
    for key in sorted(set(a) | set(b)):
        path = f"{prefix}{key}"
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            diffs += _config_diff(va, vb, path + ".")
        elif va != vb:
            diffs.append(f"{path}: {va!r} -> {vb!r}")
    return diffs


class _StopFlag:
    """Turns Ctrl-C into a clean stop at the next step boundary (main thread only)."""

    def __init__(self) -> None:
        self.requested = False
        self._old = None

    def __enter__(self) -> "_StopFlag":
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def train(cfg: RunConfig, out: str | Path, resume: bool = False, registry: Any = None,
          progress: bool = True, stop_at: int | None = None) -> RunResult:
    """Train one run into ``out``. ``stop_at`` ends early after that G step (with a checkpoint)."""
    if registry is None:
        from ganzoo.registry import get_registry

        registry = get_registry()
    device = torch.device(cfg.train.device)
    world = distributed.setup(device)  # one process unless launched by torchrun
    files = RunFiles(Path(out), write=world.main)
    t_start = time.time()

    # Check the run directory: never overwrite a run unless asked to resume it.
    state = None
    if files.checkpoint.exists() or files.config.exists():
        if not resume:
            raise GanzooError(
                f"{files.out} already holds a run; pass --resume to continue it or choose another --out"
            )
        if files.checkpoint.exists():
            state = checkpoint.load(files.checkpoint)
            old = json.loads(state["config"])
            new = json.loads(cfg.to_json())
            diffs = [d for d in _config_diff(old, new)
                     if not d.startswith(("log.", "name:", "train.g_steps:"))]
            if diffs:
                raise GanzooError(f"--resume: the config differs from the run's: {'; '.join(diffs)}")
    distributed.barrier(world)  # every rank has checked the directory before rank 0 writes to it
    if world.main:
        files.out.mkdir(parents=True, exist_ok=True)
        checkpoint.atomic_write_text(files.config, cfg.to_json() + "\n")

    # Set up the device, threads and precision.
    if cfg.fast.threads:
        torch.set_num_threads(cfg.fast.threads)
    elif world.active:  # share the cores between the processes of this machine
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", world.size))))
    if world.active and device.type == "cuda" and cfg.train.device == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GanzooError(f"train.device: {cfg.train.device!r} requested but CUDA is not available")
    memory_format = torch.channels_last if cfg.fast.channels_last else torch.contiguous_format

    def autocast():
        if not cfg.fast.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)

    # Load the training set.
    data = load_data(cfg, registry, "train")
    info = data_info(data)

    # Construct networks, EMA and optimizers (weights are initialised from the run's seed).
    torch.manual_seed(cfg.train.seed)
    G, D = build_networks(cfg, registry, info)
    if world.active:  # batch statistics over the global batch, as one process would compute them
        G, D = distributed.convert_batchnorm(G, device), distributed.convert_batchnorm(D, device)
        world.check_batch(cfg.train.batch_size)
    G, D = G.to(device, memory_format=memory_format), D.to(device, memory_format=memory_format)
    G_ema = make_ema(G) if cfg.ema.enabled else None
    G_opt = torch.optim.Adam(G.parameters(), lr=cfg.g_optim.lr,
                             betas=(cfg.g_optim.beta1, cfg.g_optim.beta2), eps=cfg.g_optim.eps)
    D_opt = torch.optim.Adam(D.parameters(), lr=cfg.d_optim.lr,
                             betas=(cfg.d_optim.beta1, cfg.d_optim.beta2), eps=cfg.d_optim.eps)

    # A growing architecture (PGGAN) brings its schedule: level of detail, batch size, real fading.
    arch_spec = registry.get("architectures", cfg.model.name)
    schedule = (arch_spec.schedule(component_params("architectures", cfg.model, registry), info,
                                   cfg.train.batch_size) if arch_spec.schedule is not None else None)
    phase_key = None  # (floor(lod), ceil(lod)) of the last step: Adam is reset when it changes

    # Losses and regularizers, with their validated params.
    loss_spec = registry.get("losses", cfg.loss.name)
    loss_p = component_params("losses", cfg.loss, registry)
    regs = [(registry.get("regularizers", r.name), component_params("regularizers", r, registry))
            for r in cfg.regularizers]
    d_regs = [(s, p) for s, p in regs if s.target == "d"]
    g_regs = [(s, p) for s, p in regs if s.target == "g"]

    # Samplers: data and latents each have their own seeded generator.
    sampler = BatchSampler(data, cfg.train.batch_size, seed=cfg.train.seed)
    latents = LatentSampler(G.z_dim, cfg.train.latent, info.num_classes, cfg.train.seed + 1, device)
    grid_z, grid_y = LatentSampler(G.z_dim, cfg.train.latent, info.num_classes,
                                   cfg.train.seed + SAMPLE_SEED_OFFSET, device).sample(cfg.log.n_samples)
    step, images_shown, elapsed_before = 0, 0, 0.0
    best: dict[str, dict] = {}
    sv_state: dict[str, dict] = {"G": {}, "D": {}}  # warm starts of the singular-value monitor

    # Resume from the latest checkpoint.
    if state is not None:
        G.load_state_dict(state["G"])
        D.load_state_dict(state["D"])
        if G_ema is not None:
            G_ema.load_state_dict(state["G_ema"])
        G_opt.load_state_dict(state["G_opt"])
        D_opt.load_state_dict(state["D_opt"])
        sampler.load_state_dict(state["sampler"])
        latents.load_state_dict(state["latents"])
        torch.set_rng_state(state["rng_torch"])
        if device.type == "cuda" and state.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(state["rng_cuda"], device)
        step, images_shown = int(state["step"]), int(state["images_shown"])
        elapsed_before = float(state["seconds"])
        best = dict(json.loads(state.get("best", "{}")))
        if state.get("phase_key") is not None:
            phase_key = tuple(int(k) for k in state["phase_key"])
        files.truncate(step)
        files.append_log({"event": "resume", "step": step, "time": time.time()})
    elif world.main:
        files.log.unlink(missing_ok=True)
        files.metrics.unlink(missing_ok=True)
        files.sv.unlink(missing_ok=True)
        files.append_log({"event": "start", "step": 0, "time": time.time(), "config_hash": cfg.hash()})
    if cfg.log.tensorboard and world.main:  # events beside log.jsonl; a resume purges steps >= step
        from ganzoo.tblog import TensorBoardLog

        files.tb = TensorBoardLog(files.out, purge_step=step if state is not None else None)

    def save_checkpoint() -> None:
        if not world.main:
            return
        checkpoint.save({
            "config": cfg.to_json(), "data_info": info_dict(info),
            "step": step, "images_shown": images_shown,
            "seconds": elapsed_before + time.time() - t_start,
            "G": G.state_dict(), "D": D.state_dict(),
            "G_ema": G_ema.state_dict() if G_ema is not None else None,
            "G_opt": G_opt.state_dict(), "D_opt": D_opt.state_dict(),
            "sampler": sampler.state_dict(), "latents": latents.state_dict(),
            "rng_torch": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "best": json.dumps(best),
            "phase_key": list(phase_key) if phase_key is not None else None,
        }, files.checkpoint)
        if cfg.log.keep_every and step % cfg.log.keep_every == 0:
            files.snapshots.mkdir(exist_ok=True)
            shutil.copyfile(files.checkpoint, files.snapshots / f"step-{step:07d}.pt")

    @torch.no_grad()
    def save_samples(name: str | None = None) -> None:
        if not world.main:
            return
        net = G_ema if G_ema is not None else G
        was_training = net.training
        net.eval()
        with autocast():
            imgs = net(grid_z, grid_y)
        net.train(was_training)
        grid = files.samples / f"{name or f'step-{step:07d}'}.png"
        save_grid(to_uint8(imgs), grid, scale=max(1, 64 // info.resolution))
        if files.tb is not None:
            files.tb.image(grid, step)

    def unrolled_d(fake: torch.Tensor, y_fake: torch.Tensor | None, ph: Any, n: int) -> torch.Tensor:
        """D's logits on ``fake`` after ``train.unroll`` differentiable D steps on fresh batches."""
        from ganzoo.unroll import surrogate_logits, unrolled_parameters

        def batch():
            real_u, y_real_u = real_batch(ph, n)
            z_u, y_u = fake_latents(n)
            return real_u, y_real_u, G(z_u, y_u), y_u

        params, buffers = unrolled_parameters(
            D, D_opt, cfg.train.unroll, batch, lambda a, b: loss_spec.d_loss(a, b, loss_p))
        return surrogate_logits(D, params, buffers, fake, y_fake)

    def run_metrics() -> None:
        """Evaluate a copy of G_ema (or G): global RNG, modes and BN statistics stay untouched."""
        if not world.main:
            return
        from ganzoo.metrics import EvalSettings, evaluate_generator

        net = copy.deepcopy(G_ema if G_ema is not None else G)
        settings = EvalSettings(extractor=cfg.eval.extractor, generator="ema" if G_ema is not None else "raw",
                                bn=cfg.eval.bn, seed=cfg.eval.seed, batch_size=cfg.eval.batch_size,
                                device=str(device), progress=False)
        results = evaluate_generator(net, cfg, info, cfg.eval.metrics, settings, registry)
        update_best(best, results, step)
        for r in results:
            files.append(files.metrics, {"step": step, "kimg": images_shown / 1000, "name": r.name,
                                         "values": r.values, "protocol_hash": r.protocol_hash,
                                         "seconds": r.seconds})
        bar.write(f"step {step}: " + ", ".join(f"{r.name} {k}={v:.4g}" for r in results
                                                for k, v in r.values.items()))

    def fake_latents(n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """This process's share of the next global batch of ``n`` latents (and fake labels)."""
        z, y = latents.sample(n)
        return world.shard(z), world.shard(y)

    def enter_phase(batch_size: int) -> tuple[Any, int]:
        """Set the networks' level of detail for the next step; reset Adam when a fade starts or ends."""
        nonlocal phase_key
        if schedule is None:
            return None, batch_size
        ph = schedule.phase(images_shown)
        if phase_key is not None and tuple(ph.key) != phase_key:
            if cfg.log.sample_every:  # a grid at the end of every phase, before the lod moves on
                save_samples(f"phase-{phase_key[0]}{phase_key[1]}-kimg{images_shown / 1000:09.3f}")
            G_opt.state.clear()
            D_opt.state.clear()
            files.append_log({"event": "phase", "step": step, "kimg": images_shown / 1000,
                              "lod": ph.lod, "resolution": ph.resolution, "time": time.time()})
        for net in (G, D, G_ema):
            if net is not None:
                net.set_lod(ph.lod)
        phase_key = tuple(ph.key)
        return ph, ph.batch_size

    def real_batch(ph: Any, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """This process's share of the next global batch of ``n`` reals (faded when growing)."""
        real, y_real = sampler.next(n)
        real, y_real = world.shard(real), world.shard(y_real)
        real = real.to(device, memory_format=memory_format)
        if ph is not None:
            real = schedule.reals(real, ph)
        return real, (y_real.to(device) if y_real is not None else None)

    def monitor_singular_values() -> None:
        from ganzoo.monitor import top_singular_values

        if not world.main:
            return
        rec: dict[str, Any] = {"step": step}
        for label, net in (("G", G), ("D", D)):
            values = top_singular_values(net, state=sv_state[label])
            rec[label] = {name: float(v[0]) for name, v in values.items()}
        files.append(files.sv, rec)

    def finish_singular_values() -> dict[str, Any]:
        """Plot the monitor's records and look for the collapse step (BigGAN Table 1's 'Itr')."""
        from ganzoo.monitor import detect_collapse, plot_singular_values

        if not world.main or not files.sv.exists():
            return {}
        records = [json.loads(ln) for ln in files.sv.read_text(encoding="utf-8").splitlines() if ln]
        if not records:
            return {}
        plot_singular_values(records, files.out / "sv.png", title=cfg.name)
        return {"collapse_step": detect_collapse(records)}

    # Train.
    status = "finished"
    bar = tqdm(total=cfg.train.g_steps, initial=step, desc=cfg.name, unit="step",
               disable=not (progress and world.main), dynamic_ncols=True)
    files.write_status("running", step, cfg, images_shown)
    window_t, window_steps = time.time(), 0
    with _StopFlag() as stop:
        while step < cfg.train.g_steps:
            # Discriminator steps.
            G.requires_grad_(False)
            D.requires_grad_(True)
            for _ in range(cfg.train.n_disc):
                ph, n = enter_phase(cfg.train.batch_size)
                world.check_batch(n, "the phase's batch size")
                real, y_real = real_batch(ph, n)
                z, y_fake = fake_latents(n)
                with autocast():
                    with torch.no_grad():
                        fake = G(z, y_fake)
                    d_real = D(real, y_real)
                    d_fake = D(fake, y_fake)
                if hasattr(D, "observe_real"):  # e.g. PGGAN's adaptive D noise tracks D on reals
                    D.observe_real(d_real.detach())
                d_loss = loss_spec.d_loss(d_real.float(), d_fake.float(), loss_p)
                if d_regs:
                    ctx = RegContext(D, G, real, fake, y_real, y_fake, d_real, d_fake, step, autocast,
                                     world.size, world.shard)
                    for spec, p in d_regs:
                        d_loss = d_loss + spec.penalty(ctx, p)
                D_opt.zero_grad(set_to_none=True)
                d_loss.backward()
                distributed.average_gradients(D, world)
                D_opt.step()
                images_shown += n

            # Generator step (against an unrolled copy of D when train.unroll > 0).
            G.requires_grad_(True)
            D.requires_grad_(False)
            z, y_fake = fake_latents(n)
            with autocast():
                fake = G(z, y_fake)
                if cfg.train.unroll:
                    d_fake = unrolled_d(fake, y_fake, ph, n)
                else:
                    d_fake = D(fake, y_fake)
            g_loss = loss_spec.g_loss(d_fake.float(), loss_p)
            if g_regs:
                ctx = RegContext(D, G, real, fake, y_real, y_fake, None, d_fake, step, autocast,
                                 world.size, world.shard)
                for spec, p in g_regs:
                    g_loss = g_loss + spec.penalty(ctx, p)
            G_opt.zero_grad(set_to_none=True)
            g_loss.backward()
            distributed.average_gradients(G, world)
            G_opt.step()

            # A non-finite loss ends the run as diverged; the last good checkpoint stays on disk.
            d_val, g_val = distributed.mean_over_processes([d_loss.item(), g_loss.item()], world)
            if not (torch.isfinite(torch.tensor([d_val, g_val])).all()):
                status = "diverged"
                files.append_log({"event": "diverged", "step": step + 1, "d_loss": d_val,
                                  "g_loss": g_val, "time": time.time()})
                break

            # Update G_ema (a plain copy before ema.start).
            step += 1
            if G_ema is not None:
                update_ema(G_ema, G, cfg.ema.decay if step > cfg.ema.start else 0.0)

            # Log, draw samples, write checkpoints.
            bar.update(1)
            window_steps += 1
            if step % cfg.log.log_every == 0 or step == cfg.train.g_steps:
                now = time.time()
                rec = {"step": step, "kimg": images_shown / 1000, "d_loss": d_val, "g_loss": g_val,
                       "sec_per_step": (now - window_t) / window_steps, "time": now}
                files.append_log(rec)
                bar.set_postfix(d=f"{d_val:.3f}", g=f"{g_val:.3f}")
                window_t, window_steps = now, 0
            if cfg.log.sv_every and step % cfg.log.sv_every == 0:
                monitor_singular_values()
            if cfg.log.sample_every and step % cfg.log.sample_every == 0:
                save_samples()
            at_end = step == cfg.train.g_steps or step == stop_at or stop.requested
            if cfg.eval.metrics and ((cfg.eval.every and step % cfg.eval.every == 0)
                                     or step == cfg.train.g_steps):
                run_metrics()
            if step % cfg.log.checkpoint_every == 0 or at_end:
                save_checkpoint()
                files.write_status("running", step, cfg, images_shown)
            if step == stop_at and step < cfg.train.g_steps:
                status = "stopped"
                break
            if stop.requested:
                status = "interrupted"
                break
    bar.close()

    if status == "finished":
        save_samples()
    extra = finish_singular_values() if cfg.log.sv_every else {}
    files.append_log({"event": status, "step": step, "time": time.time(), **extra})
    files.write_status(status, step, cfg, images_shown, best=best, **extra)
    if files.tb is not None:
        files.tb.close()
    distributed.teardown(world)
    return RunResult(status, step, images_shown, files.out, elapsed_before + time.time() - t_start, best)
