"""The ganzoo_selfmod plugin: SNDCGAN / ResNet of the self-modulation study and norm layers."""

from __future__ import annotations

import pydantic
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ganzoo_selfmod
from ganzoo import DataInfo
from ganzoo.errors import ConfigError
from ganzoo_selfmod.layers import (
    AnyDimBatchNorm,
    BatchNorm,
    ConditionalBatchNorm,
    LabelComposition,
    NormFactory,
    SelfModulatedBatchNorm,
)
from ganzoo_selfmod.networks import (
    DiscriminatorBlock,
    ResNetParams,
    SNDCGANParams,
    build_resnet,
    build_sndcgan,
    unpool,
)

BUILD = {"sndcgan": (build_sndcgan, SNDCGANParams), "resnet": (build_resnet, ResNetParams)}


def build(arch, resolution=32, channels=3, num_classes=0, **params):
    fn, model = BUILD[arch]
    torch.manual_seed(0)
    return fn(model(**params), DataInfo(resolution, channels, num_classes))


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_registers_both_architectures():
    specs = {s.name: s for s in ganzoo_selfmod.register_architectures()}
    assert set(specs) == {"sndcgan", "resnet"}
    assert specs["sndcgan"].params is SNDCGANParams and specs["resnet"].params is ResNetParams
    assert SNDCGANParams().bn_eps == 2e-5 and ResNetParams().bn_eps == 1e-5
    assert ResNetParams().upsample == "unpool"


# -- contract: shapes and range --------------------------------------------------------------------
@pytest.mark.parametrize("arch,resolution,width,channels", [
    ("sndcgan", 32, 1.0, 3),
    ("sndcgan", 128, 0.125, 3),
    ("sndcgan", 32, 0.25, 1),
    ("resnet", 32, 0.5, 3),
    ("resnet", 128, 0.125, 3),
    ("resnet", 32, 0.25, 1),
])
def test_output_shapes_and_range(arch, resolution, width, channels):
    G, D = build(arch, resolution, channels, width=width, g_norm="selfmod")
    assert isinstance(G.z_dim, int) and G.z_dim == 128
    z = torch.rand(3, G.z_dim) * 2 - 1
    x = G(z)
    assert x.shape == (3, channels, resolution, resolution)
    assert x.min() >= -1 and x.max() <= 1
    assert D(x).shape == (3,)


@pytest.mark.parametrize("arch", ["sndcgan", "resnet"])
def test_conditional_shapes(arch):
    G, D = build(arch, 16, 3, num_classes=5, width=0.125, g_norm="cselfmod", projection=True)
    y = torch.tensor([0, 4])
    x = G(torch.randn(2, G.z_dim), y)
    assert x.shape == (2, 3, 16, 16) and D(x, y).shape == (2,)
    with pytest.raises(ValueError, match="labels"):
        G(torch.randn(2, G.z_dim))


def test_bad_resolutions_and_params():
    with pytest.raises(ConfigError, match="resolution 20"):
        build("sndcgan", 20)
    with pytest.raises(ConfigError, match="resolution 48"):
        build("resnet", 48)
    with pytest.raises(pydantic.ValidationError):
        SNDCGANParams(g_norm="layernorm")
    with pytest.raises(pydantic.ValidationError):
        ResNetParams(width=0)
    with pytest.raises(pydantic.ValidationError):
        SNDCGANParams(upsample="nearest")  # resnet-only option


# -- the self-modulated BN layer -------------------------------------------------------------------
def test_selfmod_mlp_shapes_and_init():
    torch.manual_seed(0)
    layer = SelfModulatedBatchNorm(256, z_dim=128)
    assert layer.hidden.weight.shape == (32, 128) and layer.hidden.bias.shape == (32,)
    assert layer.gamma.weight.shape == (256, 32) and layer.beta.weight.shape == (256, 32)
    assert torch.all(layer.gamma.bias == 1.0)
    assert torch.all(layer.beta.bias == 0.0) and torch.all(layer.hidden.bias == 0.0)
    assert abs(layer.gamma.weight.std().item() - 0.02) < 0.003
    assert not layer.bn.affine
    # hidden=0: a plain linear map of z, as compare_gan's num_hidden=0.
    assert SelfModulatedBatchNorm(8, z_dim=16, hidden=0).gamma.weight.shape == (8, 16)


@pytest.mark.parametrize("shape", [(6, 40), (6, 8, 5, 5)])
def test_selfmod_with_zero_heads_is_plain_standardisation(shape):
    torch.manual_seed(1)
    layer = SelfModulatedBatchNorm(shape[1], z_dim=16, eps=2e-5)
    with torch.no_grad():
        layer.gamma.weight.zero_()
        layer.beta.weight.zero_()
    x, z = torch.randn(shape) * 3 + 1, torch.randn(shape[0], 16)
    expected = F.batch_norm(x, None, None, training=True, eps=2e-5)
    torch.testing.assert_close(layer(x, z), expected)


@pytest.mark.parametrize("shape", [(4, 32), (4, 8, 3, 3)])
def test_modulation_depends_on_z(shape):
    torch.manual_seed(2)
    layer = SelfModulatedBatchNorm(shape[1], z_dim=16)
    x, z1 = torch.randn(shape), torch.randn(shape[0], 16)
    z2 = z1.clone()
    z2[0] = torch.randn(16)
    out1, out2 = layer(x, z1), layer(x, z2)
    assert not torch.allclose(out1[0], out2[0])
    torch.testing.assert_close(out1[1:], out2[1:])  # statistics do not depend on z


@pytest.mark.parametrize("arch,expected", [("sndcgan", 4), ("resnet", 7)])
def test_every_bn_in_g_is_modulated(arch, expected):
    G, _ = build(arch, width=0.25, g_norm="selfmod")
    n_bn = sum(isinstance(m, AnyDimBatchNorm) for m in G.modules())
    n_sbn = sum(isinstance(m, SelfModulatedBatchNorm) for m in G.modules())
    assert n_bn == n_sbn == expected  # SNDCGAN: 1 dense + 3 deconv; ResNet32: 3 blocks x 2 + final
    assert not any(isinstance(m, BatchNorm) for m in G.modules())
    if arch == "sndcgan":  # the first norm is the 2-D one, per unit of the 4*4*512c dense output
        assert isinstance(G.fc_norm, SelfModulatedBatchNorm)
        assert G.fc_norm.num_features == 4 * 4 * 128 and G.fc_norm.gamma.out_features == 4 * 4 * 128
    G_bn, _ = build(arch, width=0.25, g_norm="bn")
    assert sum(isinstance(m, BatchNorm) for m in G_bn.modules()) == expected


def test_conditional_layers():
    torch.manual_seed(3)
    cbn = ConditionalBatchNorm(8, num_classes=3)
    x, y = torch.randn(5, 8, 2, 2), torch.tensor([0, 1, 2, 0, 1])
    x_hat = F.batch_norm(x, None, None, training=True, eps=1e-5)
    gamma, beta = 1 + cbn.gamma(y), cbn.beta(y)  # centred at 1 (BigGAN), not compare_gan's raw W y
    expected = x_hat * gamma[:, :, None, None] + beta[:, :, None, None]
    torch.testing.assert_close(cbn(x, None, y), expected)
    comp = LabelComposition(3, 16)
    z = torch.randn(5, 16)
    torch.testing.assert_close(comp(z, y), z + comp.embed_add(y) + z * comp.embed_mul(y))
    assert isinstance(NormFactory("cselfmod", 16, 3)(8), SelfModulatedBatchNorm)


# -- ResNet details --------------------------------------------------------------------------------
def test_unpool_is_zero_insertion():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)
    expected = torch.tensor([[1.0, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]])
    torch.testing.assert_close(unpool(x)[0, 0], expected)
    assert unpool(torch.randn(2, 3, 4, 5)).shape == (2, 3, 8, 10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_unpool_keeps_channels_last_with_the_same_values_and_gradients(dtype):
    """The fast path's channels_last survives the unpooling; values and gradients equal compare_gan's
    stack-and-reshape form exactly."""
    def reference(x):
        n, c, h, w = x.shape
        x = torch.stack((x, torch.zeros_like(x)), dim=-1).reshape(n, c, h, 2 * w)
        return torch.stack((x, torch.zeros_like(x)), dim=3).reshape(n, c, 2 * h, 2 * w)

    torch.manual_seed(0)
    for memory_format in (torch.channels_last, torch.contiguous_format):
        x = torch.randn(4, 6, 5, 3).to(dtype).contiguous(memory_format=memory_format).requires_grad_()
        ours, ref = unpool(x), reference(x)
        assert torch.equal(ours, ref)
        assert ours.is_contiguous(memory_format=memory_format)
        grad = torch.randn_like(ref)
        assert torch.equal(torch.autograd.grad(ours, x, grad)[0], torch.autograd.grad(ref, x, grad)[0])


def test_nearest_upsampling_option():
    G, _ = build("resnet", 16, width=0.125, upsample="nearest")
    assert G(torch.randn(2, G.z_dim)).shape == (2, 3, 16, 16)


def test_resnet_layouts():
    _, D = build("resnet", 32, width=1.0, spectral_norm=False)
    assert len(D.blocks) == 4
    assert [b.down for b in D.blocks] == [True, True, False, False]
    assert [b.preactivate for b in D.blocks] == [False, True, True, True]
    for block in D.blocks:
        assert isinstance(block, DiscriminatorBlock)
        assert block.conv2.out_channels == 128
        assert isinstance(block.shortcut, nn.Conv2d) and block.shortcut.kernel_size == (3, 3)
    G, D = build("resnet", 128, width=0.125)
    assert [b.conv2.out_channels for b in G.blocks] == [64, 32, 32, 16, 8]  # 512,256,256,128,64 / 8
    assert [b.conv2.out_channels for b in D.blocks] == [8, 16, 32, 32, 64, 64]  # 64..512 / 8
    assert all(b.down for b in D.blocks)  # 6 downsamplings: 128 -> 2


# -- conditioning and spectral norm ----------------------------------------------------------------
@pytest.mark.parametrize("g_norm", ["cbn", "cselfmod"])
def test_conditional_generator_depends_on_y(g_norm):
    G, _ = build("sndcgan", 16, num_classes=4, width=0.125, g_norm=g_norm)
    z = torch.randn(4, G.z_dim)
    assert not torch.allclose(G(z, torch.tensor([0, 1, 2, 3])), G(z, torch.tensor([3, 2, 1, 0])))


@pytest.mark.parametrize("arch", ["sndcgan", "resnet"])
def test_projection_depends_on_y(arch):
    _, D = build(arch, 16, num_classes=4, width=0.125, projection=True)
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    assert not torch.allclose(D(x, torch.tensor([0, 1, 2, 3])), D(x, torch.tensor([3, 2, 1, 0])))


@pytest.mark.parametrize("arch", ["sndcgan", "resnet"])
@pytest.mark.parametrize("field,value",
                         [("g_norm", "cbn"), ("g_norm", "cselfmod"), ("projection", True)])
def test_conditional_options_need_labels(arch, field, value):
    with pytest.raises(ConfigError, match=f"model.params.{field}"):
        build(arch, 16, num_classes=0, width=0.125, **{field: value})


@pytest.mark.parametrize("arch", ["sndcgan", "resnet"])
def test_spectral_norm_changes_d(arch):
    _, D_sn = build(arch, 16, width=0.125, spectral_norm=True)
    _, D_plain = build(arch, 16, width=0.125, spectral_norm=False)
    def weighted(D):
        return [m for m in D.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]

    layers = list(zip(weighted(D_sn), weighted(D_plain)))
    assert len(weighted(D_sn)) == len(weighted(D_plain))
    assert all(hasattr(a, "parametrizations") for a, _ in layers)
    assert layers and all(not hasattr(b, "parametrizations") for _, b in layers)
    with torch.no_grad():  # same raw weights: only the normalisation differs
        for a, b in layers:
            b.weight.copy_(a.parametrizations.weight.original)
            b.bias.copy_(a.bias)
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    assert not torch.allclose(D_sn(x), D_plain(x))
    W = D_sn.fc.weight  # the normalised weight: largest singular value about 1
    assert abs(torch.linalg.matrix_norm(W, 2).item() - 1.0) < 1e-3


# -- parameter counts, derived by hand -------------------------------------------------------------
def test_sndcgan_parameter_counts_32x32():
    G, D = build("sndcgan", 32, 3)  # full width, g_norm="bn", z_dim=128
    g_expected = (
        (128 * 8192 + 8192)  # dense z -> 4*4*512 = 8192, with bias     = 1,056,768
        + 2 * 8192  # BN on the flat 8192 units: gamma, beta               =    16,384
        + (512 * 256 * 16 + 256) + 2 * 256  # deconv 4x4 512->256, BN   = 2,097,408 + 512
        + (256 * 128 * 16 + 128) + 2 * 128  # deconv 4x4 256->128, BN   =   524,416 + 256
        + (128 * 64 * 16 + 64) + 2 * 64  # deconv 4x4 128->64, BN       =   131,136 + 128
        + (64 * 3 * 9 + 3)  # conv 3x3 64->3                           =     1,731
    )
    assert g_expected == 3_828_739
    assert n_params(G) == g_expected
    d_expected = (
        (3 * 64 * 9 + 64)  # conv 3x3 3->64                            =     1,792
        + (64 * 128 * 16 + 128)  # conv 4x4 s2 64->128                 =   131,200
        + (128 * 128 * 9 + 128)  # conv 3x3 128->128                   =   147,584
        + (128 * 256 * 16 + 256)  # conv 4x4 s2 128->256               =   524,544
        + (256 * 256 * 9 + 256)  # conv 3x3 256->256                   =   590,080
        + (256 * 512 * 16 + 512)  # conv 4x4 s2 256->512               = 2,097,664
        + (512 * 512 * 9 + 512)  # conv 3x3 512->512                   = 2,359,808
        + (4 * 4 * 512 + 1)  # dense 8192 -> 1                         =     8,193
    )
    assert d_expected == 5_860_865
    assert n_params(D) == d_expected  # spectral norm adds buffers (u, v), not parameters
    # Self-modulation swaps each BN's 2F affine for an MLP: z*32 + 32 + 2*(32*F + F).
    G_sm, _ = build("sndcgan", 32, 3, g_norm="selfmod")
    extra = sum((128 * 32 + 32) + 2 * (32 * f + f) - 2 * f for f in (8192, 256, 128, 64))
    assert n_params(G_sm) == g_expected + extra


@pytest.mark.parametrize("arch", ["sndcgan", "resnet"])
@pytest.mark.parametrize("kind, index", [("selfmod-first", 0), ("selfmod-last", -1)])
def test_single_layer_modulation_keeps_only_one(arch, kind, index):
    """The paper's "where to apply self-modulation?" ablation: one modulated BN, the rest plain."""
    from ganzoo.registry import load_registry
    from ganzoo_selfmod.layers import BatchNorm, SelfModulatedBatchNorm

    spec = load_registry(autoload=False).get("architectures", arch)
    full, _ = spec.build(spec.params(g_norm="selfmod", width=0.125), DataInfo(32, 3, 0))
    single, _ = spec.build(spec.params(g_norm=kind, width=0.125), DataInfo(32, 3, 0))
    names = [n for n, m in full.named_modules() if isinstance(m, SelfModulatedBatchNorm)]
    kept = [n for n, m in single.named_modules() if isinstance(m, SelfModulatedBatchNorm)]
    plain = [n for n, m in single.named_modules() if isinstance(m, BatchNorm)]
    assert kept == [names[index]] and sorted(plain) == sorted(set(names) - set(kept))
    assert single(torch.randn(4, single.z_dim)).shape == (4, 3, 32, 32)
