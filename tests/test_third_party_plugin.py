"""A real third-party plugin, installed the way pip lays it out, registers a loss ganzoo trains with."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fakedist import make_dist

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "benchmarks" / "configs" / "selfmod-sndcgan-mnist.toml"


def _run(site: Path, *args: str, autoload: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    env.pop("GANZOO_DISABLE_PLUGIN_AUTOLOAD", None)
    if not autoload:
        env["GANZOO_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return subprocess.run([sys.executable, "-m", "ganzoo.cli", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=300)


def test_third_party_loss_trains(tmp_path):
    site = make_dist(tmp_path / "site")
    listed = _run(site, "plugins")
    assert listed.returncode == 0, listed.stderr
    assert "ganzoo_scaled_hinge 0.3.1 (entry point ganzoo-scaled-hinge==0.3.1)" in listed.stdout
    assert "losses: scaled-hinge" in listed.stdout

    out = tmp_path / "run"
    res = _run(site, "train", str(CONFIG), "--set", "loss.name=scaled-hinge",
               "--set", "loss.params.scale=3.0", "--set", "data.name=digits",
               "--set", "data.resolution=8", "--set", "model.params.width=0.0625",
               "--set", "train.g_steps=3", "--set", "train.batch_size=16",
               "--set", "fast.bf16=false", "--out", str(out), "--quiet")
    assert res.returncode == 0, res.stderr
    assert '"name": "scaled-hinge"' in (out / "config.json").read_text()
    assert '"scale": 3.0' in (out / "config.json").read_text()

    # With autoload off, the same config names an unknown loss.
    off = _run(site, "train", str(CONFIG), "--set", "loss.name=scaled-hinge", "--dry-run",
               autoload=False)
    assert off.returncode == 2 and "unknown loss 'scaled-hinge'" in off.stderr


def test_a_plugin_that_raises_on_import_breaks_no_command(tmp_path):
    site = make_dist(tmp_path / "site")
    make_dist(site, dist="ganzoo-broken", module="ganzoo_broken", version="1.0",
              source="raise ImportError('No module named tensorflow')\n")
    listed = _run(site, "plugins")
    assert listed.returncode == 0, listed.stderr
    assert "ganzoo_broken 1.0 (entry point ganzoo-broken==1.0)" in listed.stdout
    assert "BROKEN" in listed.stdout and "No module named tensorflow" in listed.stdout
    assert "losses: scaled-hinge" in listed.stdout  # the healthy third-party plugin still loads
    warning = [ln for ln in listed.stderr.splitlines() if "ganzoo_broken" in ln]
    assert len(warning) == 1 and "GANZOO_DISABLE_PLUGIN_AUTOLOAD=1" in warning[0]
    assert "ganzoo-broken==1.0" in warning[0] and "Traceback" not in listed.stderr

    dry = _run(site, "train", str(CONFIG), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    quiet = _run(site, "plugins", autoload=False)
    assert quiet.returncode == 0 and "ganzoo_broken" not in quiet.stdout + quiet.stderr
