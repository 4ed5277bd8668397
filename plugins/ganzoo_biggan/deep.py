"""BigGAN-deep (Brock, Donahue & Simonyan, ICLR 2019, appendix B of the final version) at 32-512 px.

Implemented after BigGAN-PyTorch's ``BigGANdeep.py`` (``GBlock``, ``DBlock``, ``G_arch``,
``D_arch``, ``Generator``, ``Discriminator``) and its ``scripts/launch_BigGAN_deep.sh`` (ch 128,
G and D depth 2, attention at 64 in both, dim_z 128, shared_dim 128, ``--hier``). What differs
from BigGAN (:mod:`ganzoo_biggan.networks`):

* **Bottleneck residual blocks** with 1x1 convs that divide the channels by ``channel_ratio`` (4).
  G block: ``bn1 -> ReLU -> conv1x1 (Cin -> Cin/4) -> bn2 -> ReLU -> [up x2] -> conv3x3 -> bn3 ->
  ReLU -> conv3x3 -> bn4 -> ReLU -> conv1x1 (-> Cout)``; its skip connection is parameter-free:
  **channel drop** ``x[:, :Cout]`` when Cout < Cin, then the same nearest upsampling. D block:
  ``ReLU -> conv1x1 (Cin -> Cout/4) -> ReLU -> conv3x3 -> ReLU -> conv3x3 -> ReLU -> [avgpool2] ->
  conv1x1 (-> Cout)``; skip: ``[avgpool2]`` then, when Cout > Cin, ``cat([x, conv1x1(x)])`` with
  the 1x1 conv giving the ``Cout - Cin`` missing channels.
* **Two blocks per stage** (``g_depth``, ``d_depth``): in G the stage's first blocks keep Cin and
  the last one upsamples to Cout; in D the first block downsamples to Cout and the others keep it.
  (The code's ``G_depth`` other than 2 feeds mismatched channels; here any depth is consistent,
  and depth 2 is exactly the code's.)
* **z is not split**: the whole z is concatenated with the shared class embedding, ``c =
  cat(z, shared(y))``, and that one vector feeds the first linear layer (``z_dim + shared_dim ->
  4 x 4 x 16 ch``) and every conditional BN of every block. Unconditional use: ``c = z``.
* **D has a stem** 3x3 conv (3 -> ``D_in[0]`` ch) and no non-pre-activated first block; every block
  is pre-activated.
* G's output conv is 3x3 from the last stage's channels to ``ch`` channels, of which the first 3
  (the image channels) are kept, exactly as the code (``which_conv(out[-1], 128)`` then
  ``h[:, :3]``, with ch = 128) and the TF-Hub module (``conv_to_rgb`` ch -> ch, then ``[:, :3]``).
  The unused output filters still count in its spectral norm. (Widths below the image channels
  keep ``channels`` filters.)

Channel multipliers (x ch). G is BigGAN's ``G_arch`` (:data:`ganzoo_biggan.networks.G_ARCH`).
D (``D_arch`` of ``BigGANdeep.py``): 32: in [4, 4, 4], out [4, 4, 4], downsample [T, T, F];
64: in [1, 2, 4, 8], out [2, 4, 8, 16]; 128: in [1, 2, 4, 8, 16], out [2, 4, 8, 16, 16];
256: in [1, 2, 4, 8, 8, 16], out [2, 4, 8, 8, 16, 16]; every stage downsamples at 64-512.
``BigGANdeep.py`` has **no D at 512**: the one here, in [1, 1, 2, 4, 8, 8, 16], out [1, 2, 4, 8,
8, 16, 16], follows the rule the 128 and 256 entries obey (BigGAN's ``D_arch`` without its first
block, every stage downsampling). This 512 D is not checked against any source.

Parameter counts (ch 128, conditional on 1,000 classes, z 128, shared 128, attention at 64),
G including its shared embedding: 128 px 50.4M, 256 px 55.9M, 512 px 56.2M, equal to the counts
huggingface's pytorch-pretrained-BigGAN README gives for the TF-Hub BigGAN-deep generators
(``tests/test_biggan_deep.py`` checks them on the meta device). D: 128 px 34.6M, 256 px 38.2M,
512 px 38.3M; no published D count was found to check these against (the paper text shipped with
ganzoo is arXiv v1, which predates BigGAN-deep and gives no BigGAN-deep figure).

Deviations, as for BigGAN: ``conditional`` defaults to false (ganzoo's contract calls ``G(z)``),
``width`` scales ch for CPU runs, SN eps is 1e-6, torch's spectral norm runs 15 power iterations
when attached, ``bn_eps`` covers every BN of G.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator
from torch import nn

from ganzoo import DataInfo, Params
from ganzoo.api import ConfigError
from ganzoo_biggan.layers import (
    ConditionalBatchNorm,
    LayerConfig,
    SelfAttention,
    conv,
    embedding,
    linear,
    upsample,
)
from ganzoo_biggan.networks import (
    BOTTOM_WIDTH,
    G_ARCH,
    SN_EPS,
    check_attention,
    d_attention,
    parse_attention,
    sorted_attention,
)

# BigGANdeep.py D_arch, as multiples of ch (512: extrapolated, see the module docstring).
DEEP_D_ARCH = {
    32: {"in": [4, 4, 4], "out": [4, 4, 4], "down": [True, True, False]},
    64: {"in": [1, 2, 4, 8], "out": [2, 4, 8, 16], "down": [True] * 4},
    128: {"in": [1, 2, 4, 8, 16], "out": [2, 4, 8, 16, 16], "down": [True] * 5},
    256: {"in": [1, 2, 4, 8, 8, 16], "out": [2, 4, 8, 8, 16, 16], "down": [True] * 6},
    512: {"in": [1, 1, 2, 4, 8, 8, 16], "out": [1, 2, 4, 8, 8, 16, 16], "down": [True] * 7},
}


class BigGANDeepParams(Params):
    """BigGAN-deep as in BigGAN-PyTorch's ``BigGANdeep.py`` and ``launch_BigGAN_deep.sh``."""

    ch: int = Field(128, gt=0, description="channel multiplier ch (paper and script: 128)")
    width: float = Field(1.0, gt=0, description="scales ch, max(1, round(ch * width)), for small "
                                                "CPU runs (1.0 = the paper's network)")
    z_dim: int = Field(128, gt=0, description="latent size (all of z reaches every block)")
    conditional: bool = Field(False, description="class-conditional G (shared embedding) and D "
                                                 "(projection); needs a labelled dataset. The "
                                                 "paper's model is conditional")
    shared_dim: int = Field(128, gt=0, description="size of the shared class embedding")
    g_depth: int = Field(2, gt=0, description="G residual blocks per resolution stage")
    d_depth: int = Field(2, gt=0, description="D residual blocks per resolution stage")
    channel_ratio: int = Field(4, gt=0, description="bottleneck: hidden = channels / ratio")
    attention: tuple[int, ...] = Field((), description="resolutions after which G and D get a "
                                                       "self-attention block ([] none; paper: [64])")
    d_attention: tuple[int, ...] | None = Field(None, description="D's attention resolutions when "
                                                                  "they differ from G's")
    g_sn: bool = Field(True, description="spectral norm on G's convs, linears and BN projections")
    d_sn: bool = Field(True, description="spectral norm on every D layer")
    init: Literal["ortho", "N02"] = Field("ortho", description="weight init: orthogonal (paper) "
                                                               "or N(0, 0.02)")
    projection: bool = Field(True, description="projection head sum(embed(y) * h) in D when "
                                               "conditional")
    bn_eps: float = Field(1e-5, gt=0, description="eps of every BN in G")

    @field_validator("attention", "d_attention", mode="before")
    @classmethod
    def _attention_list(cls, v):
        return parse_attention(v)

    @field_validator("attention", "d_attention")
    @classmethod
    def _attention_sorted(cls, v: tuple[int, ...] | None) -> tuple[int, ...] | None:
        return sorted_attention(v)


# -- blocks ----------------------------------------------------------------------------------------
class DeepGBlock(nn.Module):
    """BigGAN-deep G block: four conditional BN-ReLU-conv steps around a bottleneck, channel drop."""

    def __init__(self, cin: int, cout: int, cfg: LayerConfig, cond_dim: int, bn_eps: float,
                 up: bool, ratio: int) -> None:
        super().__init__()
        if cout > cin:
            raise ValueError(f"a BigGAN-deep G block drops channels, it cannot grow {cin} -> {cout}")
        hidden = max(1, cin // ratio)
        self.cout, self.up = cout, up
        self.bn1 = ConditionalBatchNorm(cin, cond_dim, 0, cfg, bn_eps)
        self.conv1 = conv(cin, hidden, 1, cfg)
        self.bn2 = ConditionalBatchNorm(hidden, cond_dim, 0, cfg, bn_eps)
        self.conv2 = conv(hidden, hidden, 3, cfg)
        self.bn3 = ConditionalBatchNorm(hidden, cond_dim, 0, cfg, bn_eps)
        self.conv3 = conv(hidden, hidden, 3, cfg)
        self.bn4 = ConditionalBatchNorm(hidden, cond_dim, 0, cfg, bn_eps)
        self.conv4 = conv(hidden, cout, 1, cfg)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        h = self.conv1(F.relu(self.bn1(x, c)))
        h = F.relu(self.bn2(h, c))
        if self.up:
            h = upsample(h)
        h = self.conv3(F.relu(self.bn3(self.conv2(h), c)))
        h = self.conv4(F.relu(self.bn4(h, c)))
        x = x[:, : self.cout]
        return h + (upsample(x) if self.up else x)


class DeepDBlock(nn.Module):
    """BigGAN-deep D block: pre-activated bottleneck; skip pools, then adds 1x1-conv channels."""

    def __init__(self, cin: int, cout: int, cfg: LayerConfig, down: bool, ratio: int) -> None:
        super().__init__()
        if cout < cin:
            raise ValueError(f"a BigGAN-deep D block only adds channels, not {cin} -> {cout}")
        hidden = max(1, cout // ratio)
        self.down = down
        self.conv1 = conv(cin, hidden, 1, cfg)
        self.conv2 = conv(hidden, hidden, 3, cfg)
        self.conv3 = conv(hidden, hidden, 3, cfg)
        self.conv4 = conv(hidden, cout, 1, cfg)
        self.conv_sc = conv(cin, cout - cin, 1, cfg) if cout > cin else None

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2) if self.down else x

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        x = self._pool(x)
        return x if self.conv_sc is None else torch.cat([x, self.conv_sc(x)], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.relu(x))
        h = self.conv3(F.relu(self.conv2(F.relu(h))))
        h = self.conv4(self._pool(F.relu(h)))
        return h + self.shortcut(x)


# -- networks --------------------------------------------------------------------------------------
class BigGANDeepGenerator(nn.Module):
    """BigGAN-deep G. ``G(z, y=None)``; every block's BNs read ``cat(z, shared(y))``."""

    def __init__(self, resolution: int, channels: int, ch: int, z_dim: int, num_classes: int,
                 shared_dim: int, depth: int, ratio: int, attention: tuple[int, ...],
                 cfg: LayerConfig, bn_eps: float) -> None:
        super().__init__()
        arch = G_ARCH[resolution]
        cin = [m * ch for m in arch["in"]]
        cout = [m * ch for m in arch["out"]]
        self.z_dim, self.num_classes, self.channels = z_dim, num_classes, channels
        self.resolutions = [BOTTOM_WIDTH * 2 ** (i + 1) for i in range(len(cin))]
        self.c0 = cin[0]
        self.shared = embedding(num_classes, shared_dim, cfg, sn=False) if num_classes else None
        cond_dim = z_dim + (shared_dim if num_classes else 0)
        self.linear = linear(cond_dim, cin[0] * BOTTOM_WIDTH ** 2, cfg)
        self.stages = nn.ModuleList()
        for i, (a, b) in enumerate(zip(cin, cout)):
            blocks = [DeepGBlock(a, a, cfg, cond_dim, bn_eps, False, ratio) for _ in range(depth - 1)]
            blocks.append(DeepGBlock(a, b, cfg, cond_dim, bn_eps, True, ratio))
            if self.resolutions[i] in attention:
                blocks.append(SelfAttention(b, cfg))
            self.stages.append(nn.ModuleList(blocks))
        self.output_bn = ConditionalBatchNorm(cout[-1], 0, 0, cfg, bn_eps)  # plain affine BN
        self.output_conv = conv(cout[-1], max(channels, ch), 3, cfg)

    def blacklist(self) -> list[nn.Parameter]:
        """Parameters the orthogonal regulariser leaves alone: the shared class embedding."""
        return list(self.shared.parameters()) if self.shared is not None else []

    def condition(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """``cat(z, shared(y))`` (``z`` alone when unconditional): the linear layer's and BNs' input."""
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"G expects z of shape [N, {self.z_dim}], got {tuple(z.shape)}")
        if self.shared is None:
            return z
        if y is None:
            raise ValueError("this BigGAN-deep generator is class-conditional: call G(z, y) with "
                             "integer labels y of shape [N]")
        return torch.cat([z, self.shared(y)], 1)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        c = self.condition(z, y)
        h = self.linear(c).view(z.shape[0], self.c0, BOTTOM_WIDTH, BOTTOM_WIDTH)
        for stage in self.stages:
            for block in stage:
                h = block(h) if isinstance(block, SelfAttention) else block(h, c)
        h = self.output_conv(F.relu(self.output_bn(h)))
        return torch.tanh(h[:, : self.channels])


class BigGANDeepDiscriminator(nn.Module):
    """BigGAN-deep D. ``D(x, y=None) -> [N]`` logits; ``y`` is needed with a projection head."""

    def __init__(self, resolution: int, channels: int, ch: int, num_classes: int, projection: bool,
                 depth: int, ratio: int, attention: tuple[int, ...], cfg: LayerConfig) -> None:
        super().__init__()
        arch = DEEP_D_ARCH[resolution]
        cin = [m * ch for m in arch["in"]]
        cout = [m * ch for m in arch["out"]]
        self.input_conv = conv(channels, cin[0], 3, cfg)
        res, self.resolutions = resolution, []
        self.stages = nn.ModuleList()
        for a, b, down in zip(cin, cout, arch["down"]):
            res = res // 2 if down else res
            self.resolutions.append(res)
            blocks = [DeepDBlock(a, b, cfg, down, ratio)]
            blocks += [DeepDBlock(b, b, cfg, False, ratio) for _ in range(depth - 1)]
            if res in attention:
                blocks.append(SelfAttention(b, cfg))
            self.stages.append(nn.ModuleList(blocks))
        self.linear = linear(cout[-1], 1, cfg)
        self.embed = embedding(num_classes, cout[-1], cfg) if num_classes and projection else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.input_conv(x)
        for stage in self.stages:
            for block in stage:
                h = block(h)
        h = F.relu(h).sum(dim=(2, 3))  # global sum pooling
        out = self.linear(h).squeeze(1)
        if self.embed is not None:
            if y is None:
                raise ValueError("this BigGAN-deep discriminator has a projection head: call "
                                 "D(x, y) with integer labels y of shape [N]")
            out = out + (self.embed(y) * h).sum(dim=1)
        return out


def build_biggan_deep(params: BigGANDeepParams, info: DataInfo) -> tuple[nn.Module, nn.Module]:
    """``(G, D)`` for ``info``'s resolution (32 to 512), channels and classes."""
    if info.resolution not in DEEP_D_ARCH:
        raise ConfigError(f"architecture 'biggan-deep': resolution {info.resolution} is not "
                          f"supported (use one of {sorted(DEEP_D_ARCH)})")
    if params.conditional and info.num_classes <= 0:
        raise ConfigError("model.params.conditional: true needs a labelled dataset")
    num_classes = info.num_classes if params.conditional else 0
    ch = max(1, round(params.ch * params.width))
    G = BigGANDeepGenerator(info.resolution, info.channels, ch, params.z_dim, num_classes,
                            params.shared_dim, params.g_depth, params.channel_ratio,
                            params.attention, LayerConfig(params.g_sn, SN_EPS, params.init),
                            params.bn_eps)
    D = BigGANDeepDiscriminator(info.resolution, info.channels, ch, num_classes, params.projection,
                                params.d_depth, params.channel_ratio, d_attention(params),
                                LayerConfig(params.d_sn, SN_EPS, params.init))
    check_attention(params, G.resolutions, D.resolutions, info.resolution)
    return G, D
