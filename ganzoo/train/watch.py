"""What training records about itself besides checkpoints: sample grids, metrics, singular values.

All three look at copies or in eval mode and leave the training state untouched: the global RNG,
the networks' modes and their batch-norm statistics (so a run that evaluates resumes bit-exactly).
Only rank 0 of a multi-process run calls them.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from ganzoo.data import to_uint8
from ganzoo.images import save_grid
from ganzoo.train.rundir import RunDir
from ganzoo.train.state import TrainState


@torch.no_grad()
def save_samples(st: TrainState, run: RunDir, grid: tuple, autocast, name: str | None = None) -> None:
    """A grid of the fixed latents ``grid`` through G_ema (or G) as ``samples/<name>.png``."""
    net = st.G_ema if st.G_ema is not None else st.G
    was_training = net.training
    net.eval()
    with autocast():
        imgs = net(*grid)
    net.train(was_training)
    path = run.samples / f"{name or f'step-{st.step:07d}'}.png"
    save_grid(to_uint8(imgs), path, scale=max(1, 64 // st.info.resolution))
    if run.tb is not None:
        run.tb.image(path, st.step)


def evaluate(st: TrainState, run: RunDir, registry: Any) -> list:
    """The run's ``eval.metrics`` on a copy of G_ema (or G): appended to metrics.jsonl, best kept."""
    from ganzoo.metrics import EvalSettings, evaluate_generator

    cfg = st.cfg
    net = copy.deepcopy(st.G_ema if st.G_ema is not None else st.G)
    settings = EvalSettings(extractor=cfg.eval.extractor, generator="ema" if st.G_ema is not None else "raw",
                            bn=cfg.eval.bn, seed=cfg.eval.seed, batch_size=cfg.eval.batch_size,
                            device=str(st.device), progress=False)
    results = evaluate_generator(net, cfg, st.info, cfg.eval.metrics, settings, registry)
    st.update_best(results, [registry.get("metrics", m) for m in cfg.eval.metrics], st.step)
    for r in results:
        run.append(run.metrics, {"step": st.step, "kimg": st.images_shown / 1000, "name": r.name,
                                 "values": r.values, "protocol_hash": r.protocol_hash, "seconds": r.seconds})
    return results


def record_singular_values(st: TrainState, run: RunDir, warm: dict[str, dict]) -> None:
    """The top singular value of every weight of G and D, appended to sv.jsonl (BigGAN's monitor)."""
    from ganzoo.monitor import top_singular_values

    rec: dict[str, Any] = {"step": st.step}
    for label, net in (("G", st.G), ("D", st.D)):
        values = top_singular_values(net, state=warm.setdefault(label, {}))
        rec[label] = {name: float(v[0]) for name, v in values.items()}
    run.append(run.sv, rec)


def finish_singular_values(run: RunDir, title: str) -> dict[str, Any]:
    """Plot the monitor's records and look for the collapse step (BigGAN Table 1's 'Itr')."""
    from ganzoo.monitor import detect_collapse, plot_singular_values

    records = run.records(run.sv)
    if not records:
        return {}
    plot_singular_values(records, run.out / "sv.png", title=title)
    return {"collapse_step": detect_collapse(records)}
