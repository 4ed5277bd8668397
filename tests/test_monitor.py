"""ganzoo.monitor: warm-started top singular values, the Figure-3 plot and the collapse rule."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ganzoo.monitor import (
    detect_collapse,
    plot_singular_values,
    top_singular_values,
    weight_matrices,
)


def _net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(40, 30), nn.ReLU(), nn.Conv2d(8, 16, 3), nn.Embedding(10, 24))
    net[2] = spectral_norm(net[2])
    with torch.no_grad():
        net[2].parametrizations.weight.original.mul_(5.0)  # raw sigma far from the normalised 1
    return net


def _exact(net) -> dict[str, torch.Tensor]:
    return {n: torch.linalg.svdvals(p.detach().reshape(p.shape[0], -1))
            for n, p in weight_matrices(net).items()}


def test_weight_matrices_names_and_raw_weights():
    net = _net()
    mats = weight_matrices(net)
    assert sorted(mats) == ["0.weight", "2.weight", "3.weight"]  # no biases, SN by layer path
    assert mats["2.weight"] is net[2].parametrizations.weight.original
    assert torch.linalg.matrix_norm(mats["2.weight"].reshape(16, -1), 2) > 3  # not the SN'd ~1


def test_warm_started_power_iteration_converges_to_the_spectral_norm():
    net = _net()
    exact = _exact(net)
    state: dict = {}
    first = top_singular_values(net, n_iter=2, state=state, cold_iter=2)
    errors = [abs(first[n][0] - float(exact[n][0])) / float(exact[n][0]) for n in exact]
    assert max(errors) > 1e-3  # two iterations are not enough on their own ...
    assert sorted(state) == sorted(exact) and all(v.shape[1] == 1 for v in state.values())
    for _ in range(40):  # ... but the persisted vectors keep improving from call to call
        out = top_singular_values(net, n_iter=2, state=state)
    for name, w in weight_matrices(net).items():
        ref = float(torch.linalg.matrix_norm(w.detach().reshape(w.shape[0], -1), 2))
        assert out[name][0] == pytest.approx(ref, rel=1e-3), name
    # Without the state, the same number of calls would not have got there.
    cold = top_singular_values(net, n_iter=2, cold_iter=2)
    assert any(abs(cold[n][0] - float(exact[n][0])) / float(exact[n][0]) > 1e-3 for n in exact)


def test_top_k_singular_values():
    net = _net()
    exact = _exact(net)
    state: dict = {}
    for _ in range(20):
        out = top_singular_values(net, n_iter=5, k=3, state=state)
    for name, s in exact.items():
        assert len(out[name]) == 3
        torch.testing.assert_close(torch.tensor(out[name]), s[:3].float(), rtol=1e-3, atol=0)


def _records(jump_at: int | None = None, nan_at: int | None = None, steps=range(0, 10_000, 500)):
    recs = []
    for t, step in enumerate(steps):
        g = {"linear.weight": 2.0 * 1.02 ** t, "blocks.0.conv1.weight": 1.0 + 0.01 * t}
        if jump_at is not None and step >= jump_at:
            g["linear.weight"] *= 3.0 * (1 + 0.5 * (step - jump_at) / 500)  # jump, then growth
        if nan_at is not None and step == nan_at:
            g["blocks.0.conv1.weight"] = math.nan
        d = {"blocks.0.conv1.weight": 5.0 + (0.5 if t % 2 else -0.5)}  # noisy but bounded
        recs.append({"step": step, "G": g, "D": d})
    return recs


def test_detect_collapse():
    assert detect_collapse(_records()) is None  # slow growth is not collapse
    assert detect_collapse(_records(jump_at=6000)) == 6000
    assert detect_collapse(list(reversed(_records(jump_at=6000)))) == 6000  # order-independent
    assert detect_collapse(_records(nan_at=2500)) == 2500
    assert detect_collapse(_records(jump_at=6000), min_step=6500) is None  # jump is before
    assert detect_collapse(_records(jump_at=6000), factor=20) is None
    assert detect_collapse(_records(), net="D") is None
    assert detect_collapse(_records(), net="D", factor=1.2) == 500  # 4.5 -> 5.5
    with pytest.raises(ValueError):
        detect_collapse(_records(), factor=1.0)
    # Lists, as top_singular_values returns them, are read as sigma_0.
    listy = [{"step": r["step"], "G": {k: [v, 0.1] for k, v in r["G"].items()}} for r in _records(6000)]
    assert detect_collapse(listy) == 6000


def test_plot_singular_values(tmp_path):
    path = plot_singular_values(_records(jump_at=6000), tmp_path / "sub" / "sv.png", title="run")
    assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    empty = plot_singular_values([], tmp_path / "empty.png")
    assert empty.exists()
