"""The command line: train, resume after SIGKILL, sample, plugins, and one-line user errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from ganzoo import checkpoint
from ganzoo.cli import main
from ganzoo.config import load_config
from ganzoo.train import train
from test_trainer import assert_same_state

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "benchmarks" / "configs" / "selfmod-sndcgan-mnist.toml"
TINY = ["--set", "data.name=digits", "--set", "data.resolution=8", "--set", "model.params.width=0.0625",
        "--set", "train.batch_size=16", "--set", "log.n_samples=4", "--set", "fast.threads=1",
        "--set", "fast.bf16=false", "--set", "fast.channels_last=false"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganzoo.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def test_train_then_sample(tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    res = runner.invoke(main, ["train", str(CONFIG), *TINY, "--set", "train.g_steps=4",
                               "--set", "train.latent=normal", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "finished: 4 G steps" in res.output
    png = tmp_path / "s.png"
    res = runner.invoke(main, ["sample", str(out / "checkpoint.pt"), "--n", "6", "--nrow", "3",
                               "--out", str(png), "--seed", "1"])
    assert res.exit_code == 0, res.output
    img = Image.open(png)
    # 3 x 2 tiles of 8 px enlarged 8x, with 1 px borders before enlarging.
    assert img.size == ((3 * 9 + 1) * 8, (2 * 9 + 1) * 8)
    # Same seed, same images; another seed, other images.
    again, other = tmp_path / "a.png", tmp_path / "o.png"
    runner.invoke(main, ["sample", str(out), "--n", "6", "--nrow", "3", "--out", str(again), "--seed", "1"])
    runner.invoke(main, ["sample", str(out), "--n", "6", "--nrow", "3", "--out", str(other), "--seed", "2"])
    assert again.read_bytes() == png.read_bytes() != other.read_bytes()
    # Truncation and standing statistics change the images; the same options reproduce them.
    trunc, trunc2 = tmp_path / "t.png", tmp_path / "t2.png"
    for path in (trunc, trunc2):
        res = runner.invoke(main, ["sample", str(out), "--n", "6", "--nrow", "3", "--out", str(path),
                                   "--seed", "1", "--truncation", "0.3", "--bn", "standing"])
        assert res.exit_code == 0, res.output
    assert trunc.read_bytes() == trunc2.read_bytes() != png.read_bytes()


def test_dry_run_prints_resolved_config():
    res = CliRunner().invoke(main, ["train", str(CONFIG), "--set", "model.params.g_norm=bn", "--dry-run"])
    assert res.exit_code == 0
    cfg = json.loads(res.output)
    assert cfg["model"]["params"]["g_norm"] == "bn" and cfg["model"]["params"]["selfmod_hidden"] == 32


@pytest.mark.parametrize("args, message", [
    (["train", "missing.toml"], "config file not found"),
    (["train", str(CONFIG), "--set", "train.g_steps=-1"], "train.g_steps: Input should be greater than or equal to 1"),
    (["train", str(CONFIG), "--set", "loss.name=nope"], "loss.name: unknown loss 'nope'; available:"),
    (["sample", "nowhere/checkpoint.pt", "--out", "x.png"], "checkpoint not found"),
])
def test_user_errors_are_one_line(args, message):
    res = run_cli(*args)
    assert res.returncode == 2
    assert message in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_sample_rejects_a_non_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"x": 1}, bad)
    res = CliRunner().invoke(main, ["sample", str(bad), "--out", str(tmp_path / "x.png")])
    assert res.exit_code == 2 and "not a ganzoo checkpoint" in res.output


def test_plugins_lists_builtins():
    res = CliRunner().invoke(main, ["plugins"])
    assert res.exit_code == 0
    assert "ganzoo_selfmod 0.1.0 (built-in)" in res.output
    assert "architectures: resnet, sndcgan" in res.output
    data = json.loads(CliRunner().invoke(main, ["plugins", "--json"]).output)
    assert {p["name"] for p in data} >= {"ganzoo_losses", "ganzoo_datasets"}


def test_help_shows_runnable_examples():
    for cmd in ("train", "sample", "plugins"):
        res = CliRunner().invoke(main, [cmd, "--help"])
        assert res.exit_code == 0 and "Example" in res.output and "ganzoo " + cmd in res.output


@pytest.mark.slow
def test_resume_after_sigkill_continues_exactly(tmp_path, registry):
    args = [*TINY, "--set", "train.g_steps=40", "--set", "log.checkpoint_every=5",
            "--set", "log.sample_every=0"]
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "ganzoo.cli", "train", str(CONFIG), *args,
                             "--out", str(out), "--quiet"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ckpt = out / "checkpoint.pt"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists() and checkpoint.load(ckpt)["step"] >= 10:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = checkpoint.load(ckpt)["step"]
    assert 10 <= killed_at < 40

    res = run_cli("train", str(CONFIG), *args, "--out", str(out), "--resume", "--quiet")
    assert res.returncode == 0, res.stderr

    cfg = load_config(CONFIG, [a for a in args if a != "--set"], registry)
    train(cfg, tmp_path / "straight", registry=registry, progress=False)
    assert_same_state(checkpoint.load(tmp_path / "straight" / "checkpoint.pt"), checkpoint.load(ckpt))


def _one_line_error(res: subprocess.CompletedProcess, *parts: str) -> None:
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    for part in parts:
        assert part in res.stderr, res.stderr


def test_resume_errors_extension_and_stale_temporary_files(tmp_path):
    args = ["train", str(CONFIG), *TINY, "--set", "log.sample_every=0", "--quiet"]
    out = tmp_path / "run"
    first = run_cli(*args, "--set", "train.g_steps=2", "--out", str(out))
    assert first.returncode == 0, first.stderr

    # --resume where there is no run: an error, not a silent fresh start.
    empty = tmp_path / "empty"
    _one_line_error(run_cli(*args, "--set", "train.g_steps=1", "--out", str(empty), "--resume"),
                    "holds no run", str(empty))
    assert not empty.exists()

    # Killed atomic writes left temporary files: the next start of the run removes them.
    stale = [out / ".checkpoint.pt.k2x9_a.tmp", out / ".status.json.q81zz0.tmp"]
    for path in stale:
        path.write_bytes(b"partial")
    longer = run_cli(*args, "--set", "train.g_steps=4", "--out", str(out), "--resume")
    assert longer.returncode == 0, longer.stderr
    assert "extending from 2 to 4 G steps" in longer.stderr.splitlines()
    assert not any(p.exists() for p in stale)
    assert checkpoint.load(out / "checkpoint.pt")["step"] == 4

    # Same config, weights of the wrong shape: one line naming the tensor and both shapes.
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    name = next(k for k, v in state["G"].items() if v.dim() == 4)
    right = tuple(state["G"][name].shape)
    state["G"][name] = torch.zeros(right[0] + 1, *right[1:])
    torch.save(state, out / "checkpoint.pt")
    _one_line_error(run_cli(*args, "--set", "train.g_steps=4", "--out", str(out), "--resume"),
                    f"G.{name}", str((right[0] + 1, *right[1:])), str(right))


def test_finish_by_takes_a_clock_time_or_a_duration():
    import time

    from ganzoo.cli import _parse_finish_by
    from ganzoo.errors import GanzooError

    now = time.mktime((2026, 12, 3, 15, 40, 0, 0, 0, -1))
    assert _parse_finish_by("2h30m", now) == now + 9000
    assert _parse_finish_by("90m", now) == now + 5400 and _parse_finish_by("45s", now) == now + 45
    assert _parse_finish_by("18:20", now) == now + (2 * 60 + 40) * 60
    assert _parse_finish_by("15:00", now) == now + (23 * 60 + 20) * 60  # passed today: tomorrow's
    for bad in ("", "soon", "25:00", "18:61", "2h30", "-1h"):
        with pytest.raises(GanzooError, match="--finish-by"):
            _parse_finish_by(bad, now)
