"""BigGAN generator and discriminator at 32, 64, 128, 256 and 512 px.

Brock, Donahue & Simonyan (ICLR 2019), sections 3-4 and appendices B-C, implemented after the
authors' PyTorch code, BigGAN-PyTorch (``BigGAN.py``: ``G_arch``, ``D_arch``, ``Generator``,
``Discriminator``; implementation notes section C). Layers are in :mod:`ganzoo_biggan.layers`.

**Generator.** ``z`` (and labels ``y`` when ``conditional``) -> linear -> ``4 x 4 x (G_in[0] ch)`` ->
one :class:`~ganzoo_biggan.layers.GBlock` per stage (x2 nearest upsampling each) with an optional
self-attention block after the stage whose output resolution is listed in ``attention`` -> BN ->
ReLU -> conv3x3 -> tanh. Channel multipliers (``G_arch``): 32: in = out = [4, 4, 4];
64: in [16, 16, 8, 4], out [16, 8, 4, 2]; 128: in [16, 16, 8, 4, 2], out [16, 8, 4, 2, 1];
256: in [16, 16, 8, 8, 4, 2], out [16, 8, 8, 4, 2, 1]; 512: in [16, 16, 8, 8, 4, 2, 1], out
[16, 8, 8, 4, 2, 1, 1] (the paper's Tables 4-6 list the same stages).

* ``shared_embedding``: one ``nn.Embedding(num_classes, shared_dim)`` (no SN: SN on it "randomly
  cripples G"), whose output every conditional BN projects linearly (bias-free, SN when ``g_sn``)
  to its gains (centred at 1) and biases. Otherwise each BN has its own class embeddings for gain
  and bias (the CIFAR script).
* ``hierarchical``: z is split into ``num_blocks + 1`` equal chunks (``z_dim`` is silently reduced
  to ``chunk * (num_blocks + 1)``, as the code does: ``G.z_dim`` is the effective size); the first
  chunk feeds the linear layer and block ``i`` receives ``cat(shared(y), z_{i+1})`` for both of its
  BNs. Unconditionally, a block's BNs are conditioned on its z chunk alone. Without hierarchy the
  whole z feeds the linear layer and the blocks get ``shared(y)`` only (or plain affine BN when
  there are no classes either).

**Discriminator.** One :class:`~ganzoo_biggan.layers.DBlock` per stage (wide, block 0 without
pre-activation), optional self-attention, then ReLU -> global **sum** pool -> linear -> 1, plus
the projection ``sum(embed(y) * h)`` when conditional. ``D_arch``: 32: in [3, 4, 4, 4], out
[4, 4, 4, 4], downsample [T, T, F, F]; 64: in [3, 1, 2, 4, 8], out [1, 2, 4, 8, 16], downsample
[T, T, T, T, F]; 128: in [3, 1, 2, 4, 8, 16], out [1, 2, 4, 8, 16, 16], downsample [T x 5, F];
256: in [3, 1, 2, 4, 8, 8, 16], out [1, 2, 4, 8, 8, 16, 16], downsample [T x 6, F]; 512: in
[3, 1, 1, 2, 4, 8, 8, 16], out [1, 1, 2, 4, 8, 8, 16, 16], downsample [T x 7, F].

**Attention** is a switch (``attention``, and ``d_attention`` when D's differs from G's). The
paper's placements (arXiv v1, Tables 4-6): 128: G and D at 64; 256: **G at 128, D at 64**
("memory constraints prevent us from moving the non-local block in D"); 512: both at 64. The
code takes them from the command line (``--G_attn``, ``--D_attn``, default 64).

Spectral norm (``g_sn``, ``d_sn``) covers every conv, linear and projection of the network (D's
class embedding included, G's shared embedding and unshared BN embeddings excluded), eps 1e-6 as the
ImageNet scripts. Parameter counts match BigGAN Table 1 once G's shared embedding is left out (the
paper's count omits it): 128x128, ch 96, shared + hierarchical: 158.3M. At 256 and 512 the paper
gives no count; with ch 96, the paper's attention and the TF-Hub modules' z sizes (BigGAN-PyTorch
``TFHub/converter.py``: 120, 140, 128 at 128, 256, 512) this code gives, without the shared
embedding, 256: G 82.0M + D 99.2M = 181.2M; 512: G 82.2M + D 99.4M = 181.6M (not checked
against any published figure).

Deliberate deviations from BigGAN-PyTorch, and why:

* ``conditional`` (default false) switches class conditioning of G (BN gains) and D (projection)
  on; BigGAN-PyTorch is always conditional. ganzoo's contract calls ``G(z)`` and ``D(x)`` without
  labels on labelled data, so the default network is the unconditional one; set
  ``conditional = true`` for the paper's model. A conditional G or D called without labels raises.
* Unconditional use (no labels): the code needs classes; here the BN conditioning keeps whatever is
  left (hierarchical z chunks, or plain affine BN).
* ``hierarchical`` without ``shared_embedding`` (which the code cannot run): each BN adds a bias-free
  linear projection of its z chunk to its per-class embeddings.
* ``attention`` is placed after every block whose *actual* output resolution is listed. This is
  the code's rule except for D at 32x32, where ``D_arch[32]`` lists [16, 16, 16, 16] for outputs
  that are really 16, 8, 8, 8 (so the code would put a "16" block after all four D blocks).
* SN eps is fixed at 1e-6 (the ImageNet scripts), not a parameter: it only clamps the norm of
  the power-iteration vectors, so no other value changes the computation.
* ``bn_eps`` applies to every BN of G, the output BN included (the code's output BN keeps 1e-5).
* ``width`` multiplies ``ch`` (``max(1, round(ch * width))``) for small CPU runs.
* torch's spectral norm runs 15 power iterations when attached (see :mod:`ganzoo_biggan.layers`).
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
    DBlock,
    GBlock,
    LayerConfig,
    SelfAttention,
    conv,
    embedding,
    linear,
)

SN_EPS = 1e-6  # BigGAN-PyTorch ImageNet scripts (--SN_eps 1e-6)
BOTTOM_WIDTH = 4

# BigGAN-PyTorch G_arch / D_arch, as multiples of ch.
G_ARCH = {
    32: {"in": [4, 4, 4], "out": [4, 4, 4]},
    64: {"in": [16, 16, 8, 4], "out": [16, 8, 4, 2]},
    128: {"in": [16, 16, 8, 4, 2], "out": [16, 8, 4, 2, 1]},
    256: {"in": [16, 16, 8, 8, 4, 2], "out": [16, 8, 8, 4, 2, 1]},
    512: {"in": [16, 16, 8, 8, 4, 2, 1], "out": [16, 8, 8, 4, 2, 1, 1]},
}
D_ARCH = {
    32: {"in": [None, 4, 4, 4], "out": [4, 4, 4, 4], "down": [True, True, False, False]},
    64: {"in": [None, 1, 2, 4, 8], "out": [1, 2, 4, 8, 16], "down": [True] * 4 + [False]},
    128: {"in": [None, 1, 2, 4, 8, 16], "out": [1, 2, 4, 8, 16, 16], "down": [True] * 5 + [False]},
    256: {"in": [None, 1, 2, 4, 8, 8, 16], "out": [1, 2, 4, 8, 8, 16, 16], "down": [True] * 6 + [False]},
    512: {"in": [None, 1, 1, 2, 4, 8, 8, 16], "out": [1, 1, 2, 4, 8, 8, 16, 16],
          "down": [True] * 7 + [False]},
}  # in[0] is the image channels


class BigGANParams(Params):
    """BigGAN (Brock et al. 2019) as in BigGAN-PyTorch; defaults are the ImageNet model's switches."""

    ch: int = Field(64, gt=0, description="channel multiplier ch (paper: 96 at 128x128, 64 for "
                                          "CIFAR; G's widest layer is 16 ch at 64/128, 4 ch at 32)")
    width: float = Field(1.0, gt=0, description="scales ch, max(1, round(ch * width)), for small "
                                                "CPU runs (1.0 = the paper's network)")
    z_dim: int = Field(128, gt=0, description="latent size; with hierarchical it is reduced to a "
                                              "multiple of num_blocks + 1 (G.z_dim is the "
                                              "effective size; the ImageNet scripts use 120)")
    conditional: bool = Field(False, description="class-conditional G (BN gains from labels) and D "
                                                 "(projection); needs a labelled dataset. The "
                                                 "paper's model is conditional")
    shared_embedding: bool = Field(True, description="one shared class embedding projected to every "
                                                     "BN's gain and bias (else per-BN embeddings)")
    shared_dim: int = Field(128, gt=0, description="size of the shared class embedding")
    hierarchical: bool = Field(True, description="split z into one chunk per G block plus one for "
                                                 "the first linear layer")
    attention: tuple[int, ...] = Field((), description="resolutions after which G and D get a "
                                                       "self-attention block ([] none; paper: "
                                                       "[64] at 128x128); 0 or an int accepted")
    d_attention: tuple[int, ...] | None = Field(None, description="D's self-attention resolutions "
                                                                  "when they differ from G's (paper "
                                                                  "at 256: G [128], D [64]); "
                                                                  "unset = attention")
    g_sn: bool = Field(True, description="spectral norm on G's convs, linears and BN projections")
    d_sn: bool = Field(True, description="spectral norm on every D layer")
    init: Literal["ortho", "N02"] = Field("ortho", description="weight init: orthogonal (paper) "
                                                               "or N(0, 0.02) (CIFAR script)")
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


def parse_attention(v):
    """Accept None (unset), 0 (none), one resolution, a list, or BigGAN-PyTorch's '32_64' string."""
    if v is None:
        return None
    if isinstance(v, bool):
        raise TypeError("attention: give resolutions, not a bool")
    if isinstance(v, int):
        return () if v == 0 else (v,)
    if isinstance(v, str):
        return tuple(int(s) for s in v.split("_") if s and int(s) != 0)
    return v


def sorted_attention(v: tuple[int, ...] | None) -> tuple[int, ...] | None:
    if v is None:
        return None
    if any(r <= 0 for r in v):
        raise ValueError("attention resolutions must be positive")
    return tuple(sorted(set(v)))


def scaled_ch(params: BigGANParams) -> int:
    return max(1, round(params.ch * params.width))


# -- generator -------------------------------------------------------------------------------------
class BigGANGenerator(nn.Module):
    """BigGAN G. ``G(z, y=None)``: ``z [N, G.z_dim]``, ``y`` int labels ``[N]`` when conditional."""

    def __init__(self, resolution: int, channels: int, ch: int, z_dim: int, num_classes: int,
                 shared_embedding: bool, shared_dim: int, hierarchical: bool,
                 attention: tuple[int, ...], cfg: LayerConfig, bn_eps: float) -> None:
        super().__init__()
        arch = G_ARCH[resolution]
        cin = [m * ch for m in arch["in"]]
        cout = [m * ch for m in arch["out"]]
        self.resolutions = [BOTTOM_WIDTH * 2 ** (i + 1) for i in range(len(cin))]
        self.num_classes, self.hierarchical = num_classes, hierarchical
        self.num_blocks = len(cin)
        if hierarchical:
            self.num_slots = self.num_blocks + 1
            self.chunk = z_dim // self.num_slots
            if self.chunk == 0:
                raise ConfigError(f"architecture 'biggan': z_dim {z_dim} is smaller than the "
                                  f"{self.num_slots} hierarchical chunks")
            self.z_dim = self.chunk * self.num_slots
        else:
            self.num_slots, self.chunk, self.z_dim = 1, 0, z_dim
        self.c0 = cin[0]
        self.shared = (embedding(num_classes, shared_dim, cfg, sn=False)
                       if num_classes and shared_embedding else None)
        cond_dim = (shared_dim if self.shared is not None else 0) + self.chunk
        bn_classes = num_classes if num_classes and not shared_embedding else 0
        self.linear = linear(self.z_dim // self.num_slots, cin[0] * BOTTOM_WIDTH ** 2, cfg)
        self.blocks = nn.ModuleList(GBlock(a, b, cfg, cond_dim, bn_classes, bn_eps)
                                    for a, b in zip(cin, cout))
        self.attention = nn.ModuleDict({
            str(i): SelfAttention(cout[i], cfg)
            for i, r in enumerate(self.resolutions) if r in attention})
        self.output_bn = ConditionalBatchNorm(cout[-1], 0, 0, cfg, bn_eps)  # plain affine BN
        self.output_conv = conv(cout[-1], channels, 3, cfg)

    def blacklist(self) -> list[nn.Parameter]:
        """Parameters the orthogonal regulariser leaves alone: the shared class embedding."""
        return list(self.shared.parameters()) if self.shared is not None else []

    def block_conditions(self, z: torch.Tensor, y: torch.Tensor | None
                         ) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
        """The linear layer's input and each block's BN conditioning vector ``c``."""
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"G expects z of shape [N, {self.z_dim}], got {tuple(z.shape)}")
        if self.num_classes > 0 and y is None:
            raise ValueError("this BigGAN generator is class-conditional: call G(z, y) with "
                             "integer labels y of shape [N]")
        zs = torch.split(z, self.chunk, dim=1) if self.hierarchical else (z,)
        cls = self.shared(y) if self.shared is not None else None
        conds: list[torch.Tensor | None] = []
        for i in range(self.num_blocks):
            parts = ([cls] if cls is not None else []) + ([zs[i + 1]] if self.hierarchical else [])
            conds.append(torch.cat(parts, dim=1) if parts else None)
        return zs[0], conds

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        z0, conds = self.block_conditions(z, y)
        labels = y if self.num_classes > 0 else None
        h = self.linear(z0).view(z.shape[0], self.c0, BOTTOM_WIDTH, BOTTOM_WIDTH)
        for i, block in enumerate(self.blocks):
            h = block(h, conds[i], labels)
            if str(i) in self.attention:
                h = self.attention[str(i)](h)
        return torch.tanh(self.output_conv(F.relu(self.output_bn(h))))


# -- discriminator ---------------------------------------------------------------------------------
class BigGANDiscriminator(nn.Module):
    """BigGAN D. ``D(x, y=None) -> [N]`` logits; ``y`` is needed when it has a projection head."""

    def __init__(self, resolution: int, channels: int, ch: int, num_classes: int,
                 projection: bool, attention: tuple[int, ...], cfg: LayerConfig) -> None:
        super().__init__()
        arch = D_ARCH[resolution]
        cin = [channels] + [m * ch for m in arch["in"][1:]]
        cout = [m * ch for m in arch["out"]]
        res, self.resolutions = resolution, []
        for down in arch["down"]:
            res = res // 2 if down else res
            self.resolutions.append(res)
        self.blocks = nn.ModuleList(
            DBlock(a, b, cfg, preactivation=i > 0, downsample=d)
            for i, (a, b, d) in enumerate(zip(cin, cout, arch["down"])))
        self.attention = nn.ModuleDict({
            str(i): SelfAttention(cout[i], cfg)
            for i, r in enumerate(self.resolutions) if r in attention})
        self.linear = linear(cout[-1], 1, cfg)
        self.embed = embedding(num_classes, cout[-1], cfg) if num_classes and projection else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = x
        for i, block in enumerate(self.blocks):
            h = block(h)
            if str(i) in self.attention:
                h = self.attention[str(i)](h)
        h = F.relu(h).sum(dim=(2, 3))  # global sum pooling
        out = self.linear(h).squeeze(1)
        if self.embed is not None:
            if y is None:
                raise ValueError("this BigGAN discriminator has a projection head: call D(x, y) "
                                 "with integer labels y of shape [N]")
            out = out + (self.embed(y) * h).sum(dim=1)
        return out


# -- builder ---------------------------------------------------------------------------------------
def build_biggan(params: BigGANParams, info: DataInfo) -> tuple[nn.Module, nn.Module]:
    """``(G, D)`` for ``info``'s resolution (32 to 512), channels and classes."""
    if info.resolution not in G_ARCH:
        raise ConfigError(f"architecture 'biggan': resolution {info.resolution} is not supported "
                          f"(use one of {sorted(G_ARCH)})")
    if params.conditional and info.num_classes <= 0:
        raise ConfigError("model.params.conditional: true needs a labelled dataset")
    num_classes = info.num_classes if params.conditional else 0
    ch = scaled_ch(params)
    G = BigGANGenerator(info.resolution, info.channels, ch, params.z_dim, num_classes,
                        params.shared_embedding, params.shared_dim, params.hierarchical,
                        params.attention, LayerConfig(params.g_sn, SN_EPS, params.init),
                        params.bn_eps)
    D = BigGANDiscriminator(info.resolution, info.channels, ch, num_classes, params.projection,
                            d_attention(params), LayerConfig(params.d_sn, SN_EPS, params.init))
    check_attention(params, G.resolutions, D.resolutions, info.resolution)
    return G, D


def d_attention(params) -> tuple[int, ...]:
    """D's attention resolutions: ``d_attention`` when set, else the shared ``attention``."""
    return params.attention if params.d_attention is None else params.d_attention


def check_attention(params, g_res: list[int], d_res: list[int], resolution: int) -> None:
    """Every requested attention resolution must be the output of some block that gets it."""
    if params.d_attention is None:
        checks = [("attention", "G or D", params.attention, set(g_res) | set(d_res))]
    else:
        checks = [("attention", "G", params.attention, set(g_res)),
                  ("d_attention", "D", params.d_attention, set(d_res))]
    for field, nets, wanted, placed in checks:
        missing = [r for r in wanted if r not in placed]
        if missing:
            raise ConfigError(f"model.params.{field}: no {nets} block outputs resolution(s) "
                              f"{missing} at {resolution}x{resolution} (G: {g_res}, D: {d_res})")
