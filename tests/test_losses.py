"""The built-in losses (plugins/ganzoo_losses), checked against hand computations on explicit logits."""

from __future__ import annotations

import math

import pydantic
import pytest
import torch

import ganzoo_losses
from ganzoo import LossSpec, NoParams
from ganzoo.registry import Registry
from ganzoo_losses.losses import (
    LSGANParams,
    hinge_d_loss,
    hinge_g_loss,
    lsgan_d_loss,
    lsgan_g_loss,
    ns_d_loss,
    ns_g_loss,
    wgan_d_loss,
    wgan_g_loss,
)

D_REAL = [1.0, -2.0]
D_FAKE = [0.5, 3.0]


def softplus(t: float) -> float:
    return math.log(1.0 + math.exp(t))


def sigmoid(t: float) -> float:
    return 1.0 / (1.0 + math.exp(-t))


def logits(values: list[float], grad: bool = False) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32, requires_grad=grad)


def close(t: torch.Tensor, expected: float, tol: float = 1e-6) -> bool:
    return abs(float(t.detach()) - expected) <= tol * max(1.0, abs(expected))


def specs() -> dict[str, LossSpec]:
    return {s.name: s for s in ganzoo_losses.register_losses()}


# -- registration --------------------------------------------------------------------------------


def test_registered_names_and_params():
    s = specs()
    assert sorted(s) == ["hinge", "lsgan", "non-saturating", "wgan"]
    for name in ("hinge", "non-saturating", "wgan"):
        assert s[name].params is NoParams
    assert s["lsgan"].params is LSGANParams
    for spec in s.values():
        assert spec.description


def test_registry_collects_the_plugin():
    reg = Registry()
    reg.register_plugin(ganzoo_losses, "ganzoo_losses", "-", "test")
    reg.collect()
    assert reg.names("losses") == ["hinge", "lsgan", "non-saturating", "wgan"]
    assert reg.get("losses", "hinge").d_loss is hinge_d_loss


# -- non-saturating ------------------------------------------------------------------------------


def test_non_saturating_by_hand():
    # D = mean softplus(-d_real) + mean softplus(d_fake) = BCE(real, 1) + BCE(fake, 0)
    expected_d = (softplus(-1.0) + softplus(2.0)) / 2 + (softplus(0.5) + softplus(3.0)) / 2
    # written as BCE too: -log sigmoid(d_real) and -log(1 - sigmoid(d_fake))
    bce = (-math.log(sigmoid(1.0)) - math.log(sigmoid(-2.0))) / 2 + (
        -math.log(1 - sigmoid(0.5)) - math.log(1 - sigmoid(3.0))
    ) / 2
    assert math.isclose(expected_d, bce, rel_tol=1e-12)
    assert close(ns_d_loss(logits(D_REAL), logits(D_FAKE), NoParams()), expected_d)
    # G = mean softplus(-d_fake) = BCE(fake, 1)
    expected_g = (softplus(-0.5) + softplus(-3.0)) / 2
    assert close(ns_g_loss(logits(D_FAKE), NoParams()), expected_g)


def test_non_saturating_gradients():
    r, f = logits(D_REAL, grad=True), logits(D_FAKE, grad=True)
    ns_d_loss(r, f).backward()
    # d/dt softplus(-t) = -sigmoid(-t); d/dt softplus(t) = sigmoid(t); mean over N=2
    assert torch.allclose(r.grad, torch.tensor([-sigmoid(-1.0) / 2, -sigmoid(2.0) / 2]))
    assert torch.allclose(f.grad, torch.tensor([sigmoid(0.5) / 2, sigmoid(3.0) / 2]))
    f2 = logits(D_FAKE, grad=True)
    ns_g_loss(f2).backward()
    # non-saturating: G's gradient is large where D confidently rejects the fake
    assert torch.allclose(f2.grad, torch.tensor([-sigmoid(-0.5) / 2, -sigmoid(-3.0) / 2]))


def test_non_saturating_is_stable_for_large_logits():
    d = ns_d_loss(logits([100.0, -100.0]), logits([-100.0, 100.0]))
    assert torch.isfinite(d)
    assert close(d, 100.0 / 2 + 100.0 / 2, tol=1e-5)


# -- hinge ---------------------------------------------------------------------------------------


def test_hinge_by_hand():
    # relu(1 - 1) = 0, relu(1 + 2) = 3 -> 1.5 ; relu(1 + 0.5) = 1.5, relu(1 + 3) = 4 -> 2.75
    assert close(hinge_d_loss(logits(D_REAL), logits(D_FAKE), NoParams()), 1.5 + 2.75)
    assert close(hinge_g_loss(logits(D_FAKE), NoParams()), -(0.5 + 3.0) / 2)


def test_hinge_gradient_is_zero_where_margins_hold():
    # reals: 1.5 >= 1 satisfied, -2 not; fakes: -1.5 <= -1 satisfied, 3 not
    r, f = logits([1.5, -2.0], grad=True), logits([-1.5, 3.0], grad=True)
    loss = hinge_d_loss(r, f)
    assert close(loss, (0.0 + 3.0) / 2 + (0.0 + 4.0) / 2)
    loss.backward()
    assert r.grad.tolist() == [0.0, -0.5]
    assert f.grad.tolist() == [0.0, 0.5]
    # all margins satisfied: zero loss, zero gradient
    r, f = logits([2.0, 1.0], grad=True), logits([-3.0, -1.0], grad=True)
    loss = hinge_d_loss(r, f)
    loss.backward()
    assert float(loss.detach()) == 0.0
    assert r.grad.tolist() == [0.0, 0.0] and f.grad.tolist() == [0.0, 0.0]
    # G's loss is linear: gradient -1/N everywhere, margins or not
    f = logits([-1.5, 3.0], grad=True)
    hinge_g_loss(f).backward()
    assert f.grad.tolist() == [-0.5, -0.5]


# -- wgan ----------------------------------------------------------------------------------------


def test_wgan_by_hand():
    # mean d_fake - mean d_real = 1.75 - (-0.5) = 2.25
    assert close(wgan_d_loss(logits(D_REAL), logits(D_FAKE), NoParams()), 2.25)
    assert close(wgan_g_loss(logits(D_FAKE), NoParams()), -1.75)
    r, f = logits(D_REAL, grad=True), logits(D_FAKE, grad=True)
    wgan_d_loss(r, f).backward()
    assert r.grad.tolist() == [-0.5, -0.5] and f.grad.tolist() == [0.5, 0.5]


def test_wgan_is_shift_invariant_but_hinge_is_not():
    shift = 10.0
    r, f = logits(D_REAL), logits(D_FAKE)
    assert close(wgan_d_loss(r + shift, f + shift), float(wgan_d_loss(r, f)))
    assert not close(hinge_d_loss(r + shift, f + shift), float(hinge_d_loss(r, f)))


# -- lsgan ---------------------------------------------------------------------------------------


def test_lsgan_defaults_by_hand():
    p = LSGANParams()
    assert (p.a, p.b, p.c) == (0.0, 1.0, 1.0)
    # 0.5 * mean((1-1)^2, (-2-1)^2) + 0.5 * mean(0.5^2, 3^2) = 0.5*4.5 + 0.5*4.625
    expected_d = 0.5 * (0.0 + 9.0) / 2 + 0.5 * (0.25 + 9.0) / 2
    assert close(lsgan_d_loss(logits(D_REAL), logits(D_FAKE), p), expected_d)
    # 0.5 * mean((0.5-1)^2, (3-1)^2) = 0.5 * (0.25 + 4) / 2
    assert close(lsgan_g_loss(logits(D_FAKE), p), 0.5 * (0.25 + 4.0) / 2)
    # params may be left out when calling by hand
    assert close(lsgan_d_loss(logits(D_REAL), logits(D_FAKE)), expected_d)
    assert close(lsgan_g_loss(logits(D_FAKE)), 0.5 * (0.25 + 4.0) / 2)


def test_lsgan_custom_targets_and_gradients():
    # Mao et al.'s other choice: a=-1, b=1, c=0
    p = LSGANParams(a=-1.0, b=1.0, c=0.0)
    r, f = logits(D_REAL, grad=True), logits(D_FAKE, grad=True)
    loss = lsgan_d_loss(r, f, p)
    expected = 0.5 * ((1 - 1) ** 2 + (-2 - 1) ** 2) / 2 + 0.5 * ((0.5 + 1) ** 2 + (3 + 1) ** 2) / 2
    assert close(loss, expected)
    loss.backward()
    # d/dt 0.5 (t - target)^2 / N = (t - target) / N
    assert torch.allclose(r.grad, torch.tensor([0.0, -3.0 / 2]))
    assert torch.allclose(f.grad, torch.tensor([1.5 / 2, 4.0 / 2]))
    assert close(lsgan_g_loss(logits(D_FAKE), p), 0.5 * (0.25 + 9.0) / 2)
    # each target changes the value
    base_d = float(lsgan_d_loss(logits(D_REAL), logits(D_FAKE), LSGANParams()))
    base_g = float(lsgan_g_loss(logits(D_FAKE), LSGANParams()))
    assert float(lsgan_d_loss(logits(D_REAL), logits(D_FAKE), LSGANParams(a=0.3))) != base_d
    assert float(lsgan_d_loss(logits(D_REAL), logits(D_FAKE), LSGANParams(b=0.7))) != base_d
    assert float(lsgan_g_loss(logits(D_FAKE), LSGANParams(c=0.2))) != base_g


def test_lsgan_params_validation():
    with pytest.raises(pydantic.ValidationError):
        LSGANParams(d=1.0)
    with pytest.raises(pydantic.ValidationError):
        LSGANParams(a=float("inf"))


# -- dtype ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "d_fn, g_fn",
    [
        (ns_d_loss, ns_g_loss),
        (hinge_d_loss, hinge_g_loss),
        (wgan_d_loss, wgan_g_loss),
        (lsgan_d_loss, lsgan_g_loss),
    ],
)
def test_bf16_logits_are_reduced_in_float32(d_fn, g_fn):
    # 0.1 and 2.7 are not exact in bf16; compare with float32 maths on the bf16-rounded values
    r = torch.tensor([1.0, -2.0, 0.1, 2.7] * 64, dtype=torch.bfloat16, requires_grad=True)
    f = torch.tensor([0.5, 3.0, -0.3, 1.9] * 64, dtype=torch.bfloat16, requires_grad=True)
    d, g = d_fn(r, f, None), g_fn(f, None)
    assert d.dtype == torch.float32 and g.dtype == torch.float32
    assert d.shape == () and g.shape == ()
    assert torch.allclose(d, d_fn(r.detach().float(), f.detach().float(), None), atol=0, rtol=1e-6)
    assert torch.allclose(g, g_fn(f.detach().float(), None), atol=0, rtol=1e-6)
    d.backward()
    assert r.grad.dtype == torch.bfloat16
