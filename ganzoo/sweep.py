"""Truncation sweeps: a finished run's final G evaluated at several thresholds (BigGAN Table 2).

Each threshold psi gives the run's metrics with latents drawn from the truncated normal of the
BigGAN paper (entries with |z_i| > psi redrawn; see :class:`ganzoo.train.latents.LatentSampler`), with
standing batch-norm statistics recomputed *at that threshold* as the TF-Hub notes require. Results
are stored with the run under names ``<protocol>~t=<psi>/<value>`` (``~t=none``: untruncated), so
tables can rebuild the curve; the real data's score (``data_metric``) is stored once as
``<protocol>~data/<value>``.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

from ganzoo.metrics import EvalSettings, evaluate_generator


def sweep_name(metric: str, truncation: float | None) -> str:
    return f"{metric}~t={'none' if truncation is None else f'{truncation:g}'}"


def parse_sweep_name(name: str) -> tuple[str, float | None] | None:
    """``fid2k@mnist-cnn~t=0.5/fid`` -> (``fid2k@mnist-cnn/fid``, 0.5); None for other names."""
    if "~t=" not in name:
        return None
    head, _, rest = name.partition("~t=")
    psi, _, key = rest.partition("/")
    return f"{head}/{key}", (None if psi == "none" else float(psi))


def run_sweep(run_dir: str | Path, sweep: dict[str, Any], step: int, registry: Any) -> list[dict]:
    """Evaluate ``run_dir``'s checkpoint at every threshold; result dicts as the benchmark store keeps them.

    The checkpoint is read once; each threshold gets a fresh copy of its G, so standing statistics
    computed at one threshold never leak into the next.
    """
    from ganzoo.train.networks import load_generator

    G, cfg, info, which = load_generator(Path(run_dir) / "checkpoint.pt", registry)  # G_ema if it has one
    base = EvalSettings(extractor=cfg.eval.extractor, generator=which, bn=sweep.get("bn", "standing"),
                        seed=cfg.eval.seed, batch_size=cfg.eval.batch_size, progress=False)

    def results(metrics: list[str], settings: EvalSettings) -> list:
        return evaluate_generator(copy.deepcopy(G), cfg, info, metrics, settings, registry)

    out = []
    thresholds = ([None] if sweep.get("untruncated", True) else []) + list(sweep["truncation"])
    for psi in thresholds:
        for r in results(list(sweep["metrics"]), dataclasses.replace(base, truncation=psi)):
            for key, value in r.values.items():
                out.append({"metric": f"{sweep_name(r.name, psi)}/{key}", "protocol_hash": r.protocol_hash,
                            "best": value, "best_step": step, "final": value})
    if sweep.get("data_metric"):
        for r in results([sweep["data_metric"]], base):
            for key, value in r.values.items():
                out.append({"metric": f"{r.name}~data/{key}", "protocol_hash": r.protocol_hash,
                            "best": value, "best_step": step, "final": value})
    return out
