"""The built-in regularizers (plugins/ganzoo_regularizers), checked against hand computations.

With a linear critic ``D(x) = <w, x>`` the input gradient is ``w`` for every sample, so the penalties
have closed forms in ``||w||``; with ``D(x) = 0.5 ||x||^2`` the gradient is ``x`` itself, so WGAN-GP
depends on the interpolation weights, which the test recomputes from the same torch seed.
"""

from __future__ import annotations

import contextlib
import math

import pydantic
import pytest
import torch
from torch import nn

import ganzoo_regularizers
from ganzoo import RegContext, RegularizerSpec
from ganzoo.registry import Registry
from ganzoo_regularizers.penalties import (
    DriftParams,
    R1Params,
    WGANGPParams,
    drift_from_logits,
    drift_penalty,
    gradient_norms,
    gradient_penalty,
    interpolate,
    r1_from_gradients,
    r1_penalty,
    sample_alpha,
    wgan_gp_penalty,
)

# w = (1, 2, 2, 4): ||w|| = 5 exactly, and every entry is exact in bf16
W5 = [1.0, 2.0, 2.0, 4.0]
# ||w|| = 500, for PGGAN's target 750
W500 = [300.0, 400.0, 0.0, 0.0]


class LinearD(nn.Module):
    """D(x) = <w, x> over the flattened image (4 values per image: shape [N, 1, 2, 2])."""

    def __init__(self, w: list[float]):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))
        self.seen_y: list = []

    def forward(self, x, y=None):
        self.seen_y.append(y)
        return x.flatten(1) @ self.w


class LinearLayerD(nn.Module):
    """The same critic through nn.Linear, so CPU autocast runs it in bf16."""

    def __init__(self, w: list[float]):
        super().__init__()
        self.fc = nn.Linear(len(w), 1, bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([w]))

    def forward(self, x, y=None):
        return self.fc(x.flatten(1)).squeeze(1)


class ClassLinearD(nn.Module):
    """Conditional linear critic: D(x, y) = <w_y, x>, one w per class."""

    def __init__(self, ws: list[list[float]]):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(ws))

    def forward(self, x, y=None):
        assert y is not None, "a conditional D needs labels"
        return (x.flatten(1) * self.w[y]).sum(1)


class QuadraticD(nn.Module):
    """D(x) = 0.5 * scale * ||x||^2, whose input gradient is scale * x."""

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(scale))

    def forward(self, x, y=None):
        return 0.5 * self.scale * x.flatten(1).pow(2).sum(1)


def make_ctx(D, real, fake, *, y_real=None, y_fake=None, d_real=None, d_fake=None,
             autocast=contextlib.nullcontext) -> RegContext:
    n = real.shape[0]
    return RegContext(
        D=D, G=nn.Identity(), real=real, fake=fake, y_real=y_real, y_fake=y_fake,
        d_real=d_real, d_fake=d_fake if d_fake is not None else torch.zeros(n),
        step=0, autocast=autocast,
    )


def images(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32).reshape(len(rows), 1, 2, 2)


REAL = images([[1.0, 0.0, -1.0, 2.0], [0.5, 0.5, 0.5, 0.5], [-1.0, -1.0, 0.0, 3.0]])
FAKE = images([[0.0, 1.0, 1.0, -2.0], [-0.5, 0.25, 1.0, 0.0], [2.0, -1.0, 0.5, 0.5]])


def specs() -> dict[str, RegularizerSpec]:
    return {s.name: s for s in ganzoo_regularizers.register_regularizers()}


# -- registration and params ---------------------------------------------------------------------


def test_registered_names_targets_params():
    s = specs()
    assert sorted(s) == ["drift", "r1", "wgan-gp"]
    assert all(spec.target == "d" for spec in s.values())
    assert s["wgan-gp"].params is WGANGPParams and s["wgan-gp"].penalty is wgan_gp_penalty
    assert s["r1"].params is R1Params and s["r1"].penalty is r1_penalty
    assert s["drift"].params is DriftParams and s["drift"].penalty is drift_penalty
    reg = Registry()
    reg.register_plugin(ganzoo_regularizers, "ganzoo_regularizers", "-", "test")
    reg.collect()
    assert reg.names("regularizers") == ["drift", "r1", "wgan-gp"]


def test_param_defaults_and_validation():
    p = WGANGPParams()
    assert (p.weight, p.target, p.eps) == (10.0, 1.0, 0.0)
    assert R1Params().gamma == 10.0
    assert DriftParams().weight == 0.001
    bad = [
        (WGANGPParams, {"weight": -1.0}),
        (WGANGPParams, {"target": 0.0}),
        (WGANGPParams, {"target": -750.0}),
        (WGANGPParams, {"eps": -1e-4}),
        (WGANGPParams, {"weight": float("nan")}),
        (WGANGPParams, {"lambda": 10.0}),
        (R1Params, {"gamma": -0.1}),
        (R1Params, {"weight": 1.0}),
        (DriftParams, {"weight": -0.001}),
    ]
    for model, kwargs in bad:
        with pytest.raises(pydantic.ValidationError):
            model(**kwargs)
    # zero weights are allowed (the penalty is then switched off)
    WGANGPParams(weight=0.0), R1Params(gamma=0.0), DriftParams(weight=0.0)


# -- pure helpers --------------------------------------------------------------------------------


def test_gradient_penalty_helper_by_hand():
    grad = torch.tensor([[3.0, 4.0], [0.0, 0.0]])  # norms 5 and 0
    assert gradient_norms(grad).tolist() == [5.0, 0.0]
    # 10 * mean((5-1)^2, (0-1)^2) = 10 * 17 / 2
    assert math.isclose(float(gradient_penalty(grad)), 85.0, rel_tol=1e-6)
    # eps inside the sqrt: sqrt(1e-4 + 25), sqrt(1e-4)
    expected = 10 * ((math.sqrt(25 + 1e-4) - 1) ** 2 + (math.sqrt(1e-4) - 1) ** 2) / 2
    assert math.isclose(float(gradient_penalty(grad, eps=1e-4)), expected, rel_tol=1e-6)
    # target gamma: weight / gamma^2 * mean (norm - gamma)^2
    expected = 2.0 / 4.0**2 * ((5 - 4) ** 2 + (0 - 4) ** 2) / 2
    assert math.isclose(float(gradient_penalty(grad, weight=2.0, target=4.0)), expected, rel_tol=1e-6)


def test_interpolate_and_alpha():
    real, fake = torch.zeros(2, 1, 2, 2), torch.ones(2, 1, 2, 2)
    x = interpolate(real, fake, torch.tensor([0.25, 1.0]))
    assert x[0].unique().tolist() == [0.25] and x[1].unique().tolist() == [1.0]
    torch.manual_seed(3)
    a = sample_alpha(5)
    torch.manual_seed(3)
    assert torch.equal(a, torch.rand(5))
    assert a.dtype == torch.float32 and a.shape == (5,)


def test_r1_and_drift_helpers_by_hand():
    grad = torch.tensor([[1.0, 2.0], [3.0, 0.0]])  # squared norms 5 and 9
    assert math.isclose(float(r1_from_gradients(grad, gamma=4.0)), 4.0 / 2 * (5 + 9) / 2)
    assert math.isclose(float(drift_from_logits(torch.tensor([1.0, -2.0, 3.0]), weight=0.5)),
                        0.5 * (1 + 4 + 9) / 3, rel_tol=1e-6)


# -- wgan-gp -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "w, norm, weight, target, eps",
    [
        (W5, 5.0, 10.0, 1.0, 0.0),       # Gulrajani: 10 * (5 - 1)^2 = 160
        (W5, 5.0, 10.0, 1.0, 1e-4),      # compare_gan's eps inside the sqrt
        (W500, 500.0, 10.0, 750.0, 0.0),  # PGGAN CIFAR-10: 10/750^2 * (500 - 750)^2
        (W5, 5.0, 3.0, 2.0, 0.0),
    ],
)
def test_wgan_gp_linear_critic_closed_form(w, norm, weight, target, eps):
    D = LinearD(w)
    p = WGANGPParams(weight=weight, target=target, eps=eps)
    pen = wgan_gp_penalty(make_ctx(D, REAL, FAKE), p)
    slope = math.sqrt(eps + norm**2)
    expected = weight / target**2 * (slope - target) ** 2
    assert pen.shape == () and pen.dtype == torch.float32
    assert math.isclose(float(pen.detach()), expected, rel_tol=1e-5)
    # the penalty trains D (create_graph=True): d/dw = 2 weight/target^2 (slope - target) w / slope
    pen.backward()
    w_t = torch.tensor(w)
    expected_grad = 2 * weight / target**2 * (slope - target) * w_t / slope
    assert torch.allclose(D.w.grad, expected_grad, rtol=1e-5)


def test_wgan_gp_known_values():
    D = LinearD(W5)
    assert float(wgan_gp_penalty(make_ctx(D, REAL, FAKE), WGANGPParams()).detach()) == pytest.approx(160.0)
    pggan = WGANGPParams(target=750.0)
    expected = 10.0 / 750**2 * (500.0 - 750.0) ** 2  # = 10/9
    got = wgan_gp_penalty(make_ctx(LinearD(W500), REAL, FAKE), pggan)
    assert float(got.detach()) == pytest.approx(expected, rel=1e-6)


def test_wgan_gp_each_param_changes_the_value():
    def value(**kw):
        return float(wgan_gp_penalty(make_ctx(LinearD(W5), REAL, FAKE), WGANGPParams(**kw)).detach())

    base = value()
    assert value(weight=5.0) == pytest.approx(base / 2)
    assert value(target=2.0) != pytest.approx(base)
    assert value(target=2.0) == pytest.approx(10.0 / 4.0 * (5.0 - 2.0) ** 2)
    assert value(eps=1e-2) != base
    assert value(weight=0.0) == 0.0


def test_wgan_gp_quadratic_critic_depends_on_alpha():
    # D(x) = 0.5 ||x||^2 -> grad at x_hat is x_hat, so slopes are ||real + alpha (fake - real)||
    weight, target = 10.0, 1.0
    torch.manual_seed(1234)
    pen = wgan_gp_penalty(make_ctx(QuadraticD(), REAL, FAKE), WGANGPParams(weight=weight, target=target))
    torch.manual_seed(1234)
    alpha = torch.rand(REAL.shape[0]).tolist()
    r, f = REAL.flatten(1).tolist(), FAKE.flatten(1).tolist()
    terms = []
    for a, ri, fi in zip(alpha, r, f):
        x_hat = [rv + a * (fv - rv) for rv, fv in zip(ri, fi)]
        slope = math.sqrt(sum(v * v for v in x_hat))
        terms.append((slope - target) ** 2)
    expected = weight / target**2 * sum(terms) / len(terms)
    assert float(pen.detach()) == pytest.approx(expected, rel=1e-5)
    # a different seed gives different alphas and a different value
    torch.manual_seed(99)
    other = wgan_gp_penalty(make_ctx(QuadraticD(), REAL, FAKE), WGANGPParams())
    assert float(other.detach()) != pytest.approx(expected, rel=1e-5)


def test_wgan_gp_consumes_the_global_rng_once_per_sample():
    torch.manual_seed(7)
    wgan_gp_penalty(make_ctx(LinearD(W5), REAL, FAKE), WGANGPParams())
    after = torch.rand(1)
    torch.manual_seed(7)
    torch.rand(REAL.shape[0])
    assert torch.equal(after, torch.rand(1))


def test_wgan_gp_uses_real_labels_for_the_interpolates():
    # class 0 has ||w|| = 5, class 1 has ||w|| = 2; reals are labelled (0, 1, 1), fakes (1, 0, 0)
    D = ClassLinearD([W5, [0.0, 2.0, 0.0, 0.0]])
    y_real, y_fake = torch.tensor([0, 1, 1]), torch.tensor([1, 0, 0])
    pen = wgan_gp_penalty(make_ctx(D, REAL, FAKE, y_real=y_real, y_fake=y_fake), WGANGPParams())
    expected = 10.0 * ((5 - 1) ** 2 + (2 - 1) ** 2 + (2 - 1) ** 2) / 3
    assert float(pen.detach()) == pytest.approx(expected)
    # unconditional: D is called without labels
    D = LinearD(W5)
    wgan_gp_penalty(make_ctx(D, REAL, FAKE), WGANGPParams())
    assert D.seen_y == [None]


def test_wgan_gp_does_not_backprop_into_the_images():
    real = REAL.clone().requires_grad_(True)
    fake = FAKE.clone().requires_grad_(True)
    D = LinearD(W5)
    wgan_gp_penalty(make_ctx(D, real, fake), WGANGPParams()).backward()
    assert real.grad is None and fake.grad is None
    assert D.w.grad is not None


def test_wgan_gp_zero_gradient_stays_finite():
    # D with w = 0: slopes are 0, penalty = weight * target^2 / target^2 = weight; no NaN in backward
    D = LinearD([0.0, 0.0, 0.0, 0.0])
    pen = wgan_gp_penalty(make_ctx(D, REAL, FAKE), WGANGPParams())
    assert float(pen.detach()) == pytest.approx(10.0)
    pen.backward()
    assert torch.isfinite(D.w.grad).all()


def test_wgan_gp_runs_d_under_autocast_and_reduces_in_float32():
    calls = []

    def autocast():
        calls.append(1)
        return torch.autocast("cpu", dtype=torch.bfloat16)

    D = LinearLayerD(W5)
    ctx = make_ctx(D, REAL, FAKE, autocast=autocast)
    pen = wgan_gp_penalty(ctx, WGANGPParams())
    assert calls == [1]
    assert pen.dtype == torch.float32
    # w is exact in bf16 and D is linear, so the gradient (hence the penalty) is exact
    assert float(pen.detach()) == pytest.approx(160.0)
    # and the same for R1: 10/2 * 25
    assert float(r1_penalty(ctx, R1Params()).detach()) == pytest.approx(125.0)
    assert calls == [1, 1]


# -- r1 ------------------------------------------------------------------------------------------


def test_r1_linear_critic_closed_form():
    D = LinearD(W5)
    pen = r1_penalty(make_ctx(D, REAL, FAKE), R1Params(gamma=10.0))
    assert pen.dtype == torch.float32 and pen.shape == ()
    assert float(pen.detach()) == pytest.approx(10.0 / 2 * 25.0)
    # trains D: d/dw gamma/2 ||w||^2 = gamma w
    pen.backward()
    assert torch.allclose(D.w.grad, 10.0 * torch.tensor(W5))
    # gamma changes the value linearly
    assert float(r1_penalty(make_ctx(LinearD(W5), REAL, FAKE), R1Params(gamma=1.0)).detach()) == pytest.approx(12.5)
    assert float(r1_penalty(make_ctx(LinearD(W5), REAL, FAKE), R1Params(gamma=0.0)).detach()) == 0.0


def test_r1_quadratic_critic_uses_the_reals_only():
    # D(x) = 0.5 ||x||^2: grad at the reals is the reals -> gamma/2 * mean ||real_i||^2
    gamma = 4.0
    sq = [sum(v * v for v in row) for row in REAL.flatten(1).tolist()]  # 6, 1, 11
    expected = gamma / 2 * sum(sq) / len(sq)
    pen = r1_penalty(make_ctx(QuadraticD(), REAL, FAKE * 100), R1Params(gamma=gamma))
    assert float(pen.detach()) == pytest.approx(expected)
    assert expected == pytest.approx(2.0 * 6.0)


def test_r1_uses_real_labels_draws_no_rng_and_keeps_images_out():
    D = ClassLinearD([W5, [0.0, 2.0, 0.0, 0.0]])
    real = REAL.clone().requires_grad_(True)
    torch.manual_seed(5)
    pen = r1_penalty(make_ctx(D, real, FAKE, y_real=torch.tensor([0, 1, 1])), R1Params(gamma=2.0))
    after = torch.rand(1)
    torch.manual_seed(5)
    assert torch.equal(after, torch.rand(1))
    assert float(pen.detach()) == pytest.approx(2.0 / 2 * (25 + 4 + 4) / 3)
    pen.backward()
    assert real.grad is None


# -- drift ---------------------------------------------------------------------------------------


def test_drift_by_hand():
    d_real = torch.tensor([1.0, -2.0, 3.0])
    D = LinearD(W5)
    ctx = make_ctx(D, REAL, FAKE, d_real=d_real)
    assert float(drift_penalty(ctx, DriftParams())) == pytest.approx(0.001 * 14.0 / 3)
    assert float(drift_penalty(ctx, DriftParams(weight=0.5))) == pytest.approx(0.5 * 14.0 / 3)
    assert D.seen_y == []  # no extra forward pass


def test_drift_gradient_and_dtype():
    d_real = torch.tensor([1.0, -2.0, 3.0], dtype=torch.bfloat16, requires_grad=True)
    pen = drift_penalty(make_ctx(LinearD(W5), REAL, FAKE, d_real=d_real), DriftParams(weight=0.3))
    assert pen.dtype == torch.float32
    pen.backward()
    # d/dt weight * mean t^2 = 2 weight t / N
    assert torch.allclose(d_real.grad.float(), 2 * 0.3 * torch.tensor([1.0, -2.0, 3.0]) / 3, rtol=1e-2)


def test_drift_needs_d_real():
    with pytest.raises(ValueError, match="d_real"):
        drift_penalty(make_ctx(LinearD(W5), REAL, FAKE, d_real=None), DriftParams())
