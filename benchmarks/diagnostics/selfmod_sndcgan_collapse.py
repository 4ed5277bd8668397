"""Diagnostic, not part of any suite: where does self-modulated SNDCGAN's early collapse come from?

At the cpu scale (width 1/8, 3,000 G steps) several self-modulated SNDCGAN runs of the robustness
grid end as one constant image: D's loss falls to about 0 within 100-200 G steps and never recovers,
and the final IS is 1.0. Their BN twins do not. This script re-trains one grid setting for a few
hundred G steps, on several seeds, with one change to G:

* ``as-is``: the suite's self-modulated SNDCGAN (its first BN, on the flat dense output, modulated
  per unit: our reading of code the authors never published);
* ``dense-bn``: the same network with that one layer a plain affine BN, so the questionable layer is
  gone and every other layer stays self-modulated. The replacement draws no random numbers, so each
  seed starts from exactly the same G and D weights as ``as-is``;
* ``bn``: the suite's BN twin (every layer a plain BN).

``--width`` trains the same setting at another width (the suite's cpu scale is 1/8). The config is
the committed export's, so ``as-is`` at width 1/8 reproduces the suite's run of that seed exactly,
up to the steps trained. One JSON line per run: D's loss at the last three logs, and IS and FID
(MNIST CNN, 2k samples) every 100 G steps.

    python benchmarks/diagnostics/selfmod_sndcgan_collapse.py \
        --setting loss=ns,penalty=sn,opt=0.5-0.999-1 --variant as-is --variant dense-bn \
        --seeds 0,1,2,3,4 --steps 1000 --out runs/diag
    (add --width 0.25 for the width comparison; --variant bn for the BN twin)
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import ganzoo_selfmod.networks as networks
from ganzoo.api import load_registry
from ganzoo.config import resolve
from ganzoo.export import read_export
from ganzoo.train.loop import train
from ganzoo_selfmod.layers import BatchNorm

EXPORT = Path(__file__).resolve().parents[2] / "results" / "selfmod-robustness.runs.jsonl"
_keep = networks.keep_single_modulation


def _dense_layer_plain(G, kind):
    G = _keep(G, kind)
    m = G.fc_norm
    G.fc_norm = BatchNorm(m.num_features, eps=m.bn.eps, momentum=m.bn.momentum)
    return G


def base_config(setting: dict[str, str]) -> dict:
    """The config of the export's SNDCGAN self-modulated run of that setting (any seed)."""
    for rec in read_export(EXPORT)[2]:
        s = rec.get("setting") or {}
        if (rec["kind"] == "run" and s.get("arch") == "sndcgan" and s.get("method") == "selfmod"
                and all(s.get(k) == v for k, v in setting.items())):
            return rec["config"]
    raise SystemExit(f"error: no SNDCGAN self-modulated run with {setting} in {EXPORT.name}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--setting", required=True, help="e.g. loss=ns,penalty=sn,opt=0.5-0.999-1")
    ap.add_argument("--variant", action="append", required=True,
                    choices=("as-is", "dense-bn", "bn"))
    ap.add_argument("--seeds", default="0,1,2,3,4",
                    help="comma-separated, as `ganzoo bench --seeds`")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--width", type=float, default=None)
    ap.add_argument("--out", default="runs/diag")
    a = ap.parse_args()
    setting = dict(kv.split("=", 1) for kv in a.setting.split(","))
    base = base_config(setting)
    reg = load_registry()
    for seed in (int(x) for x in a.seeds.split(",")):
        for variant in a.variant:
            raw = copy.deepcopy(base)
            raw["train"].update(seed=seed, g_steps=a.steps)
            raw["eval"]["every"] = 100
            raw["log"].update(log_every=50, checkpoint_every=a.steps, sample_every=a.steps)
            raw["model"]["params"]["g_norm"] = "bn" if variant == "bn" else "selfmod"
            if a.width is not None:
                raw["model"]["params"]["width"] = a.width
            width = raw["model"]["params"]["width"]
            raw["name"] = f"diag-{variant}-w{width}-s{seed}"
            networks.keep_single_modulation = _dense_layer_plain if variant == "dense-bn" else _keep
            out = Path(a.out) / raw["name"]
            train(resolve(raw, reg), out, registry=reg, progress=False)
            logs = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
            mets = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
            print(json.dumps(dict(
                variant=variant, width=width, seed=seed, setting=setting,
                d_loss=[round(x["d_loss"], 4) for x in logs if "d_loss" in x][-3:],
                IS=[round(m["values"]["is"], 2) for m in mets if "is" in m["values"]],
                FID=[round(m["values"]["fid"], 1) for m in mets if "fid" in m["values"]])),
                  flush=True)


if __name__ == "__main__":
    main()
