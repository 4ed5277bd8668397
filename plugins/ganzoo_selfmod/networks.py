"""SNDCGAN and ResNet generators/discriminators of the self-modulation study.

Chen, Lucic, Houlsby & Gelly, "On Self Modulation for Generative Adversarial Networks" (ICLR 2019),
appendix B (Tables 6-13), which follow Miyato et al. (2018); implemented after the authors' code,
compare_gan (``architectures/sndcgan.py``, ``resnet_ops.py``, ``resnet_cifar.py``, ``resnet5.py``).
Every batch norm of G is the layer chosen by ``g_norm`` (see :mod:`ganzoo_selfmod.layers`),
including the final norm before the output conv. Weights are N(0, init_std), biases 0. D may use
spectral norm on every conv and linear (1 power iteration, eps 1e-12); G never does. A D projection
head (Miyato & Koyama 2018) adds ``sum(embed(y) * h)`` to the logit.

Deliberate deviations from compare_gan, and why:

* Images live in [-1, 1] in ganzoo. G ends in tanh (as the paper's tables say) without
  compare_gan's ``(tanh + 1) / 2`` (SNDCGAN) or sigmoid (ResNet; sigmoid(a) = (tanh(a/2) + 1) / 2,
  the same family). SNDCGAN D drops compare_gan's ``x * 2 - 1``: its input is already in [-1, 1].
* ResNet D sees [-1, 1] images where compare_gan feeds [0, 1]. Its first block therefore has no
  pre-activation ReLU (compare_gan's ReLU on a [0, 1] image is a no-op; the paper's table also
  shows a bare Conv3x3 there), so negative pixels are not thrown away.
* ResNet D pools with a global *mean*, as compare_gan does; the paper's tables say GlobalSum.
* ResNet 128 D downsamples 6 times (to 2x2), as ``resnet5.py`` does; the paper's table shows 5.
* SNDCGAN's last layer is a 3x3 stride-1 conv; compare_gan's 3x3 stride-1 "deconv" computes the
  same function class (a flipped kernel), with the same parameter count.
* SNDCGAN's first BN normalises and modulates the flat dense output per unit (s8*s8*512 features).
  The public compare_gan cannot build SNDCGAN with self-modulation (its 2-D modulation broadcasts
  wrongly); this is what the unmodulated baseline does per unit.
* The dense output is reshaped NCHW (torch) rather than NHWC: a permutation of i.i.d.-initialised
  units, so the same model.
* The SNDCGAN projection head uses the spatial mean of the last feature map (512c features): no
  compare_gan SNDCGAN has a projection, and the flat vector would need s8*s8*512 numbers per class.
* ``width`` scales every channel count, ``max(1, round(c * width))``, for small CPU runs (1.0 is
  the paper's network).
* torch's spectral norm runs 15 power iterations when it is attached (compare_gan starts from a
  random u) and none in eval mode; training behaviour (1 iteration a step) is the same.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from ganzoo import DataInfo, Params
from ganzoo.api import ConfigError
from ganzoo_selfmod.layers import CONDITIONAL_KINDS, NormFactory, keep_single_modulation

NormKind = Literal["bn", "selfmod", "cbn", "cselfmod", "selfmod-first", "selfmod-last"]


# -- parameters ------------------------------------------------------------------------------------
class _CommonParams(Params):
    width: float = Field(1.0, gt=0)
    g_norm: NormKind = "bn"
    selfmod_hidden: int = Field(32, ge=0)
    z_dim: int = Field(128, gt=0)
    spectral_norm: bool = True  # D only
    projection: bool = False  # D projection head for labels
    bn_momentum: float = Field(0.1, ge=0, le=1)  # torch momentum; TF decay = 1 - momentum
    init_std: float = Field(0.02, gt=0)


class SNDCGANParams(_CommonParams):
    bn_eps: float = Field(2e-5, gt=0)
    d_leaky_slope: float = Field(0.1, ge=0)


class ResNetParams(_CommonParams):
    bn_eps: float = Field(1e-5, gt=0)
    upsample: Literal["unpool", "nearest"] = "unpool"


# -- small helpers ---------------------------------------------------------------------------------
def scaled(c: int, width: float) -> int:
    return max(1, round(c * width))


def _init(layer: nn.Module, std: float, sn: bool = False) -> nn.Module:
    nn.init.normal_(layer.weight, 0.0, std)
    if getattr(layer, "bias", None) is not None:
        nn.init.zeros_(layer.bias)
    return _spectral_norm(layer, n_power_iterations=1, eps=1e-12) if sn else layer


def conv(cin: int, cout: int, k: int, stride: int, std: float, sn: bool = False) -> nn.Module:
    """A 'SAME'-padded conv: 3x3 s1 keeps the size, 4x4 s2 halves it."""
    return _init(nn.Conv2d(cin, cout, k, stride, padding=1), std, sn)


def linear(fin: int, fout: int, std: float, sn: bool = False) -> nn.Module:
    return _init(nn.Linear(fin, fout), std, sn)


def _insert_zeros(x: torch.Tensor, dim: int) -> torch.Tensor:
    """A zero after every entry along ``dim`` (whose size doubles)."""
    return torch.stack((x, torch.zeros_like(x)), dim=dim + 1).flatten(dim, dim + 1)


def unpool(x: torch.Tensor) -> torch.Tensor:
    """compare_gan's zero-insertion unpooling: pixel to the top-left of a 2x2 block, 0 elsewhere.

    A channels_last input is unpooled in its own (NHWC) memory order and comes back channels_last;
    NCHW stays NCHW. (Done in NCHW order, a channels_last tensor came back NCHW and each of the two
    convs it feeds copied it back, forward and backward.) Same values and gradients either way.
    """
    if not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        nhwc = x.permute(0, 2, 3, 1)  # contiguous
        return _insert_zeros(_insert_zeros(nhwc, 2), 1).permute(0, 3, 1, 2)
    return _insert_zeros(_insert_zeros(x, 3), 2)


def nearest(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


class ProjectionHead(nn.Module):
    """Miyato & Koyama (2018): ``sum(embed(y) * h)``, added to D's logit."""

    def __init__(self, num_classes: int, features: int, std: float, sn: bool) -> None:
        super().__init__()
        self.embed = _init(nn.Embedding(num_classes, features), std, sn)

    def forward(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if y is None:
            raise ValueError("D has a projection head: call D(x, y) with labels y")
        return (self.embed(y) * h).sum(dim=1)


# -- SNDCGAN ---------------------------------------------------------------------------------------
class SNDCGANGenerator(nn.Module):
    """Dense z -> s8 x s8 x 512 (normed per unit), three 4x4 stride-2 deconvs, 3x3 conv, tanh."""

    def __init__(self, resolution: int, channels: int, norm: NormFactory, width: float = 1.0,
                 init_std: float = 0.02) -> None:
        super().__init__()
        self.z_dim, self.s8 = norm.z_dim, resolution // 8
        c512, c256, c128, c64 = (scaled(c, width) for c in (512, 256, 128, 64))
        self.c512 = c512
        self.conditioning = norm.conditioning()
        # Phase 1: dense layer, BN on the flat [N, s8*s8*512] tensor.
        self.fc = linear(self.z_dim, self.s8 * self.s8 * c512, init_std)
        self.fc_norm = norm(self.s8 * self.s8 * c512)
        # Phase 2: three upsampling deconvs, each followed by a norm.
        pairs = ((c512, c256), (c256, c128), (c128, c64))
        self.deconvs = nn.ModuleList(
            _init(nn.ConvTranspose2d(a, b, 4, 2, padding=1), init_std) for a, b in pairs)
        self.norms = nn.ModuleList(norm(b) for _, b in pairs)
        # Phase 3: to image.
        self.to_image = conv(c64, channels, 3, 1, init_std)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        c = self.conditioning(z, y)
        h = F.relu(self.fc_norm(self.fc(z), c, y))
        h = h.view(z.shape[0], self.c512, self.s8, self.s8)
        for deconv, norm in zip(self.deconvs, self.norms):
            h = F.relu(norm(deconv(h), c, y))
        return torch.tanh(self.to_image(h))


class SNDCGANDiscriminator(nn.Module):
    """Seven convs (3x3 s1 / 4x4 s2 alternating, 64c..512c), LeakyReLU each; dense -> logit."""

    LAYERS = ((64, 3, 1), (128, 4, 2), (128, 3, 1), (256, 4, 2),  # (channels, kernel, stride)
              (256, 3, 1), (512, 4, 2), (512, 3, 1))

    def __init__(self, resolution: int, channels: int, width: float = 1.0, sn: bool = True,
                 leaky_slope: float = 0.1, num_classes: int = 0, projection: bool = False,
                 init_std: float = 0.02) -> None:
        super().__init__()
        self.leaky_slope = leaky_slope
        convs, cin = [], channels
        for cout, k, stride in self.LAYERS:
            convs.append(conv(cin, scaled(cout, width), k, stride, init_std, sn))
            cin = scaled(cout, width)
        self.convs = nn.ModuleList(convs)
        s8 = resolution // 8
        self.fc = linear(s8 * s8 * cin, 1, init_std, sn)
        self.projection = ProjectionHead(num_classes, cin, init_std, sn) if projection else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = x
        for layer in self.convs:
            h = F.leaky_relu(layer(h), self.leaky_slope)
        out = self.fc(h.flatten(1)).squeeze(1)
        if self.projection is not None:
            out = out + self.projection(h.mean(dim=(2, 3)), y)
        return out


# -- ResNet ----------------------------------------------------------------------------------------
class GeneratorBlock(nn.Module):
    """norm -> ReLU -> up -> conv3x3 -> norm -> ReLU -> conv3x3, plus up -> conv3x3 of raw input."""

    def __init__(self, cin: int, cout: int, norm: NormFactory, upsample, init_std: float) -> None:
        super().__init__()
        self.up = upsample
        self.shortcut = conv(cin, cout, 3, 1, init_std)
        self.bn1, self.conv1 = norm(cin), conv(cin, cout, 3, 1, init_std)
        self.bn2, self.conv2 = norm(cout), conv(cout, cout, 3, 1, init_std)

    def forward(self, x: torch.Tensor, c: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        shortcut = self.shortcut(self.up(x))
        h = self.conv1(self.up(F.relu(self.bn1(x, c, y))))
        h = self.conv2(F.relu(self.bn2(h, c, y)))
        return h + shortcut


class DiscriminatorBlock(nn.Module):
    """[ReLU] -> conv3x3 -> ReLU -> conv3x3 -> [avgpool 2x2], plus conv3x3 -> [avgpool] of raw x."""

    def __init__(self, cin: int, cout: int, down: bool, preactivate: bool, sn: bool,
                 init_std: float) -> None:
        super().__init__()
        self.down, self.preactivate = down, preactivate
        self.shortcut = conv(cin, cout, 3, 1, init_std, sn)
        self.conv1 = conv(cin, cout, 3, 1, init_std, sn)
        self.conv2 = conv(cout, cout, 3, 1, init_std, sn)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2) if self.down else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self._pool(self.shortcut(x))
        h = self.conv1(F.relu(x) if self.preactivate else x)
        h = self._pool(self.conv2(F.relu(h)))
        return h + shortcut


def resnet_layout(resolution: int) -> tuple[list[int], list[tuple[int, bool]]]:
    """(G channels: seed then one per up-block; D blocks: (channels, downsample)) at width 1."""
    if resolution == 128:  # ResNet19 / resnet5.py
        return [512, 512, 256, 256, 128, 64], [(c, True) for c in (64, 128, 256, 256, 512, 512)]
    if resolution in (8, 16, 32, 64):  # ResNet-CIFAR, generalised
        ups, downs = int(math.log2(resolution // 4)), int(math.log2(resolution // 8))
        return [256] * (ups + 1), [(128, True)] * downs + [(128, False)] * 2
    raise ConfigError(f"architecture 'resnet': resolution {resolution} is not supported "
                      "(use 8, 16, 32, 64 or 128)")


class ResNetGenerator(nn.Module):
    """Dense z -> 4 x 4 x C, up-blocks to the resolution, norm -> ReLU -> conv3x3 -> tanh."""

    def __init__(self, resolution: int, channels: int, norm: NormFactory, width: float = 1.0,
                 upsample: str = "unpool", init_std: float = 0.02) -> None:
        super().__init__()
        widths = [scaled(c, width) for c in resnet_layout(resolution)[0]]
        self.z_dim, self.c0 = norm.z_dim, widths[0]
        self.conditioning = norm.conditioning()
        up = unpool if upsample == "unpool" else nearest
        self.fc = linear(self.z_dim, 4 * 4 * widths[0], init_std)
        self.blocks = nn.ModuleList(
            GeneratorBlock(a, b, norm, up, init_std) for a, b in zip(widths[:-1], widths[1:]))
        self.final_norm = norm(widths[-1])
        self.to_image = conv(widths[-1], channels, 3, 1, init_std)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        c = self.conditioning(z, y)
        h = self.fc(z).view(z.shape[0], self.c0, 4, 4)
        for block in self.blocks:
            h = block(h, c, y)
        return torch.tanh(self.to_image(F.relu(self.final_norm(h, c, y))))


class ResNetDiscriminator(nn.Module):
    """Residual blocks, then ReLU -> global mean pool (GlobalSum in the paper's table) -> linear."""

    def __init__(self, resolution: int, channels: int, width: float = 1.0, sn: bool = True,
                 num_classes: int = 0, projection: bool = False, init_std: float = 0.02) -> None:
        super().__init__()
        blocks, cin = [], channels
        for i, (cout, down) in enumerate(resnet_layout(resolution)[1]):
            cout = scaled(cout, width)
            blocks.append(DiscriminatorBlock(cin, cout, down, i > 0, sn, init_std))
            cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.fc = linear(cin, 1, init_std, sn)
        self.projection = ProjectionHead(num_classes, cin, init_std, sn) if projection else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = x
        for block in self.blocks:
            h = block(h)
        h = F.relu(h).mean(dim=(2, 3))
        out = self.fc(h).squeeze(1)
        if self.projection is not None:
            out = out + self.projection(h, y)
        return out


# -- builders --------------------------------------------------------------------------------------
def _norm_factory(params: _CommonParams, info: DataInfo) -> NormFactory:
    if info.num_classes <= 0:
        if params.g_norm in CONDITIONAL_KINDS:
            raise ConfigError(f"model.params.g_norm: {params.g_norm!r} needs a labelled dataset")
        if params.projection:
            raise ConfigError("model.params.projection: true needs a labelled dataset")
    return NormFactory(params.g_norm, params.z_dim, info.num_classes, params.selfmod_hidden,
                       params.bn_eps, params.bn_momentum, params.init_std)


def build_sndcgan(params: SNDCGANParams, info: DataInfo) -> tuple[nn.Module, nn.Module]:
    if info.resolution < 8 or info.resolution % 8:
        raise ConfigError(f"architecture 'sndcgan': resolution {info.resolution} must be a "
                          "multiple of 8")
    norm = _norm_factory(params, info)
    G = SNDCGANGenerator(info.resolution, info.channels, norm, params.width, params.init_std)
    D = SNDCGANDiscriminator(info.resolution, info.channels, params.width, params.spectral_norm,
                             params.d_leaky_slope, info.num_classes, params.projection,
                             params.init_std)
    return keep_single_modulation(G, params.g_norm), D


def build_resnet(params: ResNetParams, info: DataInfo) -> tuple[nn.Module, nn.Module]:
    resnet_layout(info.resolution)  # validates the resolution
    norm = _norm_factory(params, info)
    G = ResNetGenerator(info.resolution, info.channels, norm, params.width, params.upsample,
                        params.init_std)
    D = ResNetDiscriminator(info.resolution, info.channels, params.width, params.spectral_norm,
                            info.num_classes, params.projection, params.init_std)
    return keep_single_modulation(G, params.g_norm), D
