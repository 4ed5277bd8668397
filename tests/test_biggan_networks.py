"""The ganzoo_biggan plugin: BigGAN G/D, their switches, self-attention, standing statistics and
the modified orthogonal regularizer."""

from __future__ import annotations

import contextlib

import ganzoo_biggan
import pytest
import torch
import torch.nn.functional as F
from ganzoo_biggan.layers import (
    ConditionalBatchNorm,
    LayerConfig,
    SelfAttention,
    is_spectral_normed,
)
from ganzoo_biggan.networks import BigGANParams, build_biggan
from ganzoo_biggan.ortho import OrthoParams, offdiag_gram_sq, ortho_penalty
from torch import nn

from ganzoo import DataInfo, RegContext
from ganzoo.train.latents import LatentSampler
from ganzoo.errors import ConfigError
from ganzoo.metrics import standing_statistics
from ganzoo.registry import load_registry

INFO = DataInfo(resolution=32, channels=3, num_classes=10)
TINY = {"ch": 2, "conditional": True}  # G: 8 channels at 32x32


def build(info: DataInfo = INFO, seed: int = 0, **over):
    torch.manual_seed(seed)
    return build_biggan(BigGANParams.model_validate({**TINY, **over}), info)


def inputs(G, n: int = 4, seed: int = 1, classes: int = 10):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, G.z_dim, generator=g)
    y = torch.randint(classes, (n,), generator=g) if classes else None
    return z, y


def registry():
    reg = load_registry(autoload=False)
    if "biggan" not in reg.names("architectures"):
        reg = load_registry(autoload=False, extra=[(ganzoo_biggan, "ganzoo_biggan")])
    return reg


def test_registered():
    reg = registry()
    arch = reg.get("architectures", "biggan")
    assert arch.build is build_biggan and arch.params is BigGANParams
    ortho = reg.get("regularizers", "ortho")
    assert ortho.target == "g" and ortho.params is OrthoParams
    assert OrthoParams().beta == 1e-4


# -- orthogonal regularization ---------------------------------------------------------------------
def test_ortho_gradient_is_biggan_pytorchs_closed_form():
    G, D = build(attention=16)
    beta = 0.25
    ctx = RegContext(D=D, G=G, real=torch.zeros(1), fake=torch.zeros(1), y_real=None, y_fake=None,
                     d_real=None, d_fake=torch.zeros(1), step=0, autocast=contextlib.nullcontext)
    value = ortho_penalty(ctx, OrthoParams(beta=beta))
    named = dict(G.named_parameters())
    grads = dict(zip(named, torch.autograd.grad(value, list(named.values()), allow_unused=True)))
    blacklist = {id(p) for p in G.blacklist()}
    assert blacklist and all(id(p) in blacklist for p in G.shared.parameters())
    expected_value, checked, tall = 0.0, 0, 0
    for name, p in named.items():
        g = grads[name]
        if p.dim() < 2 or id(p) in blacklist:
            assert g is None or torch.count_nonzero(g) == 0, name
            continue
        W = p.detach().double().reshape(p.shape[0], -1)
        M = (W @ W.t()) * (1 - torch.eye(W.shape[0], dtype=W.dtype))
        closed = beta * 2 * (M @ W)  # BigGAN-PyTorch utils.ortho's gradient addition
        assert g is not None, name
        torch.testing.assert_close(g.double().reshape_as(W), closed, rtol=1e-4, atol=1e-7)
        expected_value += 0.5 * beta * float((M * M).sum())
        checked += 1
        tall += W.shape[0] > W.shape[1]
    # SN layers are regularised through their raw weights; the first linear layer is tall.
    assert any(n.endswith("parametrizations.weight.original") for n in named) and tall > 0
    assert checked > 20
    assert value.item() == pytest.approx(expected_value, rel=1e-4)


def test_ortho_is_zero_for_orthogonal_rows_and_scales_with_beta():
    w = torch.linalg.qr(torch.randn(12, 5)).Q.t()  # 5 x 12 with orthonormal rows
    assert offdiag_gram_sq(w).item() == pytest.approx(0.0, abs=1e-10)
    w2 = torch.randn(30, 4)  # tall: computed through W^T W
    M = (w2 @ w2.t()) * (1 - torch.eye(30))
    assert offdiag_gram_sq(w2).item() == pytest.approx(float((M * M).sum()), rel=1e-5)
    G, D = build()
    ctx = RegContext(D=D, G=G, real=None, fake=None, y_real=None, y_fake=None, d_real=None,
                     d_fake=None, step=0, autocast=contextlib.nullcontext)
    a, b = ortho_penalty(ctx, OrthoParams(beta=1e-4)), ortho_penalty(ctx, OrthoParams(beta=2e-4))
    assert a.item() > 0 and b.item() == pytest.approx(2 * a.item(), rel=1e-6)


# -- hierarchical latents --------------------------------------------------------------------------
def _record_conditions(G):
    seen: dict[str, torch.Tensor] = {}
    hooks = [G.linear.register_forward_hook(lambda m, a, o: seen.__setitem__("linear", o.detach()))]
    for i, block in enumerate(G.blocks):
        for bn in ("bn1", "bn2"):
            def hook(m, args, out, key=f"{i}.{bn}"):
                seen[key] = args[1].detach()
            hooks.append(getattr(block, bn).register_forward_hook(hook))
    return seen, hooks


@pytest.mark.parametrize("conditional", [True, False])
def test_hierarchical_chunks_reach_only_their_block(conditional):
    info = INFO if conditional else DataInfo(32, 3, 0)
    G, _ = build(info, conditional=conditional, z_dim=130)
    nb = len(G.blocks)
    assert G.chunk == 130 // (nb + 1) and G.z_dim == G.chunk * (nb + 1)  # silently reduced
    z, y = inputs(G, classes=10 if conditional else 0)
    G.eval()
    seen, hooks = _record_conditions(G)
    with torch.no_grad():
        G(z, y)
        base = dict(seen)
        # Block i's BNs see cat(shared(y), z_{i+1}) (only the chunk when unconditional).
        for i in range(nb):
            chunk = z[:, (i + 1) * G.chunk:(i + 2) * G.chunk]
            expect = torch.cat([G.shared(y), chunk], 1) if conditional else chunk
            assert torch.equal(base[f"{i}.bn1"], expect) and torch.equal(base[f"{i}.bn2"], expect)
        for j in range(nb + 1):
            z2 = z.clone()
            z2[:, j * G.chunk:(j + 1) * G.chunk] += 1.0
            G(z2, y)
            assert torch.equal(seen["linear"], base["linear"]) == (j != 0), j
            for i in range(nb):
                for bn in ("bn1", "bn2"):
                    changed = not torch.equal(seen[f"{i}.{bn}"], base[f"{i}.{bn}"])
                    assert changed == (j == i + 1), (j, i, bn)
    for h in hooks:
        h.remove()


def test_without_hierarchy_z_only_feeds_the_linear_layer():
    G, _ = build(hierarchical=False, z_dim=130)
    assert G.z_dim == 130 and G.linear.in_features == 130
    z, y = inputs(G)
    seen, _ = _record_conditions(G)
    G(z, y)
    for i in range(len(G.blocks)):
        assert torch.equal(seen[f"{i}.bn1"], G.shared(y).detach())
    G2, _ = build(DataInfo(32, 3, 0), conditional=False, hierarchical=False)
    bns = [m for m in G2.modules() if isinstance(m, ConditionalBatchNorm)]
    assert bns and all(not m.conditional and m.bn.affine for m in bns)  # plain BN


# -- every switch changes the computation ----------------------------------------------------------
def _fingerprint(over: dict):
    G, D = build(**over)
    z, y = inputs(G)
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(2)) * 2 - 1
    with torch.no_grad():
        img, logits = G(z, y), D(x, y)
    counts = (sum(p.numel() for p in G.parameters()), sum(p.numel() for p in D.parameters()))
    return G, D, img, logits, counts


def _sn_count(net: nn.Module) -> int:
    return sum(is_spectral_normed(m) for m in net.modules())


@pytest.mark.parametrize("field, alt", [
    ("shared_embedding", False), ("hierarchical", False), ("attention", [16]), ("g_sn", False),
    ("d_sn", False), ("init", "N02"), ("projection", False), ("conditional", False)])
def test_every_switch_changes_the_computation(field, alt):
    G0, D0, img0, logit0, n0 = _fingerprint({})
    G1, D1, img1, logit1, n1 = _fingerprint({field: alt})
    g_changed = n0[0] != n1[0] or img0.shape != img1.shape or not torch.equal(img0, img1)
    d_changed = n0[1] != n1[1] or not torch.equal(logit0, logit1)
    if field == "shared_embedding":
        assert G0.shared is not None and G1.shared is None and G1.blocks[0].bn1.gain_embed is not None
        assert g_changed and n0[1] == n1[1]
    elif field == "hierarchical":
        assert G0.z_dim == 128 and G0.linear.in_features == 32 and G1.linear.in_features == 128
        assert g_changed
    elif field == "attention":
        assert len(G1.attention) == 1 and len(D1.attention) == 1 and not G0.attention
        assert n1[0] > n0[0] and n1[1] > n0[1]
        assert g_changed and d_changed  # gamma = 0: same outputs, but new parameters
    elif field == "g_sn":
        assert _sn_count(G0) > 0 and _sn_count(G1) == 0 and _sn_count(D1) == _sn_count(D0) and g_changed
    elif field == "d_sn":
        assert _sn_count(D0) > 0 and _sn_count(D1) == 0 and _sn_count(G1) == _sn_count(G0)
        assert d_changed and torch.equal(img0, img1)
    elif field == "init":
        w0 = G0.blocks[0].conv1.parametrizations.weight.original.reshape(8, -1)
        w1 = G1.blocks[0].conv1.parametrizations.weight.original
        torch.testing.assert_close(w0 @ w0.t(), torch.eye(8), atol=1e-5, rtol=0)
        assert 0.015 < w1.std().item() < 0.025
        assert g_changed and d_changed
    elif field == "projection":
        assert D0.embed is not None and D1.embed is None and d_changed and not g_changed
        assert is_spectral_normed(D0.embed)
    elif field == "conditional":
        assert G1.shared is None and D1.embed is None and g_changed and d_changed


# -- self-attention --------------------------------------------------------------------------------
def test_self_attention_starts_as_identity_and_matches_the_formula():
    torch.manual_seed(0)
    att = SelfAttention(16, LayerConfig(sn=True, init="N02"))
    assert att.theta.out_channels == 2 and att.phi.out_channels == 2 and att.g.out_channels == 8
    assert att.o.in_channels == 8 and att.o.out_channels == 16
    assert all(m.bias is None and is_spectral_normed(m) for m in (att.theta, att.phi, att.g, att.o))
    x = torch.randn(2, 16, 8, 8)
    out = att(x)
    assert out.shape == x.shape and torch.equal(out, x) and att.gamma.item() == 0.0
    with torch.no_grad():
        att.gamma.fill_(0.7)
    att.eval()
    out = att(x)
    # Reference: theta^T phi over keys pooled 2x2, o applied to g beta^T.
    theta = att.theta(x).flatten(2)                              # [N, 2, 64]
    phi = F.max_pool2d(att.phi(x), 2).flatten(2)                 # [N, 2, 16]
    g = F.max_pool2d(att.g(x), 2).flatten(2)                     # [N, 8, 16]
    beta = torch.softmax(torch.einsum("nci,ncj->nij", theta, phi), dim=-1)  # [N, 64, 16]
    o = att.o(torch.einsum("ncj,nij->nci", g, beta).reshape(2, 8, 8, 8))
    torch.testing.assert_close(out, x + 0.7 * o)
    assert not torch.allclose(out, x)


def test_attention_placement_and_validation():
    G, D = build(attention="8_16")  # BigGAN-PyTorch's '8_16' string form
    assert sorted(G.attention) == ["0", "1"] and sorted(D.attention) == ["0", "1", "2", "3"]
    assert BigGANParams(attention=0).attention == () and BigGANParams(attention=32).attention == (32,)
    with pytest.raises(ConfigError, match="attention"):
        build(attention=[4])  # no G or D block outputs 4x4 at 32x32
    G64, D64 = build(DataInfo(64, 3, 10), attention=32)
    assert list(G64.attention) == ["2"] and list(D64.attention) == ["0"]
    z, y = inputs(G64, n=2)
    assert D64(G64(z, y), y).shape == (2,)


# -- standing statistics ---------------------------------------------------------------------------
def test_standing_statistics_make_a_sample_independent_of_its_batch():
    G, _ = build(attention=16)
    bns = [m for m in G.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 2 * len(G.blocks) + 1
    assert all(not m.affine for m in bns[:-1]) and bns[-1].affine  # ccbn's BN, output BN
    # Capture the batch means each BN sees during the standing passes (hooks survive deepcopy).
    means: dict[int, list[torch.Tensor]] = {}
    for i, m in enumerate(bns):
        m.register_forward_hook(
            lambda mod, a, o, i=i: means.setdefault(i, []).append(a[0].detach().mean((0, 2, 3))))
    before = [m.running_mean.clone() for m in bns]
    sampler = LatentSampler(G.z_dim, "normal", 10, seed=5)
    Gs = standing_statistics(G, sampler, batches=3, batch_size=8)
    assert all(torch.equal(m.running_mean, b) for m, b in zip(bns, before))  # G itself untouched
    std_bns = [m for m in Gs.modules() if isinstance(m, nn.BatchNorm2d)]
    for i, m in enumerate(std_bns):
        assert int(m.num_batches_tracked) == 3 and m.momentum == 0.1
        torch.testing.assert_close(m.running_mean, torch.stack(means[i]).mean(0), rtol=1e-4, atol=1e-6)
    assert not Gs.training
    for m in bns:  # the hooks must not run below
        m._forward_hooks.clear()
    for m in std_bns:
        m._forward_hooks.clear()
    z, y = LatentSampler(G.z_dim, "normal", 10, seed=9).sample(8)
    with torch.no_grad():
        batch, single = Gs(z, y), Gs(z[:1], y[:1])
        torch.testing.assert_close(single, batch[:1], rtol=1e-5, atol=1e-5)
        Gs.train()  # with batch statistics the same sample would depend on its batch
        assert not torch.allclose(Gs(z, y)[:1], Gs(z[:2], y[:2])[:1], atol=1e-3)


# -- conditional and unconditional use -------------------------------------------------------------
def test_unconditional_and_conditional_builds():
    G, D = build(DataInfo(32, 1, 0), conditional=False)
    assert G.shared is None and D.embed is None and G.blacklist() == []
    z, _ = inputs(G, classes=0)
    img = G(z)
    assert img.shape == (4, 1, 32, 32) and img.abs().max() <= 1 and D(img).shape == (4,)
    with pytest.raises(ConfigError, match="labelled"):
        build(DataInfo(32, 3, 0), conditional=True)

    G, D = build()
    z, y = inputs(G)
    with pytest.raises(ValueError, match="labels"):
        G(z)
    img = G(z, y)
    with pytest.raises(ValueError, match="labels"):
        D(img)
    assert img.shape == (4, 3, 32, 32) and D(img, y).shape == (4,)
    G.eval()
    with torch.no_grad():
        assert not torch.equal(G(z, y), G(z, (y + 1) % 10))  # labels matter
    (D(G.train()(z, y), y).sum()).backward()
    assert all(p.grad is not None for p in list(G.parameters()) + list(D.parameters()))
    with pytest.raises(ConfigError, match="resolution"):
        build(DataInfo(48, 3, 10))


def test_projection_head_adds_embed_dot_sum_pooled_features():
    _, D = build()
    x = torch.randn(3, 3, 32, 32)
    y = torch.tensor([0, 4, 9])
    D.eval()
    feats = {}
    D.linear.register_forward_hook(lambda m, a, o: feats.__setitem__("h", a[0]))
    out = D(x, y)
    h = feats["h"]
    # Global *sum* pool of ReLU(features)
    last = x
    for i, block in enumerate(D.blocks):
        last = block(last)
    torch.testing.assert_close(h, F.relu(last).sum((2, 3)))
    torch.testing.assert_close(out, D.linear(h).squeeze(1) + (D.embed(y) * h).sum(1))


def test_parameter_counts_match_biggan_table_1():
    """Table 1 counts G + D without G's shared embedding (1000 x 128); SN adds no parameters."""
    def millions(**over) -> float:
        torch.manual_seed(0)
        p = BigGANParams.model_validate({"conditional": True, "attention": 64, "init": "N02",
                                         "g_sn": False, "d_sn": False, **over})
        G, D = build_biggan(p, DataInfo(128, 3, 1000))
        n = sum(q.numel() for q in G.parameters()) + sum(q.numel() for q in D.parameters())
        return (n - sum(q.numel() for q in G.blacklist())) / 1e6

    assert round(millions(ch=64, shared_embedding=False, hierarchical=False), 1) == 81.5
    assert round(millions(ch=64, z_dim=120), 1) == 71.3
    assert round(millions(ch=96, z_dim=120), 1) == 158.3  # the paper's BigGAN (rows 7-8)
    a = build(g_sn=True, d_sn=True)
    b = build(g_sn=False, d_sn=False)
    assert [sum(p.numel() for p in n.parameters()) for n in a] == \
        [sum(p.numel() for p in n.parameters()) for n in b]
