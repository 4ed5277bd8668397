"""Write a real third-party plugin distribution into a directory, laid out the way pip installs one.

The package module and a ``<name>-<version>.dist-info`` folder (METADATA, entry_points.txt, RECORD,
INSTALLER) are written side by side; putting the directory on ``sys.path`` (or PYTHONPATH) makes
``importlib.metadata`` see the distribution and its ``ganzoo`` entry point, exactly as after
``pip install``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

SCALED_HINGE_PLUGIN = '''
"""A third-party loss plugin: hinge with a scale on the generator loss."""
import torch
from ganzoo import LossSpec, Params, hookimpl


class ScaledHingeParams(Params):
    scale: float = 2.0


def d_loss(d_real, d_fake, p):
    return torch.relu(1 - d_real).mean() + torch.relu(1 + d_fake).mean()


def g_loss(d_fake, p):
    return -p.scale * d_fake.mean()


@hookimpl
def register_losses():
    return [LossSpec(name="scaled-hinge", d_loss=d_loss, g_loss=g_loss, params=ScaledHingeParams,
                     description="hinge, generator loss scaled")]
'''


def make_dist(root: Path, dist: str = "ganzoo-scaled-hinge", module: str = "ganzoo_scaled_hinge",
              version: str = "0.3.1", source: str = SCALED_HINGE_PLUGIN, ep_name: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[ganzoo]\n{ep_name or module} = {module}\n")
    (info / "INSTALLER").write_text("pip\n")
    (info / "RECORD").write_text(f"{module}.py,,\n{info.name}/METADATA,,\n")
    return root
