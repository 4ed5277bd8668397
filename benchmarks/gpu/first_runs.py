"""The first run of a suite at a scale, as a short run config for a quick check on a device.

Shared by ``check.sh`` (which writes one JSON per suite with the command line below) and
``profile_step.py``: bf16 autocast and channels_last on, sample grids and singular values off,
metrics off unless asked for (then evaluated only at the end of each command).

    python benchmarks/gpu/first_runs.py OUT_DIR --device cuda --steps 10 --scale paper [--suites a,b]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ganzoo.suite import expand, find_suite


def first_run(registry: Any, suite: str, scale: str, device: str, g_steps: int, batch: int | None = None,
              data: str | None = None, evaluate: bool = False, threads: int | None = None) -> dict:
    """The raw config of ``suite``'s first run at ``scale``, shortened to ``g_steps`` on ``device``."""
    raw = json.loads(expand(find_suite(suite, registry), scale, registry)[0].config.to_json())
    raw["train"].update(device=device, g_steps=g_steps)
    if batch:
        raw["train"].update(batch_size=batch)
    raw["fast"].update(bf16=True, channels_last=True, threads=threads)
    raw["log"].update(sample_every=0, sv_every=0)
    if evaluate:
        raw["eval"].update(every=0)  # only at the end of each command
    else:
        raw["eval"].update(metrics=[], every=0)
    if data:
        raw["data"].update(name=data, params={})
    return raw


def main() -> None:
    from ganzoo.registry import load_registry

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps", type=int, required=True, help="G steps of the first command")
    ap.add_argument("--log-every", type=int, default=5)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--data", default=None)
    ap.add_argument("--suites", default="", help="comma-separated names (default: every suite)")
    ap.add_argument("--scale", default="paper")
    ap.add_argument("--eval", action="store_true")
    a = ap.parse_args()
    reg = load_registry()
    for name in reg.names("suites"):
        if (a.suites and name not in a.suites.split(",")) or a.scale not in find_suite(name, reg).scales:
            continue
        raw = first_run(reg, name, a.scale, a.device, a.steps, a.batch, a.data, a.eval)
        raw["log"].update(log_every=a.log_every, checkpoint_every=a.steps)
        with open(f"{a.out}/{name}.json", "w") as f:
            json.dump(raw, f, indent=1)
        print(f"{name}: {raw['model']['name']} on {raw['data']['name']} {raw['data']['resolution']}px, "
              f"batch {raw['train']['batch_size']}")


if __name__ == "__main__":
    main()
