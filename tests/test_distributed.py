"""Multi-process training: 2 gloo processes on CPU take the step one process takes on the global batch."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import tiny_raw
from ganzoo import checkpoint
from ganzoo.distributed import CrossReplicaBatchNorm, World, convert_batchnorm

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(args: list[str], env_extra: dict | None = None) -> None:
    env = {**os.environ, "GANZOO_DISABLE_PLUGIN_AUTOLOAD": "1", "OMP_NUM_THREADS": "1",
           **(env_extra or {})}
    proc = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]


def _config(tmp_path: Path) -> Path:
    # Plain BN in G (so cross-replica statistics matter), WGAN-GP (D runs again inside the
    # penalty), EMA, 2 D steps per G step.
    raw = tiny_raw(
        model={"name": "sndcgan", "params": {"width": 0.0625, "g_norm": "bn", "z_dim": 16}},
        loss={"name": "wgan"},
        regularizers=[{"name": "wgan-gp", "params": {"weight": 10.0}}],
        train={"g_steps": 3, "batch_size": 16, "n_disc": 2, "seed": 5},
        # Adam's first steps are lr * sign(grad): a gradient at rounding level (a bias whose true
        # gradient is ~0) would flip a whole step between the two runs. A large eps makes tiny
        # gradients take tiny steps, so the comparison tests the gradients themselves.
        g_optim={"eps": 1e-3}, d_optim={"eps": 1e-3},
    )
    path = tmp_path / "run.json"
    path.write_text(json.dumps(raw))
    return path


def test_two_processes_match_one_on_the_global_batch(tmp_path):
    cfg = _config(tmp_path)
    _run(["-m", "ganzoo", "train", str(cfg), "--out", str(tmp_path / "one"), "--quiet"])
    _run(["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
          "-m", "ganzoo", "train", str(cfg), "--out", str(tmp_path / "two"), "--quiet"])
    one = checkpoint.load(tmp_path / "one" / "checkpoint.pt")
    two = checkpoint.load(tmp_path / "two" / "checkpoint.pt")
    assert one["step"] == two["step"] == 3 and one["images_shown"] == two["images_shown"]
    for net in ("G", "D", "G_ema"):
        assert one[net].keys() == two[net].keys()
        for k in one[net]:
            torch.testing.assert_close(two[net][k], one[net][k], rtol=2e-4, atol=2e-5, msg=f"{net}.{k}")
    # the optimizers really stepped (not a comparison of two untouched initialisations)
    assert one["G_opt"]["state"] and one["D_opt"]["state"]
    # only rank 0 wrote files, and the logged losses are the global ones
    log_one = [json.loads(x) for x in (tmp_path / "one" / "log.jsonl").read_text().splitlines()]
    log_two = [json.loads(x) for x in (tmp_path / "two" / "log.jsonl").read_text().splitlines()]
    losses = lambda log: [v for r in log if "d_loss" in r for v in (r["d_loss"], r["g_loss"])]  # noqa: E731
    assert len(losses(log_one)) == 4 and not (tmp_path / "two" / ".rank-1").exists()
    assert losses(log_two) == pytest.approx(losses(log_one), rel=1e-3, abs=1e-4)
    # and a resumed 2-process run continues from the checkpoint
    _run(["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
          "-m", "ganzoo", "train", str(cfg), "--out", str(tmp_path / "two"), "--resume",
          "--set", "train.g_steps=4", "--quiet"])
    assert checkpoint.load(tmp_path / "two" / "checkpoint.pt")["step"] == 4


def test_cross_replica_bn_is_plain_bn_in_one_process():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    ref = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    ref.load_state_dict(net.state_dict())
    convert_batchnorm(net, torch.device("cpu"))
    assert isinstance(net[1], CrossReplicaBatchNorm)
    x = torch.randn(8, 3, 6, 6)
    torch.testing.assert_close(net(x), ref(x))
    torch.testing.assert_close(net[1].running_var, ref[1].running_var)


def test_world_shards_and_checks_divisibility():
    w = World(rank=1, size=2)
    assert w.shard(torch.arange(8)).tolist() == [4, 5, 6, 7]
    with pytest.raises(Exception, match="not divisible"):
        w.check_batch(7)
