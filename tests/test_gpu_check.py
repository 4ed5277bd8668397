"""benchmarks/gpu/check.sh must run the first time a GPU is lent: its plumbing, dry-run on the CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_gpu_check_script_dry_run_on_cpu(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "DEVICE": "cpu", "BATCH": "2", "STEPS": "2",
           "SUITES": "selfmod-where", "WORK": str(tmp_path), "LIMIT": "300"}
    out = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu" / "check.sh")], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "selfmod-where: sndcgan on mnist 32px, batch 2" in out.stdout
    assert "selfmod-where 1 cpu: ok," in out.stdout  # trained 1 step, resumed to 2, printed s/step
    assert (tmp_path / "selfmod-where-1gpu" / "checkpoint.pt").exists()
