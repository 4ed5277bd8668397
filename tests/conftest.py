"""Shared fixtures: built-in plugins only (no autoload), a fresh registry, tiny run configs."""

from __future__ import annotations

import os

os.environ["GANZOO_DISABLE_PLUGIN_AUTOLOAD"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402

from ganzoo.config import resolve  # noqa: E402
from ganzoo.registry import load_registry  # noqa: E402

# One thread keeps timings stable and results reproducible on the 2-core CI machine.
torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    """Start the longest tests first: with ``-n 2`` a long test that starts last decides when the
    whole run ends. ``@pytest.mark.slow(seconds=N)`` is the hint (N: about how long on CI)."""

    def expected(item) -> float:
        mark = item.get_closest_marker("slow")
        return mark.kwargs.get("seconds", 30) if mark else 0

    items.sort(key=expected, reverse=True)  # stable: otherwise the collection order


@pytest.fixture(scope="session")
def registry():
    return load_registry(autoload=False)


def tiny_raw(**over) -> dict:
    """A tiny but real run: self-modulated SNDCGAN on 8x8 scikit-learn digits."""
    raw = {
        "name": "tiny",
        "data": {"name": "digits", "resolution": 8},
        "model": {"name": "sndcgan", "params": {"width": 0.0625, "g_norm": "selfmod", "z_dim": 16}},
        "loss": {"name": "hinge"},
        "train": {"g_steps": 6, "batch_size": 16, "n_disc": 2, "seed": 3},
        "ema": {"enabled": True, "decay": 0.9, "start": 2},
        "log": {"log_every": 2, "sample_every": 3, "checkpoint_every": 3, "n_samples": 4},
    }
    for key, value in over.items():
        raw[key] = value
    return raw


@pytest.fixture
def tiny_cfg(registry):
    return resolve(tiny_raw(), registry)
