"""The training loop: D steps, a G step, EMA, log, evaluate, checkpoint. GAN maths lives in plugins.

Read :func:`train` top to bottom: it is the algorithm. The pieces it orders each have a file of
their own: :class:`~ganzoo.train.state.TrainState` (what a run is at one step, and its checkpoint),
:class:`~ganzoo.train.rundir.RunDir` (the run directory), :class:`~ganzoo.train.batches.Batches`
(reals and latents), :class:`~ganzoo.train.penalties.Penalties` (lazy regularizers),
:class:`~ganzoo.train.meter.LossMeter` (losses kept on the device) and :mod:`~ganzoo.train.watch`
(sample grids, metrics, singular values).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ganzoo import distributed
from ganzoo.config import RunConfig, component_params
from ganzoo.data import load_data
from ganzoo.specs import RegContext
from ganzoo.train import watch
from ganzoo.train.batches import Batches, discriminate, micro_batches
from ganzoo.train.ema import update_ema
from ganzoo.train.latents import LatentSampler
from ganzoo.train.meter import LossMeter
from ganzoo.train.penalties import Penalties
from ganzoo.train.precision import Precision
from ganzoo.train.rundir import RunDir
from ganzoo.train.state import build_state
from ganzoo.train.stop import StopFlag

SAMPLE_SEED_OFFSET = 7919  # the fixed z of the sample grids comes from seed + this


@dataclass
class RunResult:
    status: str  # finished | diverged | interrupted | stopped
    step: int
    images_shown: int
    out: Path
    seconds: float
    best: dict[str, dict] | None = None  # "metric/value" -> {"value", "step"}


def train(cfg: RunConfig, out: str | Path, *, registry: Any, resume: bool = False,
          progress: bool = True, stop_at: int | None = None) -> RunResult:
    """Train one run into ``out``. ``stop_at`` ends early after that G step (with a checkpoint)."""
    world = distributed.setup(torch.device(cfg.train.device))  # one process unless launched by torchrun
    run = RunDir(out, write=world.main)
    saved = run.open(cfg, resume, registry)  # checks only; every rank checks before rank 0 writes
    distributed.barrier(world)
    run.prepare(cfg)
    prec = Precision(cfg, world)

    # The state: networks, EMA, optimizers and samplers, fresh from the seed or resumed.
    st = build_state(cfg, registry, load_data(cfg, registry, "train"), prec.device, world, prec.memory_format)
    if saved is not None:
        st.load_state_dict(saved, run.checkpoint)
        run.truncate(st.step)
    else:
        run.start_fresh(cfg)
    run.open_tensorboard(cfg, st.step if saved is not None else None)
    G, D, G_ema, G_opt, D_opt = st.G, st.D, st.G_ema, st.G_opt, st.D_opt

    # The parts: loss, regularizers, growth schedule, batches, sample latents, loss meter.
    loss, loss_p = registry.get("losses", cfg.loss.name), component_params("losses", cfg.loss, registry)
    d_pen, g_pen = Penalties(cfg, registry, "d"), Penalties(cfg, registry, "g")
    arch = registry.get("architectures", cfg.model.name)
    schedule = (arch.schedule(component_params("architectures", cfg.model, registry), st.info,
                              cfg.train.batch_size) if arch.schedule is not None else None)
    batches = Batches(st, world, prec.memory_format, schedule)
    grid = LatentSampler(G.z_dim, cfg.train.latent, st.info.num_classes,
                         cfg.train.seed + SAMPLE_SEED_OFFSET, prec.device).sample(cfg.log.n_samples)
    meter = LossMeter(prec.device, st.step, world)
    sv_warm: dict[str, dict] = {}
    autocast = prec.autocast
    joint_d = cfg.train.d_batch == "joint"  # D's reals and fakes in one call (batch norm sees both)
    acc = cfg.train.accumulate  # micro-batches per D and G step (gradient accumulation)

    def enter_phase() -> tuple[Any, int]:
        """A growing run: set the level of detail; reset Adam when a fade starts or ends."""
        if schedule is None:
            return None, cfg.train.batch_size
        ph = schedule.phase(st.images_shown)
        if st.phase_key is not None and tuple(ph.key) != st.phase_key:
            if cfg.log.sample_every and world.main:  # a grid at the end of every phase
                watch.save_samples(st, run, grid, autocast, f"phase-{st.phase_key[0]}{st.phase_key[1]}"
                                   f"-kimg{st.images_shown / 1000:09.3f}")
            G_opt.state.clear()
            D_opt.state.clear()
            run.append_log({"event": "phase", "step": st.step, "kimg": st.images_shown / 1000,
                            "lod": ph.lod, "resolution": ph.resolution, "time": time.time()})
        for net in (G, D, G_ema):
            if net is not None:
                net.set_lod(ph.lod)
        st.phase_key = tuple(ph.key)
        world.check_batch(ph.batch_size, "the phase's batch size")
        return ph, ph.batch_size

    def unrolled_d(fake: torch.Tensor, y_fake: Any, ph: Any, n: int) -> torch.Tensor:
        """D's logits on ``fake`` after ``train.unroll`` differentiable D steps on fresh batches."""
        from ganzoo.unroll import surrogate_logits, unrolled_parameters

        def batch():
            real_u, y_real_u = batches.reals(ph, n)
            z_u, y_u = batches.latents(n)
            return real_u, y_real_u, G(z_u, y_u), y_u

        params, buffers = unrolled_parameters(D, D_opt, cfg.train.unroll, batch,
                                              lambda a, b: loss.d_loss(a, b, loss_p), joint=joint_d)
        return surrogate_logits(D, params, buffers, fake, y_fake)

    status, reading = "finished", None
    bar = tqdm(total=cfg.train.g_steps, initial=st.step, desc=cfg.name, unit="step",
               disable=not (progress and world.main), dynamic_ncols=True)
    run.write_status("running", st.step, cfg, st.images_shown)
    window_t, window_steps = time.time(), 0
    with StopFlag() as stop:
        while st.step < cfg.train.g_steps:
            # Discriminator steps.
            G.requires_grad_(False)
            D.requires_grad_(True)
            for k in range(cfg.train.n_disc):
                ph, n = enter_phase()
                real_all, y_real_all = batches.reals(ph, n)
                z_all, y_fake_all = batches.latents(n)
                D_opt.zero_grad(set_to_none=True)
                d_loss = torch.zeros((), device=prec.device)
                # One pass, or train.accumulate micro-batches whose gradients add up to the minibatch's.
                for real, y_real, z, y_fake in micro_batches(acc, real_all, y_real_all, z_all, y_fake_all):
                    with autocast():
                        with torch.no_grad():
                            fake = G(z, y_fake)
                        d_real, d_fake = discriminate(D, real, y_real, fake, y_fake, joint_d)
                    if schedule is not None:  # a Growing D sees its logits on reals (PGGAN's D noise)
                        D.observe_real(d_real.detach())
                    part = loss.d_loss(d_real.float(), d_fake.float(), loss_p)
                    part = d_pen.add_to(part, st.step * cfg.train.n_disc + k, lambda: RegContext(
                        D, G, real, fake, y_real, y_fake, d_real, d_fake, st.step, autocast, world.size,
                        world.shard))
                    part = part / acc if acc > 1 else part
                    part.backward()
                    d_loss += part.detach()
                distributed.average_gradients(D, world)
                D_opt.step()
                st.images_shown += n

            # Generator step (against an unrolled copy of D when train.unroll > 0).
            G.requires_grad_(True)
            D.requires_grad_(False)
            G_opt.zero_grad(set_to_none=True)
            g_loss = torch.zeros((), device=prec.device)
            z_all, y_fake_all = batches.latents(n)
            for real, y_real, z, y_fake in micro_batches(acc, real_all, y_real_all, z_all, y_fake_all):
                with autocast():
                    fake = G(z, y_fake)
                    d_fake = unrolled_d(fake, y_fake, ph, n) if cfg.train.unroll else D(fake, y_fake)
                part = loss.g_loss(d_fake.float(), loss_p)
                part = g_pen.add_to(part, st.step, lambda: RegContext(
                    D, G, real, fake, y_real, y_fake, None, d_fake, st.step, autocast, world.size, world.shard))
                part = part / acc if acc > 1 else part
                part.backward()
                g_loss += part.detach()
            distributed.average_gradients(G, world)
            G_opt.step()
            meter.add(d_loss, g_loss)  # on the device: no sync here

            # EMA (a plain copy before ema.start).
            st.step += 1
            if G_ema is not None:
                update_ema(G_ema, G, cfg.ema.decay if st.step > cfg.ema.start else 0.0)
            bar.update(1)
            window_steps += 1

            # Read the losses where the loop needs them; a non-finite one ends the run as diverged
            # (the last checkpoint, written before the divergence, stays on disk).
            at_end = st.step in (cfg.train.g_steps, stop_at) or stop.requested
            log_now = st.step % cfg.log.log_every == 0 or st.step == cfg.train.g_steps
            eval_now = bool(cfg.eval.metrics) and ((cfg.eval.every and st.step % cfg.eval.every == 0)
                                                   or st.step == cfg.train.g_steps)
            ckpt_now = st.step % cfg.log.checkpoint_every == 0 or at_end
            if log_now or eval_now or ckpt_now:
                reading = meter.read(reset=log_now)
                if reading.finite_steps is not None:
                    status = "diverged"
                    run.append_log({"event": "diverged", "step": reading.finite_steps + 1,
                                     "d_loss": reading.d_loss, "g_loss": reading.g_loss, "time": time.time()})
                    break
            if log_now:
                now = time.time()
                run.append_log({"step": st.step, "kimg": st.images_shown / 1000, "d_loss": reading.d_loss,
                                "g_loss": reading.g_loss, "sec_per_step": (now - window_t) / window_steps,
                                "time": now})
                bar.set_postfix(d=f"{reading.d_loss:.3f}", g=f"{reading.g_loss:.3f}")
                window_t, window_steps = now, 0

            # Watch, evaluate, checkpoint.
            if cfg.log.sv_every and st.step % cfg.log.sv_every == 0 and world.main:
                watch.record_singular_values(st, run, sv_warm)
            if cfg.log.sample_every and st.step % cfg.log.sample_every == 0 and world.main:
                watch.save_samples(st, run, grid, autocast)
            if eval_now and world.main:
                results = watch.evaluate(st, run, registry)
                bar.write(f"step {st.step}: " + ", ".join(f"{r.name} {k}={v:.4g}" for r in results
                                                         for k, v in r.values.items()))
            if ckpt_now:
                run.save_checkpoint(st.state_dict(), st.step, cfg.log.keep_every)
                run.write_status("running", st.step, cfg, st.images_shown)
            if st.step == stop_at and st.step < cfg.train.g_steps:
                status = "stopped"
                break
            if stop.requested:
                status = "interrupted"
                break
    bar.close()

    step = reading.finite_steps if status == "diverged" else st.step
    if status == "finished" and world.main:
        watch.save_samples(st, run, grid, autocast)
    extra = watch.finish_singular_values(run, cfg.name) if cfg.log.sv_every and world.main else {}
    run.append_log({"event": status, "step": step, "time": time.time(), **extra})
    run.write_status(status, step, cfg, st.images_shown, best=st.best, **extra)
    run.close_tensorboard()
    distributed.teardown(world)
    return RunResult(status, step, st.images_shown, run.out, st.seconds, st.best)
