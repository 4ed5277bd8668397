"""One contract test over every registered architecture, loss and regularizer.

Shapes and ranges, parameter counts, gradients reaching every parameter, and that every option a
component advertises really changes its computation (outputs, buffers after a step, or parameter
count) in at least one setting of its other switches.
"""

from __future__ import annotations

import contextlib
import typing

import pytest
import torch

from ganzoo import DataInfo, RegContext
from ganzoo.registry import load_registry

REG = load_registry(autoload=False)
INFO = DataInfo(resolution=32, channels=3, num_classes=10)
N = 8  # enough images for PGGAN's minibatch-stddev group sizes (4 vs 8) to differ


def _alternatives(field) -> list:
    """Other values to try for a params field: every other choice, the other bool, a halved number."""
    ann, default = field.annotation, field.default
    if typing.get_origin(ann) is typing.Literal:
        return [v for v in typing.get_args(ann) if v != default]
    if ann is bool:
        return [not default]
    if ann is int and isinstance(default, int):
        return [default * 2 if default else 1]
    if ann is float and isinstance(default, float):
        return [default / 2 if default else 0.5]
    return []


def _switch_contexts(model, base: dict) -> list[dict]:
    """The base params, and the base with each enumerable switch set to each other value."""
    out = [dict(base)]
    for name, field in model.model_fields.items():
        if typing.get_origin(field.annotation) is typing.Literal or field.annotation is bool:
            for alt in _alternatives(field):
                out.append({**base, name: alt})
    return out


# -- architectures --------------------------------------------------------------------------------
# Per-architecture base settings where the generic one would hide an option: PGGAN's channel counts
# are capped by fmap_max at 32x32 unless fmap_base is below the cap.
BASE_PARAMS = {"pggan": {"width": 0.0625, "fmap_base": 2048, "fmap_max": 256}}


def _base_arch_params(spec) -> dict:
    if spec.name in BASE_PARAMS:
        return dict(BASE_PARAMS[spec.name])
    return {"width": 0.125} if "width" in spec.params.model_fields else {}


def _build(spec, params: dict, seed: int = 0):
    torch.manual_seed(seed)
    return spec.build(spec.params.model_validate(params), INFO)


def _fingerprint(spec, params: dict) -> tuple:
    """Outputs of G and D on fixed inputs, buffers after one training-mode forward, parameter counts."""
    G, D = _build(spec, params)
    g = torch.Generator().manual_seed(1)
    z = torch.randn(N, G.z_dim, generator=g)
    y = torch.randint(INFO.num_classes, (N,), generator=g)
    x = torch.rand(N, INFO.channels, INFO.resolution, INFO.resolution, generator=g) * 2 - 1
    G.train(), D.train()
    with torch.no_grad():
        img, logits = G(z, y), D(x, y)
        G.eval(), D.eval()
        img_eval = G(z, y)
    bufs = [b.clone() for b in list(G.buffers()) + list(D.buffers()) if b.is_floating_point()]
    counts = (sum(p.numel() for p in G.parameters()), sum(p.numel() for p in D.parameters()))
    return img, logits, img_eval, bufs, counts


def _same(a: tuple, b: tuple) -> bool:
    (i1, l1, e1, b1, c1), (i2, l2, e2, b2, c2) = a, b
    return (c1 == c2 and i1.shape == i2.shape and torch.equal(i1, i2) and torch.equal(l1, l2)
            and torch.equal(e1, e2) and len(b1) == len(b2) and all(torch.equal(p, q) for p, q in zip(b1, b2)))


@pytest.mark.parametrize("name", REG.names("architectures"))
def test_architecture_contract(name):
    spec = REG.get("architectures", name)
    G, D = _build(spec, _base_arch_params(spec))
    assert isinstance(G.z_dim, int) and G.z_dim > 0
    z = torch.randn(N, G.z_dim)
    img = G(z)
    assert img.shape == (N, INFO.channels, INFO.resolution, INFO.resolution)
    assert img.min() >= -1 and img.max() <= 1 and img.std() > 0
    logits = D(img)
    assert logits.shape == (N,)
    # Every parameter of G and D receives a gradient.
    logits.sum().backward()
    for net_name, net in (("G", G), ("D", D)):
        assert sum(p.numel() for p in net.parameters()) > 0
        missing = [n for n, p in net.named_parameters() if p.grad is None]
        assert not missing, f"{name}: {net_name} parameters without gradient: {missing}"
    # One-channel data works too.
    G1, D1 = spec.build(spec.params.model_validate(_base_arch_params(spec)), DataInfo(32, 1, 0))
    assert D1(G1(torch.randn(2, G1.z_dim))).shape == (2,)


def _arch_options():
    for name in REG.names("architectures"):
        spec = REG.get("architectures", name)
        for field_name, field in spec.params.model_fields.items():
            for alt in _alternatives(field):
                yield pytest.param(name, field_name, alt, id=f"{name}-{field_name}={alt}")


@pytest.mark.parametrize("name, field_name, alt", list(_arch_options()))
def test_every_architecture_option_changes_the_computation(name, field_name, alt):
    spec = REG.get("architectures", name)
    for ctx in _switch_contexts(spec.params, _base_arch_params(spec)):
        if ctx.get(field_name) == alt:
            continue
        if not _same(_fingerprint(spec, ctx), _fingerprint(spec, {**ctx, field_name: alt})):
            return
    pytest.fail(f"{name}: setting {field_name}={alt!r} changes nothing in any setting tried")


# -- losses ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", REG.names("losses"))
def test_loss_contract(name):
    spec = REG.get("losses", name)
    p = spec.params()
    good, bad = torch.full((N,), 2.0), torch.full((N,), -2.0)
    d_real = torch.randn(N, requires_grad=True)
    d_fake = torch.randn(N, requires_grad=True)
    ld, lg = spec.d_loss(d_real, d_fake, p), spec.g_loss(d_fake, p)
    assert ld.dim() == 0 and lg.dim() == 0 and torch.isfinite(ld) and torch.isfinite(lg)
    (ld + lg).backward()
    assert d_real.grad is not None and d_fake.grad is not None
    # D is rewarded for high logits on reals and low on fakes; G for high logits on fakes.
    assert spec.d_loss(good, bad, p) < spec.d_loss(bad, good, p)
    assert spec.g_loss(good, p) < spec.g_loss(bad, p)
    for field_name, field in spec.params.model_fields.items():
        for alt in _alternatives(field):
            q = spec.params.model_validate({field_name: alt})
            r, f = torch.linspace(-3, 3, N), torch.linspace(2, -1, N)
            changed = (spec.d_loss(r, f, p) != spec.d_loss(r, f, q)) or (spec.g_loss(f, p) != spec.g_loss(f, q))
            assert changed, f"{name}: {field_name}={alt!r} changes nothing"


# -- regularizers ---------------------------------------------------------------------------------
class _TinyD(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4 * 8 * 8, 1)

    def forward(self, x, y=None):
        return self.fc(torch.tanh(self.conv(x)).flatten(1)).squeeze(1)


class _TinyG(torch.nn.Module):
    z_dim = 8

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(8, 4 * 8 * 8)
        self.conv = torch.nn.Conv2d(4, 3, 3, padding=1)

    def forward(self, z, y=None):
        return torch.tanh(self.conv(self.fc(z).view(-1, 4, 8, 8)))


def _reg_value(spec, params: dict, seed: int = 0) -> tuple[torch.Tensor, torch.nn.Module]:
    """The penalty, and the network it trains (D for target "d", G for target "g")."""
    torch.manual_seed(seed)
    D, G = _TinyD(), _TinyG()
    real = torch.rand(N, 3, 8, 8) * 2 - 1
    fake = G(torch.randn(N, G.z_dim))
    if spec.target == "d":
        fake = fake.detach()
    ctx = RegContext(D=D, G=G, real=real, fake=fake, y_real=None, y_fake=None,
                     d_real=D(real) if spec.target == "d" else None, d_fake=D(fake), step=0,
                     autocast=contextlib.nullcontext)
    torch.manual_seed(seed + 1)
    return spec.penalty(ctx, spec.params.model_validate(params)), (D if spec.target == "d" else G)


@pytest.mark.parametrize("name", REG.names("regularizers"))
def test_regularizer_contract(name):
    spec = REG.get("regularizers", name)
    assert spec.target in ("d", "g")
    value, net = _reg_value(spec, {})
    assert value.dim() == 0 and torch.isfinite(value) and value >= 0
    value.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    for field_name, field in spec.params.model_fields.items():
        for alt in _alternatives(field):
            other, _ = _reg_value(spec, {field_name: alt})
            assert not torch.equal(value.detach(), other.detach()), f"{name}: {field_name}={alt!r} changes nothing"
