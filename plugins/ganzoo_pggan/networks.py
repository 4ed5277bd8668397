"""PGGAN generator and discriminator, progressive growing (fade-in) and the training schedule.

Karras, Aila, Laine & Lehtinen, "Progressive Growing of GANs for Improved Quality, Stability, and
Variation" (ICLR 2018), sections 2-4 and appendix A, implemented after the authors' TF code
(``networks.py`` G_paper/D_paper with ``structure='linear'``, ``train.py`` TrainingSchedule and
``process_reals``; see ``implementation-notes.md`` B.1-B.4).

Channels: ``nf(stage) = max(1, round(width * min(fmap_base / 2**stage, fmap_max)))``; D may have its
own budget (``d_fmap_base``, ``d_fmap_max``, ``d_width`` or a ``d_preset``).

* **G** 4x4 block: ``PN(z) -> dense (gain sqrt(2)/4, z_dim -> nf(1)*16) -> reshape [nf(1), 4, 4]
  -> + per-channel bias -> act -> PN -> conv3x3 nf(1) -> act -> PN``. Block at 2^r: ``nearest up2 ->
  conv3x3 nf(r-1) -> act -> PN -> conv3x3 nf(r-1) -> act -> PN``. toRGB per resolution: 1x1, gain 1,
  linear.
* **D** fromRGB per resolution: ``1x1 -> nf(r-1) -> lrelu``. Block at 2^r: ``conv3x3 nf(r-1) ->
  lrelu -> conv3x3 nf(r-2) -> lrelu -> avgpool 2``. 4x4 head: ``minibatch stat -> conv3x3 nf(1) ->
  lrelu -> dense (the 4x4 conv) nf(0) -> lrelu -> dense 1 (gain 1)``.
* **Growing.** G and D hold a float buffer ``lod`` (set with ``set_lod``); 0 is full resolution,
  ``log2(R / start_resolution)`` is the start. With ``lod = k + f`` (0 <= f < 1) the networks run up
  to resolution ``R / 2**k``; for f > 0 the newest block is faded in with weight ``alpha = 1 - f``.
  G blends ``toRGB(new)`` with ``up2(toRGB(prev))`` and always returns full-resolution images
  (nearest upsampling of the result); D always takes full-resolution images, box-downsamples them to
  ``R / 2**k`` first and blends ``block(fromRGB(x))`` with ``fromRGB(avgpool2(x))``. Only the active
  blocks are computed. :func:`fade_reals` is TF's ``process_reals`` for the real images, and
  :class:`GrowthSchedule` gives the lod and minibatch size as a function of the images shown.

Switches for the paper's ablations (Table 1 rows (a)-(g), Table 4): ``g_norm`` (pixel norm, batch
norm, none), ``normalize_latents``, ``d_norm`` (none, layer norm, batch norm), ``eq_lr`` (equalized
learning rate, or He's initializer), ``mbstat`` (minibatch stddev, minibatch discrimination, none),
``g_act`` (lrelu 0.2 or relu), ``g_out`` (linear or tanh) and ``progressive``.

Deliberate deviations from the authors' code, and why:

* ``clip_output`` (default on) clamps G's images to [-1, 1], the range ganzoo's architecture contract
  promises (gradient 0 outside it, like hardtanh). TF's G is linear and feeds D unclipped images;
  ganzoo's metrics and saved samples clip exactly the same way, so only D's view of out-of-range
  pixels differs. ``clip_output=False`` restores the raw linear output. The clamp can trap a linear
  G: once every pixel lies outside [-1, 1] no gradient reaches it and it stays there (pggan-ablation
  row (d), no normalisation, lr 1e-3: seed 1 turned black at step ~1,750 and never recovered), so
  the Table 1 suite runs its linear rows with ``clip_output=False``, as the authors' code does.
* The lower-resolution toRGB/fromRGB layers that a given lod does not use are not run; as in TF's
  linear graph (where they enter with weight exactly 0) they still receive an exactly zero gradient
  (``0 * sum(weights)`` is added to the output). So at lod 0 every parameter has a gradient; at
  lod > 0 only the blocks not grown in yet (and their skips) have none. Layers no lod can reach (toRGB/fromRGB below
  ``start_resolution``, every one but the last when ``progressive=False``) are not built at all.
* D pools after the activation (conv -> lrelu -> avgpool, as the paper's Table 2 and the Theano code
  the paper ran); TF's fused 4x4 stride-2 conv pools before the bias and activation. G's explicit
  nearest-up + conv3x3 equals TF's fused transposed conv exactly.
* With ``g_norm="batchnorm"`` the norm sits between conv and activation (conv -> BN -> act), as
  ``lasagne.layers.batch_norm`` places it in the authors' Theano code and as Gulrajani et al. do;
  layer norm and batch norm in D sit at the same place. A conv followed by such a norm has no bias
  (the norm's shift replaces it; lasagne deletes it too).
* Minibatch discrimination (row (e*)) has no public PGGAN code; see
  :class:`ganzoo_pggan.layers.MinibatchDiscrimination`.
* The crippled "K/4" and "K/2" discriminators of Table 4 (Metz et al.'s, about 500 and 2000
  parameters) are approximated by a shallow variant of this D (``d_layout="shallow"``: one conv3x3
  per resolution, one dense layer at 4x4) with tiny channel budgets (:data:`CRIPPLED_D`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from pydantic import Field, field_validator, model_validator
from torch import nn

from ganzoo import DataInfo, Params
from ganzoo.api import ConfigError
from ganzoo_pggan.layers import (
    SQRT2,
    EqConv2d,
    EqLinear,
    MinibatchDiscrimination,
    MinibatchStddev,
    PixelNorm,
    downsample,
    feature_norm,
    pixel_norm,
    upsample,
)

# The crippled discriminators of Table 4: Metz et al.'s K/4 (about 500 trainable parameters) and K/2
# (about 2000), both with batch norm. The PGGAN paper gives only these counts; Metz et al.'s networks
# are DCGAN-like, one strided conv per resolution. So the presets use the shallow layout (one conv3x3
# + avgpool per resolution, a single dense layer at 4x4) at a constant 4 or 8 channels; counted at
# 32x32x3 (the paper scale), for (non-progressive, batch norm, no mbstat, He init) = Metz's setting /
# (progressive from 4x4, no norm, mbstd) = the paper's last column:
#   K/4: nf = 4 at every resolution:   537 /  589   (at 16x16: 385 / 425)
#   K/2: nf = 8 at every resolution:  1937 / 2025   (at 16x16: 1345 / 1409)
# (checked by tests/test_pggan_networks.py::test_crippled_discriminators_size). An earlier version
# used PGGAN's own two-convs-per-resolution layout at 3-5 channels: that D was so narrow and deep
# that the reference column never got past 138 of 1,000 modes (results/README.md).
CRIPPLED_D: dict[str, dict[str, float | int | str]] = {
    "K/4": {"d_fmap_base": 64, "d_fmap_max": 4, "d_width": 1.0, "d_layout": "shallow"},
    "K/2": {"d_fmap_base": 128, "d_fmap_max": 8, "d_width": 1.0, "d_layout": "shallow"},
}


# -- parameters ------------------------------------------------------------------------------------
class PGGANParams(Params):
    fmap_base: int = Field(8192, gt=0, description="nf(stage) = min(fmap_base / 2**stage, fmap_max)")
    fmap_max: int = Field(512, gt=0, description="upper bound on the feature maps of any layer")
    width: float = Field(1.0, gt=0, description="multiplies every channel count (min 1); 1 = paper")
    d_fmap_base: int | None = Field(None, gt=0, description="D's own fmap_base (None: fmap_base)")
    d_fmap_max: int | None = Field(None, gt=0, description="D's own fmap_max (None: fmap_max)")
    d_width: float | None = Field(None, gt=0, description="D's own width (None: width)")
    d_preset: Literal["full", "K/4", "K/2"] = Field(
        "full", description="'K/4'/'K/2': the tiny D budgets of Table 4 (CRIPPLED_D); 'full': as set")
    d_layout: Literal["pggan", "shallow"] | None = Field(
        None, description="D's depth: 'pggan' (two conv3x3 per resolution, a conv3x3 + two dense "
                          "layers at 4x4), 'shallow' (one conv3x3 per resolution, one dense layer "
                          "at 4x4); None: the preset's ('full': pggan)")
    z_dim: int = Field(512, gt=0, description="latent size")
    progressive: bool = Field(True, description="grow from start_resolution; False: always full res")
    start_resolution: int = Field(4, ge=4, description="resolution of the first phase (power of 2)")
    g_norm: Literal["pixelnorm", "batchnorm", "none"] = Field(
        "pixelnorm", description="G feature norm: pixel norm after every act, batch norm before it")
    normalize_latents: bool = Field(True, description="pixel norm on z")
    d_norm: Literal["none", "layernorm", "batchnorm"] = Field(
        "none", description="norm on every D conv3x3/4x4 (before lrelu): none, layer norm, batch norm")
    eq_lr: bool = Field(True, description="equalized learning rate (N(0,1) weights scaled at "
                                         "runtime); False: He's initializer, no runtime scale")
    mbstat: Literal["stddev", "discrimination", "none"] = Field(
        "stddev", description="minibatch layer before D's 4x4 conv: stddev (PGGAN), minibatch "
                              "discrimination (Salimans et al. 2016), or none")
    mbstd_group: int = Field(4, ge=0, description="minibatch stddev group size; 0: whole minibatch")
    mbdisc_kernels: int = Field(16, gt=0, description="minibatch discrimination: kernels B")
    mbdisc_dims: int = Field(8, gt=0, description="minibatch discrimination: dims per kernel C")
    g_act: Literal["lrelu", "relu"] = Field("lrelu", description="G activation (lrelu slope 0.2)")
    g_out: Literal["linear", "tanh"] = Field("linear", description="G output activation")
    clip_output: bool = Field(True, description="clamp G's images to [-1, 1] (TF: unclamped)")
    d_noise: bool = Field(False, description="the LSGAN hack of appendix B: multiplicative Gaussian "
                          "noise on the input of every D conv, of magnitude 0.2 max(0, d_hat - 0.5)^2, "
                          "d_hat an EMA (0.1) of D's mean output on the real batches")
    stabilize_kimg: float = Field(600, ge=0, description="kimg at each resolution before a fade")
    fade_kimg: float = Field(600, ge=0, description="kimg of each fade-in")
    batch_sizes: dict[str, int] = Field(
        default_factory=dict, description="resolution -> minibatch; others use train.batch_size")

    @field_validator("start_resolution")
    @classmethod
    def _power_of_two(cls, v: int) -> int:
        if v & (v - 1):
            raise ValueError(f"start_resolution must be a power of 2, got {v}")
        return v

    @field_validator("batch_sizes")
    @classmethod
    def _batch_sizes(cls, v: dict[str, int]) -> dict[str, int]:
        for key, size in v.items():
            if not key.isdigit() or int(key) < 4 or int(key) & (int(key) - 1):
                raise ValueError(f"batch_sizes: key {key!r} is not a resolution (a power of 2 >= 4)")
            if size <= 0:
                raise ValueError(f"batch_sizes[{key!r}] must be positive, got {size}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> PGGANParams:
        if self.d_preset != "full":
            given = [k for k in ("d_fmap_base", "d_fmap_max", "d_width", "d_layout")
                     if getattr(self, k) is not None]
            if given:
                raise ValueError(f"d_preset={self.d_preset!r} sets the D budget; do not also give {given}")
        if self.progressive and self.stabilize_kimg + self.fade_kimg <= 0:
            raise ValueError("stabilize_kimg + fade_kimg must be positive")
        return self

    def d_depth(self) -> str:
        """D's layout after ``d_preset``: 'pggan' or 'shallow'."""
        if self.d_preset != "full":
            return str(CRIPPLED_D[self.d_preset]["d_layout"])
        return self.d_layout or "pggan"

    def d_budget(self) -> tuple[float, float, float]:
        """(fmap_base, fmap_max, width) of D, after ``d_preset`` and the ``d_*`` overrides."""
        if self.d_preset != "full":
            p = CRIPPLED_D[self.d_preset]
            return float(p["d_fmap_base"]), float(p["d_fmap_max"]), float(p["d_width"])
        return (self.d_fmap_base or self.fmap_base, self.d_fmap_max or self.fmap_max,
                self.width if self.d_width is None else self.d_width)


def channels(stage: int, fmap_base: float, fmap_max: float, width: float) -> int:
    """nf(stage) of notes B.4, times ``width`` (at least 1)."""
    return max(1, round(width * min(fmap_base / 2 ** stage, fmap_max)))


def _log2(n: int, what: str) -> int:
    if n < 1 or n & (n - 1):
        raise ConfigError(f"pggan: {what} must be a power of 2, got {n}")
    return n.bit_length() - 1


# -- growth state shared by G and D ----------------------------------------------------------------
class _Growing(nn.Module):
    """The ``lod`` buffer, ``set_lod`` and the lod -> (resolution level, fade) arithmetic."""

    lod: torch.Tensor

    def _init_growth(self, resolution: int, start_resolution: int, progressive: bool) -> None:
        self.resolution = resolution
        self.log2_res = _log2(resolution, "the resolution")
        self.progressive = progressive
        if start_resolution > resolution:
            raise ConfigError(f"pggan: start_resolution {start_resolution} exceeds the data "
                              f"resolution {resolution}")
        self.log2_start = _log2(start_resolution, "start_resolution") if progressive else self.log2_res
        self.max_lod = self.log2_res - self.log2_start
        self.register_buffer("lod", torch.zeros(()))
        self._lod_cache: tuple[tuple[int, int], float] | None = None

    @property
    def levels(self) -> range:
        """log2 of every resolution that has a toRGB/fromRGB layer."""
        return range(self.log2_start, self.log2_res + 1)

    def set_lod(self, lod: float) -> None:
        """0 = full resolution; ``max_lod`` = only the start block; fractions fade. Ignored (but
        stored) when the network is not progressive."""
        lod = float(lod)
        if self.progressive and not 0.0 <= lod <= self.max_lod:
            raise ValueError(f"lod {lod} outside [0, {self.max_lod}]")
        with torch.no_grad():
            self.lod.fill_(lod)

    def current_lod(self) -> float:
        """The buffer's value, read from the device only when the buffer has changed."""
        if not self.progressive:
            return 0.0
        if self.lod.is_inference():  # built under inference_mode: no version counter to key on
            return float(self.lod)
        key = (self.lod.data_ptr(), self.lod._version)
        if self._lod_cache is None or self._lod_cache[0] != key:
            self._lod_cache = (key, float(self.lod))
        return self._lod_cache[1]

    def _plan(self) -> tuple[int, float]:
        """(log2 of the highest active resolution, fade weight f = frac(lod) of the previous one)."""
        lod = self.current_lod()
        k = math.floor(lod)
        return self.log2_res - k, lod - k

    def _idle_skips(self, skips: nn.ModuleDict, lowest_used: int) -> torch.Tensor | None:
        """0 * the weights of the toRGB/fromRGB layers below ``lowest_used`` (zero gradient, as TF)."""
        if not torch.is_grad_enabled():
            return None
        idle = [p for r in range(self.log2_start, lowest_used) for p in skips[str(2 ** r)].parameters()]
        if not idle:
            return None
        return sum(p.sum() for p in idle) * 0.0


def _act(kind: str) -> nn.Module:
    return nn.ReLU() if kind == "relu" else nn.LeakyReLU(0.2)


class _Unit(nn.Module):
    """conv (or dense) -> [BN / LN] -> act -> [PN]: one layer of G or D with its norm."""

    def __init__(self, layer: nn.Module, cout: int, norm: str, act: nn.Module) -> None:
        super().__init__()
        self.layer, self.act = layer, act
        self.pre = feature_norm(norm, cout) if norm in ("batchnorm", "layernorm") else nn.Identity()
        self.post = PixelNorm() if norm == "pixelnorm" else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post(self.act(self.pre(self.layer(x))))


def _conv_unit(cin: int, cout: int, kernel: int, norm: str, act: nn.Module, eq_lr: bool) -> _Unit:
    bias = norm not in ("batchnorm", "layernorm")
    return _Unit(EqConv2d(cin, cout, kernel, SQRT2, eq_lr, bias), cout, norm, act)


# -- generator -------------------------------------------------------------------------------------
class _GStart(nn.Module):
    """4x4 block: [PN(z)] -> dense -> reshape -> + bias -> [BN] -> act -> [PN] -> conv3x3 unit."""

    def __init__(self, z_dim: int, c: int, p: PGGANParams) -> None:
        super().__init__()
        self.c, self.normalize_latents = c, p.normalize_latents
        self.dense = EqLinear(z_dim, c * 16, gain=SQRT2 / 4, eq_lr=p.eq_lr, bias=False)
        bn = p.g_norm == "batchnorm"
        self.bias = None if bn else nn.Parameter(torch.zeros(c))
        self.unit0 = _Unit(nn.Identity(), c, p.g_norm, _act(p.g_act))
        self.conv = _conv_unit(c, c, 3, p.g_norm, _act(p.g_act), p.eq_lr)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.normalize_latents:
            z = pixel_norm(z)
        x = self.dense(z).view(z.shape[0], self.c, 4, 4)
        if self.bias is not None:
            x = x + self.bias.view(1, -1, 1, 1)
        return self.conv(self.unit0(x))


class _GBlock(nn.Sequential):
    def __init__(self, cin: int, cout: int, p: PGGANParams) -> None:
        super().__init__(
            nn.Upsample(scale_factor=2, mode="nearest"),
            _conv_unit(cin, cout, 3, p.g_norm, _act(p.g_act), p.eq_lr),
            _conv_unit(cout, cout, 3, p.g_norm, _act(p.g_act), p.eq_lr),
        )


class PGGANGenerator(_Growing):
    """``G(z, y=None)`` -> ``[N, C, R, R]`` at every lod (labels are ignored)."""

    def __init__(self, p: PGGANParams, info: DataInfo) -> None:
        super().__init__()
        self._init_growth(info.resolution, p.start_resolution, p.progressive)
        self.z_dim = p.z_dim
        self.g_out, self.clip_output = p.g_out, p.clip_output

        def nf(stage: int) -> int:
            return channels(stage, p.fmap_base, p.fmap_max, p.width)

        self.start = _GStart(p.z_dim, nf(1), p)
        self.blocks = nn.ModuleDict(
            {str(2 ** r): _GBlock(nf(r - 2), nf(r - 1), p) for r in range(3, self.log2_res + 1)})
        self.to_rgb = nn.ModuleDict(
            {str(2 ** r): EqConv2d(nf(r - 1), info.channels, 1, gain=1.0, eq_lr=p.eq_lr)
             for r in self.levels})

    def _output(self, img: torch.Tensor) -> torch.Tensor:
        if self.g_out == "tanh":
            img = torch.tanh(img)
        return img.clamp(-1.0, 1.0) if self.clip_output else img

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        top, f = self._plan()
        x, prev = self.start(z), None
        for r in range(3, top + 1):
            if r == top and f > 0:
                prev = x
            x = self.blocks[str(2 ** r)](x)
        img = self.to_rgb[str(2 ** top)](x)
        if prev is not None:  # fade: weight 1 - f on the new block, f on the upsampled old image
            old = upsample(self.to_rgb[str(2 ** (top - 1))](prev), 2)
            img = img + (old - img) * f
        img = upsample(self._output(img), 2 ** (self.log2_res - top))
        zero = self._idle_skips(self.to_rgb, top - 1 if prev is not None else top)
        return img if zero is None else img + zero

    def observe_real(self, d_real: torch.Tensor) -> None:
        """Part of the trainer's ``Growing`` contract; G has nothing to track."""


# -- discriminator ---------------------------------------------------------------------------------

class _FromRGB(nn.Sequential):
    def __init__(self, cin: int, cout: int, eq_lr: bool) -> None:
        super().__init__(EqConv2d(cin, cout, 1, SQRT2, eq_lr), nn.LeakyReLU(0.2))


class AdaptiveNoise(nn.Module):
    """``x * (1 + strength * N(0, 1))`` in training mode; the discriminator sets ``strength``."""

    def __init__(self) -> None:
        super().__init__()
        self.strength = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.strength <= 0:
            return x
        return x * (1 + self.strength * torch.randn_like(x))


def _noise(p: PGGANParams) -> nn.Module:
    return AdaptiveNoise() if p.d_noise else nn.Identity()


class _DBlock(nn.Sequential):
    def __init__(self, cin: int, cmid: int, cout: int, p: PGGANParams) -> None:
        if p.d_depth() == "shallow":  # one conv per resolution (DCGAN-like depth)
            super().__init__(
                _noise(p), _conv_unit(cin, cout, 3, p.d_norm, nn.LeakyReLU(0.2), p.eq_lr),
                nn.AvgPool2d(2))
            return
        super().__init__(
            _noise(p),
            _conv_unit(cin, cmid, 3, p.d_norm, nn.LeakyReLU(0.2), p.eq_lr),
            _noise(p),
            _conv_unit(cmid, cout, 3, p.d_norm, nn.LeakyReLU(0.2), p.eq_lr),
            nn.AvgPool2d(2),
        )


class _DShallowHead(nn.Module):
    """4x4 head of ``d_layout="shallow"``: minibatch stat -> dense 1 (gain 1) on the flat 4x4 map."""

    def __init__(self, c1: int, p: PGGANParams) -> None:
        super().__init__()
        self.mbstat = _mbstat(c1, p)
        self.noise_dense = _noise(p)
        self.dense = EqLinear((c1 + getattr(self.mbstat, "extra_channels", 0)) * 16, 1, gain=1.0,
                              eq_lr=p.eq_lr)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.noise_dense(self.mbstat(x)).flatten(1)).squeeze(1)


def _mbstat(c1: int, p: PGGANParams) -> nn.Module:
    if p.mbstat == "stddev":
        return MinibatchStddev(p.mbstd_group)
    if p.mbstat == "discrimination":
        return MinibatchDiscrimination(c1 * 16, p.mbdisc_kernels, p.mbdisc_dims, p.eq_lr)
    return nn.Identity()


class _DHead(nn.Module):
    """4x4: minibatch stat -> conv3x3 nf(1) -> dense nf(0) (the 4x4 conv) -> dense 1 (gain 1)."""

    def __init__(self, c1: int, c0: int, p: PGGANParams) -> None:
        super().__init__()
        self.mbstat = _mbstat(c1, p)
        extra = getattr(self.mbstat, "extra_channels", 0)
        lrelu = nn.LeakyReLU(0.2)
        self.conv = _conv_unit(c1 + extra, c1, 3, p.d_norm, lrelu, p.eq_lr)
        self.noise_conv, self.noise_dense = _noise(p), _noise(p)  # before the 3x3 and the 4x4 "conv"
        bias = p.d_norm == "none"
        self.dense0 = _Unit(EqLinear(c1 * 16, c0, SQRT2, p.eq_lr, bias), c0, p.d_norm, lrelu)
        self.dense1 = EqLinear(c0, 1, gain=1.0, eq_lr=p.eq_lr)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.noise_conv(self.mbstat(x)))
        return self.dense1(self.dense0(self.noise_dense(x).flatten(1))).squeeze(1)


class PGGANDiscriminator(_Growing):
    """``D(x, y=None)`` -> ``[N]`` logits for full-resolution images at every lod."""

    def __init__(self, p: PGGANParams, info: DataInfo) -> None:
        super().__init__()
        self._init_growth(info.resolution, p.start_resolution, p.progressive)
        base, fmax, width = p.d_budget()

        def nf(stage: int) -> int:
            return channels(stage, base, fmax, width)

        self.from_rgb = nn.ModuleDict(
            {str(2 ** r): _FromRGB(info.channels, nf(r - 1), p.eq_lr) for r in self.levels})
        self.blocks = nn.ModuleDict(
            {str(2 ** r): _DBlock(nf(r - 1), nf(r - 1), nf(r - 2), p)
             for r in range(self.log2_res, 2, -1)})
        self.head: nn.Module = (_DShallowHead(nf(1), p) if p.d_depth() == "shallow"
                                else _DHead(nf(1), nf(0), p))
        if p.d_noise:  # LSGAN's adaptive noise (appendix B): the EMA of D's output on reals
            self.register_buffer("d_hat", torch.zeros(()))

    def noise_strength(self) -> float:
        """``0.2 * max(0, d_hat - 0.5)^2`` (PGGAN appendix B); 0 without ``d_noise``."""
        if not hasattr(self, "d_hat"):
            return 0.0
        return 0.2 * max(0.0, float(self.d_hat) - 0.5) ** 2

    @torch.no_grad()
    def observe_real(self, d_real: torch.Tensor) -> None:
        """The trainer reports D's logits on each real batch: ``d_hat = 0.1 mean(d) + 0.9 d_hat``."""
        if hasattr(self, "d_hat"):
            self.d_hat.mul_(0.9).add_(0.1 * d_real.float().mean())

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if hasattr(self, "d_hat"):
            strength = self.noise_strength()
            for m in self.modules():
                if isinstance(m, AdaptiveNoise):
                    m.strength = strength
        if x.shape[-1] != self.resolution or x.shape[-2] != self.resolution:
            raise ValueError(f"D takes full-resolution {self.resolution}x{self.resolution} images, "
                             f"got {tuple(x.shape)}")
        top, f = self._plan()
        x = downsample(x, 2 ** (self.log2_res - top))
        h = self.from_rgb[str(2 ** top)](x)
        r = top
        if f > 0:  # fade: weight 1 - f on the new block, f on fromRGB of the pooled image
            h = self.blocks[str(2 ** top)](h)
            old = self.from_rgb[str(2 ** (top - 1))](downsample(x, 2))
            h = h + (old - h) * f
            r = top - 1
        for level in range(r, 2, -1):
            h = self.blocks[str(2 ** level)](h)
        out = self.head(h)
        zero = self._idle_skips(self.from_rgb, r)
        return out if zero is None else out + zero


def build_pggan(params: PGGANParams, info: DataInfo) -> tuple[PGGANGenerator, PGGANDiscriminator]:
    if info.resolution < 4:
        raise ConfigError(f"pggan needs a resolution >= 4, got {info.resolution}")
    return PGGANGenerator(params, info), PGGANDiscriminator(params, info)


# -- real images during a fade ---------------------------------------------------------------------
def fade_reals(x: torch.Tensor, lod: float) -> torch.Tensor:
    """TF ``process_reals``: the reals a network at ``lod`` should see, at full resolution.

    ``x_k`` = ``x`` box-downsampled by ``2**k`` (k = floor(lod)); for f = frac(lod) > 0 the image is
    ``lerp(x_k, up2(box2(x_k)), f)``; the result is nearest-upsampled back by ``2**k``. At lod 0 the
    input is returned unchanged.
    """
    lod = float(lod)
    if lod <= 0:
        return x
    k = math.floor(lod)
    f = lod - k
    need = 2 ** (k + 1 if f > 0 else k)
    if x.shape[-1] % need or x.shape[-2] % need:
        raise ValueError(f"fade_reals: {tuple(x.shape[-2:])} images cannot be taken to lod {lod}")
    xk = downsample(x, 2 ** k)
    if f > 0:
        xk = xk + (upsample(downsample(xk, 2), 2) - xk) * f
    return upsample(xk, 2 ** k)


# -- training schedule -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Phase:
    """Where training is: ``lod``; the minibatch size; ``key`` = (floor(lod), ceil(lod)), which
    changes exactly at the start and end of each fade (the optimiser is reset then, as in TF);
    ``resolution`` = the resolution of the highest active block, ``R / 2**floor(lod)``."""

    lod: float
    batch_size: int
    key: tuple[int, int]
    resolution: int


def lod_at(kimg: float, params: PGGANParams, resolution: int) -> float:
    """TF ``TrainingSchedule``: stabilise ``stabilize_kimg``, then fade ``fade_kimg``, per phase."""
    if not params.progressive:
        return 0.0
    stab, fade = float(params.stabilize_kimg), float(params.fade_kimg)
    phase_dur = stab + fade
    phase_idx = math.floor(kimg / phase_dur)
    phase_kimg = kimg - phase_idx * phase_dur
    lod = float(_log2(resolution, "the resolution") - _log2(params.start_resolution, "start_resolution"))
    lod -= phase_idx
    if fade > 0:
        lod -= max(phase_kimg - stab, 0.0) / fade
    return max(lod, 0.0)


def phase_of(kimg: float, params: PGGANParams, resolution: int, default_batch: int) -> Phase:
    """The :class:`Phase` after ``kimg`` thousand real images; minibatch from ``batch_sizes`` at the
    phase's resolution, else ``default_batch`` (TF ``minibatch_dict.get(resolution, base)``)."""
    lod = lod_at(kimg, params, resolution)
    lo, hi = math.floor(lod), math.ceil(lod)
    res = resolution >> lo
    return Phase(lod=lod, batch_size=int(params.batch_sizes.get(str(res), default_batch)),
                 key=(lo, hi), resolution=res)


class GrowthSchedule:
    """The progressive-growing schedule of one run: ``phase(images_shown)`` and ``reals(x, phase)``."""

    def __init__(self, params: PGGANParams, info: DataInfo, default_batch: int) -> None:
        self.params, self.resolution, self.default_batch = params, info.resolution, default_batch
        if params.progressive and params.start_resolution > info.resolution:
            raise ConfigError(f"pggan: start_resolution {params.start_resolution} exceeds the data "
                              f"resolution {info.resolution}")

    def phase(self, images_shown: int) -> Phase:
        return phase_of(images_shown / 1000.0, self.params, self.resolution, self.default_batch)

    def reals(self, x: torch.Tensor, phase: Phase) -> torch.Tensor:
        return fade_reals(x, phase.lod)


__all__ = [
    "CRIPPLED_D", "GrowthSchedule", "PGGANDiscriminator", "PGGANGenerator", "PGGANParams", "Phase",
    "build_pggan", "channels", "fade_reals", "lod_at", "phase_of",
]
