"""BigGAN at 256 and 512 px and BigGAN-deep: stage layouts, the published parameter counts, the
hierarchical split at the larger resolutions, and BigGAN-deep's blocks and conditioning."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from ganzoo_biggan.deep import BigGANDeepParams, DeepDBlock, DeepGBlock, build_biggan_deep
from ganzoo_biggan.layers import ConditionalBatchNorm, LayerConfig, SelfAttention
from ganzoo_biggan.networks import BigGANParams, build_biggan

from ganzoo import DataInfo
from ganzoo.errors import ConfigError
from ganzoo.registry import load_registry


def count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def meta_build(build, params, info):
    """Full-size networks without allocating memory: parameters live on the meta device. Spectral
    norm is left off (it adds buffers, no parameters, and its power iterations are slow on meta)."""
    params = params.model_copy(update={"g_sn": False, "d_sn": False})
    with torch.device("meta"):
        return build(params, info)


def test_biggan_deep_is_registered():
    reg = load_registry(autoload=False)
    spec = reg.get("architectures", "biggan-deep")
    assert spec.build is build_biggan_deep and spec.params is BigGANDeepParams


@pytest.mark.parametrize("res, millions", [(128, 50.4), (256, 55.9), (512, 56.2)])
def test_biggan_deep_generator_counts_match_the_published_models(res, millions):
    """huggingface/pytorch-pretrained-BigGAN README: the TF-Hub BigGAN-deep generators have 50.4M,
    55.9M and 56.2M parameters at 128, 256 and 512 px (ch 128, z 128, shared embedding 128 of 1000
    classes included, attention at 64; launch_BigGAN_deep.sh's settings)."""
    p = BigGANDeepParams(conditional=True, attention=64)
    G, D = meta_build(build_biggan_deep, p, DataInfo(res, 3, 1000))
    assert round(count(G) / 1e6, 1) == millions
    assert G.z_dim == 128 and G.linear.in_features == 256  # cat(z, shared(y))
    assert [len(s) for s in G.stages].count(2) == len(G.stages) - 1  # 2 blocks + 1 attention stage
    assert D.resolutions[-1] == 4 and len(D.stages) == {128: 5, 256: 6, 512: 7}[res]
    assert G.output_conv.out_channels == 128  # ch filters, the first 3 kept (as the code and TF-Hub)


def test_biggan_at_256_and_512_follows_the_papers_tables_5_and_6():
    # Table 5 (256): G stages 16, 8, 8, 4, 2, 1 ch; non-local at 128 in G and 64 in D.
    p = BigGANParams(ch=96, conditional=True, z_dim=140, attention=128, d_attention=64)
    G, D = meta_build(build_biggan, p, DataInfo(256, 3, 1000))
    assert [b.conv2.out_channels // 96 for b in G.blocks] == [16, 8, 8, 4, 2, 1]
    assert [G.resolutions[int(k)] for k in G.attention] == [128]
    assert [D.resolutions[int(k)] for k in D.attention] == [64]
    assert [b.conv2.out_channels // 96 for b in D.blocks] == [1, 2, 4, 8, 8, 16, 16]
    assert G.chunk == 20 and G.z_dim == 140  # 7 slots of 20: the TF-Hub module's z
    # Table 6 (512): one more 1 ch block in each; non-local back at 64 in both.
    p = BigGANParams(ch=96, conditional=True, z_dim=128, attention=64)
    G, D = meta_build(build_biggan, p, DataInfo(512, 3, 1000))
    assert [b.conv2.out_channels // 96 for b in G.blocks] == [16, 8, 8, 4, 2, 1, 1]
    assert [b.conv2.out_channels // 96 for b in D.blocks] == [1, 1, 2, 4, 8, 8, 16, 16]
    assert [G.resolutions[int(k)] for k in G.attention] == [64] == [D.resolutions[int(k)] for k in D.attention]
    assert G.chunk == 16 and G.z_dim == 128
    with pytest.raises(ConfigError, match="d_attention"):
        build_biggan(BigGANParams(ch=1, attention=128, d_attention=256), DataInfo(256, 3, 0))
    with pytest.raises(ConfigError, match="resolution 1024"):
        build_biggan(BigGANParams(ch=1), DataInfo(1024, 3, 0))


@pytest.mark.parametrize("res", [256, 512])
def test_hierarchical_chunks_reach_only_their_block_at_high_resolution(res):
    torch.manual_seed(0)
    G, _ = build_biggan(BigGANParams(ch=1, conditional=True, z_dim=140), DataInfo(res, 3, 10))
    nb = len(G.blocks)
    assert nb == {256: 6, 512: 7}[res] and G.chunk == 140 // (nb + 1)
    seen: dict[str, torch.Tensor] = {}
    for i, block in enumerate(G.blocks):
        block.bn1.register_forward_hook(lambda m, a, o, i=i: seen.__setitem__(i, a[1].detach()))
    G.linear.register_forward_hook(lambda m, a, o: seen.__setitem__("linear", a[0].detach()))
    g = torch.Generator().manual_seed(1)
    z, y = torch.randn(2, G.z_dim, generator=g), torch.tensor([3, 7])
    G.eval()
    with torch.no_grad():
        G(z, y)
        base = dict(seen)
        for j in range(nb + 1):
            z2 = z.clone()
            z2[:, j * G.chunk:(j + 1) * G.chunk] += 1.0
            G(z2, y)
            assert torch.equal(seen["linear"], base["linear"]) == (j != 0)
            for i in range(nb):
                assert torch.equal(seen[i], base[i]) == (j != i + 1), (j, i)
                chunk = z[:, (i + 1) * G.chunk:(i + 2) * G.chunk]
                assert torch.equal(base[i], torch.cat([G.shared(y), chunk], 1))


def test_deep_g_block_skip_drops_channels_and_upsamples():
    torch.manual_seed(0)
    block = DeepGBlock(16, 8, LayerConfig(sn=False, init="N02"), cond_dim=5, bn_eps=1e-5, up=True, ratio=4)
    assert block.conv1.out_channels == 4 and block.conv4.in_channels == 4  # bottleneck Cin / 4
    assert not [n for n, _ in block.named_parameters() if "sc" in n]  # no learned shortcut
    x, c = torch.randn(3, 16, 4, 4), torch.randn(3, 5)
    out = block(x, c)
    with torch.no_grad():
        block.conv4.weight.zero_()
        block.conv4.bias.zero_()
    torch.testing.assert_close(block(x, c), F.interpolate(x[:, :8], scale_factor=2, mode="nearest"))
    assert out.shape == (3, 8, 8, 8) and not torch.allclose(out, block(x, c))
    with pytest.raises(ValueError, match="drops channels"):
        DeepGBlock(8, 16, LayerConfig(), 5, 1e-5, True, 4)


def test_deep_d_block_skip_pools_then_adds_learned_channels():
    torch.manual_seed(0)
    block = DeepDBlock(8, 16, LayerConfig(sn=False, init="N02"), down=True, ratio=4)
    assert block.conv1.out_channels == 4 and block.conv_sc.out_channels == 8  # Cout/4; Cout - Cin
    x = torch.randn(2, 8, 8, 8)
    pooled = F.avg_pool2d(x, 2)
    torch.testing.assert_close(block.shortcut(x), torch.cat([pooled, block.conv_sc(pooled)], 1))
    h = block.conv3(F.relu(block.conv2(F.relu(block.conv1(F.relu(x))))))
    expect = block.conv4(F.avg_pool2d(F.relu(h), 2)) + block.shortcut(x)
    torch.testing.assert_close(block(x), expect)
    same = DeepDBlock(16, 16, LayerConfig(sn=False), down=False, ratio=4)
    assert same.conv_sc is None
    y = torch.randn(2, 16, 4, 4)
    assert torch.equal(same.shortcut(y), y)


@pytest.mark.parametrize("conditional", [True, False])
def test_deep_every_block_sees_all_of_z_with_the_class_embedding(conditional):
    torch.manual_seed(0)
    info = DataInfo(32, 3, 10 if conditional else 0)
    G, D = build_biggan_deep(BigGANDeepParams(ch=2, conditional=conditional, z_dim=20, shared_dim=6), info)
    bns = [m for m in G.modules() if isinstance(m, ConditionalBatchNorm) and m.conditional]
    assert len(bns) == 4 * 2 * 3  # 4 BNs per block, 2 blocks per stage, 3 stages at 32 px
    seen = []
    for m in bns:
        m.register_forward_hook(lambda mod, a, o: seen.append(a[1].detach()))
    z = torch.randn(4, 20)
    y = torch.tensor([0, 1, 2, 9]) if conditional else None
    G.eval()
    with torch.no_grad():
        img = G(z, y)
    expect = torch.cat([z, G.shared(y)], 1) if conditional else z
    assert len(seen) == len(bns) and all(torch.equal(c, expect) for c in seen)
    assert G.linear.in_features == expect.shape[1]
    assert img.shape == (4, 3, 32, 32) and D(img, y).shape == (4,)
    # The output conv has max(ch, channels) filters (ch 2 here), of which the image keeps 3.
    assert G.output_conv.out_channels == 3


def test_deep_stage_layout_depth_and_attention():
    G, D = meta_build(build_biggan_deep, BigGANDeepParams(conditional=True, attention=64),
                      DataInfo(128, 3, 1000))
    stage_kinds = [[type(b).__name__ for b in s] for s in G.stages]
    assert stage_kinds[3] == ["DeepGBlock", "DeepGBlock", "SelfAttention"] and G.resolutions[3] == 64
    ups = [[b.up for b in s if isinstance(b, DeepGBlock)] for s in G.stages]
    assert all(u == [False, True] for u in ups)  # the stage's last block upsamples
    assert [s[0].conv4.out_channels // 128 for s in D.stages] == [2, 4, 8, 16, 16]
    assert isinstance(D.stages[0][-1], SelfAttention) and D.resolutions[0] == 64
    G3, D3 = meta_build(build_biggan_deep, BigGANDeepParams(ch=4, g_depth=3, d_depth=1),
                        DataInfo(64, 3, 0))
    assert all(len(s) == 3 for s in G3.stages) and all(len(s) == 1 for s in D3.stages)
    with pytest.raises(ConfigError, match="resolution 48"):
        build_biggan_deep(BigGANDeepParams(ch=1), DataInfo(48, 3, 0))
