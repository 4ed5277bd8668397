"""PGGAN networks (plugins/ganzoo_pggan): fade-in, equalized LR, minibatch stats, schedule.

Checked against hand computations with the networks' own sub-modules and plain torch ops; all
networks are tiny (a few channels, 16x16 or 32x32, four images).
"""

from __future__ import annotations

import copy
import math
import typing

import pydantic
import pytest
import torch
import torch.nn.functional as F
from ganzoo_pggan.layers import (
    EqConv2d,
    EqLinear,
    MinibatchDiscrimination,
    PixelNorm,
    eq_layers,
    minibatch_stddev,
    pixel_norm,
)
from ganzoo_pggan.networks import (
    CRIPPLED_D,
    GrowthSchedule,
    PGGANParams,
    Phase,
    build_pggan,
    fade_reals,
    lod_at,
    phase_of,
)

from ganzoo import DataInfo

SQRT2 = math.sqrt(2.0)
TINY = {"z_dim": 8, "fmap_base": 32, "fmap_max": 8}  # nf = 8, 8, 8, 4, 2, 1


def build(res: int = 32, ch: int = 3, seed: int = 0, **kw):
    torch.manual_seed(seed)
    return build_pggan(PGGANParams(**{**TINY, **kw}), DataInfo(res, ch))


def inputs(G=None, res: int = 32, ch: int = 3, n: int = 4, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, G.z_dim if G is not None else TINY["z_dim"], generator=g), torch.rand(n, ch, res, res, generator=g) * 2 - 1


def up(x, f):
    return x.repeat_interleave(f, dim=2).repeat_interleave(f, dim=3)


def box(x, f):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // f, f, w // f, f).mean(dim=(3, 5))


# -- G and D paths computed by hand from their sub-modules -----------------------------------------
def g_features(G, z, top: int):
    x = G.start(z)
    for r in range(3, top + 1):
        x = G.blocks[str(2 ** r)](x)
    return x


def g_image(G, z, top: int):
    return G.to_rgb[str(2 ** top)](g_features(G, z, top))


def d_tail(D, h, top: int):
    for r in range(top, 2, -1):
        h = D.blocks[str(2 ** r)](h)
    return D.head(h)


def d_logits(D, x, top: int):
    xr = box(x, 2 ** (D.log2_res - top))
    return d_tail(D, D.from_rgb[str(2 ** top)](xr), top)


def perturb(*modules):
    with torch.no_grad():
        for m in modules:
            for p in m.parameters():
                p.add_(torch.randn_like(p))


def test_generator_fade_matches_hand_computation():
    G, _ = build(clip_output=False)
    z, _ = inputs(G)
    L = G.log2_res
    assert G.max_lod == 3
    with torch.no_grad():
        for k in range(G.max_lod):
            top = L - k  # the block being faded in while lod goes from k + 1 to k
            G.set_lod(k + 1)  # alpha = 0: the previous network, upsampled
            prev_net = up(g_image(G, z, top - 1), 2 ** (k + 1))
            out = G(z)
            assert out.shape == (4, 3, 32, 32)
            torch.testing.assert_close(out, prev_net, rtol=0, atol=1e-6)
            G.set_lod(k + 1 - 1e-6)  # the fade has just started: alpha = 1e-6
            torch.testing.assert_close(G(z), prev_net, rtol=0, atol=1e-4)
            G.set_lod(k + 0.5)  # halfway: the 0.5 lerp of the two paths
            new = g_image(G, z, top)
            old = up(G.to_rgb[str(2 ** (top - 1))](g_features(G, z, top - 1)), 2)
            torch.testing.assert_close(G(z), up(0.5 * new + 0.5 * old, 2 ** k), rtol=0, atol=1e-6)
            G.set_lod(k + 0.25)  # alpha = 0.75 on the new block
            torch.testing.assert_close(G(z), up(0.75 * new + 0.25 * old, 2 ** k), rtol=0, atol=1e-6)
        G.set_lod(0)
        torch.testing.assert_close(G(z), g_image(G, z, L), rtol=0, atol=1e-6)


def test_generator_ignores_new_block_at_alpha_zero():
    G, _ = build()
    z, _ = inputs(G)
    with torch.no_grad():
        for k in range(G.max_lod):
            new = str(2 ** (G.log2_res - k))
            G.set_lod(k + 1)
            before = G(z)
            G.set_lod(k + 0.5)
            half = G(z)
            perturb(G.blocks[new], G.to_rgb[new])
            G.set_lod(k + 1)
            assert torch.equal(G(z), before)
            G.set_lod(k + 0.5)
            assert not torch.equal(G(z), half)


def test_discriminator_fade_matches_hand_computation():
    _, D = build()
    _, x = inputs()
    L = D.log2_res
    with torch.no_grad():
        for k in range(D.max_lod):
            top = L - k
            D.set_lod(k + 1)
            prev_net = d_logits(D, x, top - 1)
            assert D(x).shape == (4,)
            torch.testing.assert_close(D(x), prev_net, rtol=0, atol=1e-5)
            D.set_lod(k + 1 - 1e-6)
            torch.testing.assert_close(D(x), prev_net, rtol=0, atol=1e-4)
            D.set_lod(k + 0.5)
            xr = box(x, 2 ** k)
            new = D.blocks[str(2 ** top)](D.from_rgb[str(2 ** top)](xr))
            old = D.from_rgb[str(2 ** (top - 1))](box(xr, 2))
            torch.testing.assert_close(D(x), d_tail(D, 0.5 * new + 0.5 * old, top - 1), rtol=0, atol=1e-5)
        D.set_lod(0)
        torch.testing.assert_close(D(x), d_logits(D, x, L), rtol=0, atol=1e-5)


def test_discriminator_ignores_new_block_at_alpha_zero():
    _, D = build()
    _, x = inputs()
    with torch.no_grad():
        for k in range(D.max_lod):
            new = str(2 ** (D.log2_res - k))
            D.set_lod(k + 1)
            before = D(x)
            D.set_lod(k + 0.5)
            half = D(x)
            perturb(D.blocks[new], D.from_rgb[new])
            D.set_lod(k + 1)
            assert torch.equal(D(x), before)
            D.set_lod(k + 0.5)
            assert not torch.equal(D(x), half)


def test_only_active_blocks_run_at_their_resolution():
    G, D = build()
    z, x = inputs(G)
    seen: list[tuple[str, int]] = []
    for net, tag in ((G, "G"), (D, "D")):
        for name, block in net.blocks.items():
            block.register_forward_hook(
                lambda m, i, o, name=name, tag=tag: seen.append((tag + name, i[0].shape[-1])))
    with torch.no_grad():
        G.set_lod(1.5), D.set_lod(1.5)  # fading in 16x16
        G(z), D(x)
        assert sorted(seen) == sorted([("G8", 4), ("G16", 8), ("D16", 16), ("D8", 8)])
        seen.clear()
        G.set_lod(3), D.set_lod(3)  # 4x4 only
        assert G(z).shape == (4, 3, 32, 32) and D(x).shape == (4,)
        assert seen == []


def test_every_parameter_gets_a_gradient_and_idle_skips_get_zero():
    G, D = build()
    z, _ = inputs(G)
    D(G(z)).sum().backward()
    for net in (G, D):
        assert all(p.grad is not None for p in net.parameters())
    for r in ("4", "8", "16"):  # not used at lod 0: exactly zero, as in TF's linear graph
        assert all(torch.count_nonzero(p.grad) == 0 for p in G.to_rgb[r].parameters())
        assert all(torch.count_nonzero(p.grad) == 0 for p in D.from_rgb[r].parameters())
    assert G.to_rgb["32"].weight.grad.abs().sum() > 0 and D.from_rgb["32"][0].weight.grad.abs().sum() > 0
    # During a fade both skips of the fade get real gradients, the blocks above none.
    G, D = build()
    G.set_lod(1.5), D.set_lod(1.5)
    D(G(z)).sum().backward()
    for r in ("8", "16"):
        assert G.to_rgb[r].weight.grad.abs().sum() > 0
        assert D.from_rgb[r][0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in G.blocks["32"].parameters())
    assert all(p.grad is None for p in D.blocks["32"].parameters())


def test_lod_buffer_travels_and_validates():
    G, D = build()
    z, x = inputs(G)
    G.set_lod(1.5), D.set_lod(2)
    assert float(G.state_dict()["lod"]) == 1.5 and float(D.state_dict()["lod"]) == 2.0
    with torch.no_grad():
        ref_g, ref_d = G(z), D(x)
        G2, D2 = build()
        G2(z), D2(x)  # read lod 0 once, so a stale cache would show
        G2.load_state_dict(G.state_dict()), D2.load_state_dict(D.state_dict())
        assert torch.equal(G2(z), ref_g) and torch.equal(D2(x), ref_d)
        assert torch.equal(copy.deepcopy(G)(z), ref_g)
        G2.lod.copy_(torch.tensor(0.0))  # an EMA-style in-place buffer copy
        G.set_lod(0)
        assert torch.equal(G2(z), G(z))
    with pytest.raises(ValueError):
        G.set_lod(3.5)
    with pytest.raises(ValueError):
        D.set_lod(-0.1)
    with torch.inference_mode():  # a buffer made in inference mode has no version counter
        G3, _ = build()
        G3.load_state_dict(G.state_dict())
        assert torch.equal(G3(z), G(z))
        G3.set_lod(1.5)
        assert torch.equal(G3(z), ref_g)


def test_not_progressive_is_full_resolution_and_ignores_lod():
    G, D = build(progressive=False)
    z, x = inputs(G)
    assert list(G.to_rgb) == ["32"] and list(D.from_rgb) == ["32"] and G.max_lod == 0
    with torch.no_grad():
        img, logit = G(z), D(x)
        assert img.shape == (4, 3, 32, 32)
        G.set_lod(1.5), D.set_lod(2)
        assert torch.equal(G(z), img) and torch.equal(D(x), logit)
    Gp, _ = build()
    assert sum(p.numel() for p in Gp.parameters()) > sum(p.numel() for p in G.parameters())


def test_start_resolution_drops_unreachable_skips():
    G, D = build(start_resolution=8)
    assert list(G.to_rgb) == ["8", "16", "32"] and list(D.from_rgb) == ["8", "16", "32"]
    assert G.max_lod == 2
    with pytest.raises(ValueError):
        G.set_lod(2.5)
    with pytest.raises(pydantic.ValidationError):
        PGGANParams(start_resolution=12)


# -- equalized learning rate -----------------------------------------------------------------------
def _expected_gain(net: str, name: str) -> float:
    if net == "G" and name == "start.dense":
        return SQRT2 / 4
    if (net == "G" and name.startswith("to_rgb.")) or (net == "D" and name == "head.dense1"):
        return 1.0
    return SQRT2


def test_equalized_lr_runtime_scale_and_unit_weights():
    G, D = build(res=16, z_dim=64, fmap_base=256, fmap_max=32)
    assert G.start.dense.fan_in == 64 and G.start.dense.weight.shape == (32 * 16, 64)
    big = 0
    for net_name, net in (("G", G), ("D", D)):
        layers = eq_layers(net)
        assert len(layers) >= 8
        for name, layer in layers:
            fan_in = layer.weight[0].numel()
            assert layer.fan_in == fan_in
            expected = _expected_gain(net_name, name) / math.sqrt(fan_in)
            assert layer.runtime_scale == pytest.approx(expected, rel=1e-6), (net_name, name)
            if layer.weight.numel() >= 4000:
                big += 1
                assert abs(layer.weight.std().item() - 1) < 0.05, (net_name, name)
                assert abs(layer.weight.mean().item()) < 0.05
            if layer.bias is not None:
                assert torch.count_nonzero(layer.bias) == 0
    assert big >= 4
    # The scale is applied in the forward, the bias after it.
    conv = EqConv2d(3, 5, 3, gain=SQRT2)
    lin = EqLinear(7, 2, gain=1.0)
    with torch.no_grad():
        conv.bias.fill_(0.3), lin.bias.fill_(-0.2)
    x, v = torch.randn(2, 3, 6, 6), torch.randn(4, 7)
    ref = F.conv2d(x, conv.weight * (SQRT2 / math.sqrt(27)), padding=1) + 0.3
    torch.testing.assert_close(conv(x), ref)
    torch.testing.assert_close(lin(v), v @ (lin.weight / math.sqrt(7)).T - 0.2)
    # The first dense has no bias of its own: one bias per channel after the reshape to 4x4.
    assert G.start.dense.bias is None and G.start.bias.shape == (32,)


def test_he_initializer_without_equalized_lr():
    G, D = build(res=16, z_dim=64, fmap_base=256, fmap_max=32, eq_lr=False)
    assert not any("wscale" in n for n, _ in list(G.named_buffers()) + list(D.named_buffers()))
    checked = 0
    for net_name, net in (("G", G), ("D", D)):
        for name, layer in eq_layers(net):
            assert layer.runtime_scale == 1.0
            if layer.weight.numel() >= 4000:
                checked += 1
                std = _expected_gain(net_name, name) / math.sqrt(layer.weight[0].numel())
                assert layer.weight.std().item() == pytest.approx(std, rel=0.05)
    assert checked >= 4


# -- pixel norm and minibatch statistics -----------------------------------------------------------
def test_pixel_norm_unit_mean_square():
    x = torch.randn(3, 7, 5, 4) * 4 + 2
    y = pixel_norm(x)
    torch.testing.assert_close(y.square().mean(dim=1), torch.ones(3, 5, 4), rtol=0, atol=1e-5)
    torch.testing.assert_close(y * x.square().mean(dim=1, keepdim=True).add(1e-8).sqrt(), x)
    # In G: every unit with pixel norm emits unit mean square per pixel, and so does PN(z).
    G, _ = build()
    z, _ = inputs(G)
    outs = []
    for m in G.modules():
        if isinstance(m, PixelNorm):
            m.register_forward_hook(lambda m, i, o: outs.append(o))
    with torch.no_grad():
        G(z * 10)
    assert len(outs) == 2 + 2 * 3  # 4x4: dense and conv; 8, 16, 32: two convs each
    for o in outs:
        torch.testing.assert_close(o.square().mean(dim=1), torch.ones_like(o[:, 0]), rtol=0, atol=1e-4)


def _mbstd_by_hand(x: torch.Tensor, group: int) -> torch.Tensor:
    n = x.shape[0]
    g = n if group == 0 else min(group, n)
    m = n // g
    value = torch.zeros(n)
    for j in range(m):
        members = [i for i in range(n) if i % m == j]  # strided groups
        xs = x[members].double()
        var = ((xs - xs.mean(dim=0)) ** 2).mean(dim=0)  # biased
        s = torch.sqrt(var + 1e-8).mean()
        for i in members:
            value[i] = float(s)
    return value


@pytest.mark.parametrize("n, group", [(8, 4), (8, 2), (8, 0), (4, 8), (6, 3), (5, 1)])
def test_minibatch_stddev_matches_hand_computation(n, group):
    x = torch.randn(n, 3, 2, 2) * torch.arange(1, n + 1).view(n, 1, 1, 1)
    y = minibatch_stddev(x, group)
    assert y.shape == (n, 4, 2, 2)
    assert torch.equal(y[:, :3], x)
    expected = _mbstd_by_hand(x, group).view(n, 1, 1).expand(n, 2, 2)
    torch.testing.assert_close(y[:, 3], expected.float(), rtol=1e-5, atol=1e-6)


def test_minibatch_stddev_needs_divisible_batch():
    with pytest.raises(ValueError, match="not divisible"):
        minibatch_stddev(torch.randn(6, 2, 4, 4), 4)
    _, D = build(mbstd_group=4)
    with pytest.raises(ValueError, match="not divisible"):
        D(torch.zeros(6, 3, 32, 32))
    _, D = build(mbstd_group=3)
    assert D(torch.zeros(6, 3, 32, 32)).shape == (6,)


def test_minibatch_discrimination_matches_hand_computation():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(features=2 * 2 * 2, kernels=3, dims=4)
    with torch.no_grad():
        layer.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    x = torch.randn(5, 2, 2, 2)
    with torch.no_grad():
        y = layer(x)
    assert y.shape == (5, 5, 2, 2) and torch.equal(y[:, :2], x)
    m = (x.flatten(1) @ (layer.T.weight.detach() * layer.T.runtime_scale).T).view(5, 3, 4)
    for i in range(5):
        for b in range(3):
            o = sum(math.exp(-float((m[i, b] - m[j, b]).abs().sum())) for j in range(5) if j != i)
            torch.testing.assert_close(y[i, 2 + b], torch.full((2, 2), o + float(layer.bias[b].detach())))
    assert layer.T.runtime_scale == pytest.approx(0.25 / math.sqrt(8))


# -- options --------------------------------------------------------------------------------------
def _fingerprint(res: int = 16, n: int = 4, **kw):
    G, D = build(res=res, **kw)
    z, x = inputs(G, res=res, n=n)
    with torch.no_grad():
        img, logit = G(z), D(x)
    bufs = [b.clone() for b in list(G.buffers()) + list(D.buffers())]
    counts = (sum(p.numel() for p in G.parameters()), sum(p.numel() for p in D.parameters()))
    return img, logit, bufs, counts


def _same(a, b) -> bool:
    (i1, l1, b1, c1), (i2, l2, b2, c2) = a, b
    return (c1 == c2 and torch.equal(i1, i2) and torch.equal(l1, l2) and len(b1) == len(b2)
            and all(p.shape == q.shape and torch.equal(p, q) for p, q in zip(b1, b2)))


def _switches():
    for name, field in PGGANParams.model_fields.items():
        ann = field.annotation
        if typing.get_origin(ann) is typing.Literal:
            yield from ((name, v) for v in typing.get_args(ann) if v != field.default)
        elif ann is bool:
            yield name, not field.default


@pytest.mark.parametrize("name, alt", list(_switches()))
def test_every_switch_changes_the_computation(name, alt):
    assert not _same(_fingerprint(), _fingerprint(**{name: alt})), f"{name}={alt!r} changes nothing"


@pytest.mark.parametrize("name, a, b, extra", [
    ("mbstd_group", 4, 2, {"n": 8}),
    ("mbstd_group", 4, 0, {"n": 8}),
    ("fmap_base", 32, 16, {}),
    ("fmap_max", 8, 4, {}),
    ("width", 1.0, 0.5, {}),
    ("z_dim", 8, 16, {}),
    ("start_resolution", 4, 8, {}),
    ("mbdisc_kernels", 16, 4, {"mbstat": "discrimination"}),
    ("mbdisc_dims", 8, 2, {"mbstat": "discrimination"}),
    ("d_fmap_base", None, 16, {}),
    ("d_fmap_max", None, 4, {}),
    ("d_width", None, 0.5, {}),
])
def test_numeric_options_change_the_computation(name, a, b, extra):
    assert not _same(_fingerprint(**{name: a}, **extra), _fingerprint(**{name: b}, **extra))


def test_norm_placement():
    G, D = build(g_norm="batchnorm", d_norm="layernorm")
    bns = [m for m in G.modules() if isinstance(m, torch.nn.BatchNorm2d | torch.nn.modules.batchnorm._BatchNorm)]
    assert len(bns) == 2 + 2 * 3 and not any(isinstance(m, PixelNorm) for m in G.modules())
    lns = [m for m in D.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert len(lns) == 2 * 3 + 2 and all(m.num_groups == 1 for m in lns)  # every conv3x3 and the 4x4
    # A conv followed by a norm has no bias of its own; fromRGB/toRGB keep theirs.
    assert G.start.bias is None and all(conv.bias is None for _, conv in eq_layers(G.blocks))
    assert all(conv.bias is None for _, conv in eq_layers(D.blocks))
    assert all(rgb.bias is not None for rgb in G.to_rgb.values())
    # relu vs lrelu reaches G only; D keeps lrelu.
    Gr, Dr = build(g_act="relu")
    assert any(isinstance(m, torch.nn.ReLU) for m in Gr.modules())
    assert not any(isinstance(m, torch.nn.ReLU) for m in Dr.modules())


def test_output_range():
    G, _ = build()
    z, _ = inputs(G)
    with torch.no_grad():
        img = G(z)
        assert img.min() >= -1 and img.max() <= 1
        raw = build(clip_output=False)[0](z)
        assert raw.abs().max() > 1  # the clip is doing something at init
        torch.testing.assert_close(img, raw.clamp(-1, 1))
        tanh = build(g_out="tanh", clip_output=False)[0](z)
        torch.testing.assert_close(tanh, torch.tanh(raw))


def test_the_clamp_traps_a_saturated_linear_generator():
    # Why pggan-ablation runs its linear rows with clip_output=False: once every pixel of a linear G
    # lies below -1, the clamp passes no gradient and nothing can move G back (row (d), seed 1).
    for clip in (True, False):
        G, D = build(clip_output=clip)
        with torch.no_grad():
            G.to_rgb[str(32)].bias.fill_(-50.0)
        z, _ = inputs(G)
        (-D(G(z)).mean()).backward()
        grad = sum(p.grad.abs().sum() for p in G.parameters() if p.grad is not None)
        assert bool(grad == 0) is clip, clip


def test_one_channel_and_labels_ignored():
    G, D = build(res=16, ch=1)
    z = torch.randn(2, G.z_dim)
    y = torch.tensor([3, 1])
    assert torch.equal(G(z, y), G(z)) and G(z).shape == (2, 1, 16, 16)
    assert D(G(z), y).shape == (2,)


def test_crippled_discriminators_size():
    info = DataInfo(32, 3)
    counts = {}
    for preset, target in (("K/4", 500), ("K/2", 2000)):
        for extra in ({}, {"progressive": False, "mbstat": "none", "d_norm": "batchnorm"}):
            _, D = build_pggan(PGGANParams(d_preset=preset, **extra), info)
            n = sum(p.numel() for p in D.parameters() if p.requires_grad)
            counts[preset, bool(extra)] = n
            assert abs(n - target) <= 0.25 * target, (preset, extra, n)
    assert counts["K/4", True] < counts["K/2", True]
    # The preset does not depend on the global width, and may not be mixed with overrides.
    _, D = build_pggan(PGGANParams(d_preset="K/4", width=0.125), info)
    assert sum(p.numel() for p in D.parameters()) == counts["K/4", False]
    assert set(CRIPPLED_D) == {"K/4", "K/2"}
    with pytest.raises(pydantic.ValidationError):
        PGGANParams(d_preset="K/2", d_width=0.5)
    with pytest.raises(pydantic.ValidationError):
        PGGANParams(d_preset="K/2", d_layout="pggan")


def test_shallow_discriminator_layout():
    """``d_layout="shallow"``: one conv per resolution and a single dense layer at 4x4; it grows,
    fades and takes every minibatch layer as the PGGAN layout does."""
    info = DataInfo(16, 3)
    for mbstat in ("stddev", "discrimination", "none"):
        p = PGGANParams(fmap_base=64, fmap_max=8, z_dim=8, d_layout="shallow", mbstat=mbstat)
        G, D = build_pggan(p, info)
        convs = [m for m in D.blocks.modules() if isinstance(m, EqConv2d)]
        assert len(convs) == 2  # 16 -> 8 and 8 -> 4, one conv each
        assert not hasattr(D.head, "conv") and D.head.dense.weight.shape[0] == 1
        x = G(torch.randn(8, 8))
        for lod in (2.0, 1.5, 1.0, 0.5, 0.0):
            D.set_lod(lod)
            out = D(x)
            assert out.shape == (8,) and torch.isfinite(out).all()
    full = PGGANParams(fmap_base=64, fmap_max=8, z_dim=8)
    assert full.d_depth() == "pggan" and PGGANParams(d_preset="K/4").d_depth() == "shallow"


# -- reals during a fade ---------------------------------------------------------------------------
def test_fade_reals():
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    assert torch.equal(fade_reals(x, 0.0), x)
    for k in (1, 2, 3):
        torch.testing.assert_close(fade_reals(x, k), up(box(x, 2 ** k), 2 ** k))
    for k in (0, 1, 2):
        xk = box(x, 2 ** k) if k else x
        for f in (0.5, 0.25):
            expected = up((1 - f) * xk + f * up(box(xk, 2), 2), 2 ** k)
            torch.testing.assert_close(fade_reals(x, k + f), expected)
    # D sees exactly the box-downsampled real image when the level is integer.
    _, D = build(res=16)
    D.set_lod(1)
    with torch.no_grad():
        torch.testing.assert_close(D(fade_reals(x, 1)), D(x))
    with pytest.raises(ValueError):
        fade_reals(x, 4.5)


# -- schedule --------------------------------------------------------------------------------------
def _tf_lod(kimg, stab, fade, res_log2, start_log2):
    phase_dur = stab + fade
    phase_idx = math.floor(kimg / phase_dur)
    phase_kimg = kimg - phase_idx * phase_dur
    lod = res_log2 - start_log2 - phase_idx
    if fade > 0:
        lod -= max(phase_kimg - stab, 0.0) / fade
    return max(lod, 0.0)


def test_lod_at_matches_tf_schedule():
    p = PGGANParams()
    hand = {0: 3.0, 300: 3.0, 600: 3.0, 750: 2.75, 900: 2.5, 1200: 2.0, 1799: 2.0, 2100: 1.5,
            3000: 1.0, 3300: 0.5, 3600: 0.0, 5000: 0.0}
    for kimg, lod in hand.items():
        assert lod_at(kimg, p, 32) == pytest.approx(lod, abs=1e-12), kimg
    q = PGGANParams(stabilize_kimg=400, fade_kimg=200, start_resolution=8)
    for kimg in (0, 123.4, 400, 450.5, 600, 1000, 1100, 1234.5, 4000):
        assert lod_at(kimg, q, 64) == pytest.approx(_tf_lod(kimg, 400, 200, 6, 3), abs=1e-12)
    assert lod_at(900, PGGANParams(progressive=False), 32) == 0.0


def test_phase_key_changes_exactly_at_fade_start_and_end():
    sched = GrowthSchedule(PGGANParams(), DataInfo(32, 3), default_batch=16)
    starts, ends = (600_000, 1_800_000, 3_000_000), (1_200_000, 2_400_000, 3_600_000)
    for s in starts:
        assert sched.phase(s).key[0] == sched.phase(s).key[1]
        assert sched.phase(s + 1).key == (sched.phase(s).key[0] - 1, sched.phase(s).key[0])
    for e in ends:
        assert sched.phase(e - 1).key[0] + 1 == sched.phase(e - 1).key[1]
        assert sched.phase(e).key == (sched.phase(e - 1).key[0],) * 2
    changes, prev = [], sched.phase(0).key
    for images in range(0, 4_000_000, 1000):
        key = sched.phase(images).key
        if key != prev:
            changes.append(images)
        prev = key
    assert changes == [601_000, 1_200_000, 1_801_000, 2_400_000, 3_001_000, 3_600_000]


def test_phase_resolution_and_batch_sizes():
    p = PGGANParams(batch_sizes={"4": 64, "8": 32})
    sched = GrowthSchedule(p, DataInfo(32, 3), default_batch=16)
    assert sched.phase(0) == Phase(lod=3.0, batch_size=64, key=(3, 3), resolution=4)
    ph = sched.phase(900_000)
    assert (ph.lod, ph.batch_size, ph.key, ph.resolution) == (2.5, 32, (2, 3), 8)
    assert sched.phase(1_500_000).batch_size == 32
    assert sched.phase(2_100_000) == Phase(lod=1.5, batch_size=16, key=(1, 2), resolution=16)
    assert phase_of(5000, p, 32, 16) == Phase(0.0, 16, (0, 0), 32)
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(sched.reals(x, ph), fade_reals(x, 2.5))
    flat = GrowthSchedule(PGGANParams(progressive=False, batch_sizes={"32": 8}), DataInfo(32, 3), 16)
    assert flat.phase(0) == flat.phase(900_000) == Phase(0.0, 8, (0, 0), 32)
    assert torch.equal(flat.reals(x, flat.phase(0)), x)
    with pytest.raises(pydantic.ValidationError):
        PGGANParams(batch_sizes={"12": 4})


def test_adaptive_d_noise_follows_the_papers_formula():
    """PGGAN appendix B: noise of magnitude 0.2 max(0, d_hat - 0.5)^2, d_hat an EMA (0.1) of D on reals."""
    import torch

    from ganzoo import DataInfo
    from ganzoo_pggan.networks import PGGANParams, build_pggan

    torch.manual_seed(0)
    _, D = build_pggan(PGGANParams(fmap_base=64, fmap_max=8, z_dim=8, progressive=False, d_noise=True),
                       DataInfo(16, 1, 0))
    x = torch.rand(4, 1, 16, 16) * 2 - 1
    D.train()
    a, b = D(x), D(x)
    assert torch.equal(a, b) and D.noise_strength() == 0.0  # d_hat = 0: no noise yet
    for _ in range(30):
        D.observe_real(torch.full((4,), 2.0))
    d_hat = 2.0 * (1 - 0.9 ** 30)
    assert abs(float(D.d_hat) - d_hat) < 1e-5
    assert abs(D.noise_strength() - 0.2 * (d_hat - 0.5) ** 2) < 1e-6
    assert not torch.equal(D(x), D(x))  # noisy in training mode
    D.eval()
    assert torch.equal(D(x), D(x))  # and never at evaluation
