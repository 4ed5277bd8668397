"""PGGAN building blocks: pixel norm, equalized-learning-rate layers, minibatch statistics.

Karras, Aila, Laine & Lehtinen, "Progressive Growing of GANs for Improved Quality, Stability, and
Variation" (ICLR 2018), sections 3-4, after the authors' code (TF ``networks.py``, Theano
``network.py``; see ``implementation-notes.md`` B.1-B.3).

* :func:`pixel_norm`: ``x * rsqrt(mean_c(x^2) + 1e-8)`` over dim 1 (channels, or latent units).
* :class:`EqLinear` / :class:`EqConv2d`: with ``eq_lr`` the stored weight is N(0, 1) and is
  multiplied at runtime by ``wscale = gain / sqrt(fan_in)``, kept as a buffer (so a checkpoint says
  how its weights are to be read, and loading an equalized state into a plain layer fails loudly);
  without it the weight is drawn from N(0, (gain / sqrt(fan_in))^2) (He's initializer with the same
  gain) and used as stored. ``fan_in`` is ``k * k * cin`` (conv) or ``cin`` (dense). Biases are
  separate parameters, zero at init, never scaled.
* :func:`minibatch_stddev`: TF ``minibatch_stddev_layer``: strided groups (sample n belongs to group
  ``n % M``), biased variance, ``sqrt(var + 1e-8)``, averaged over C, H, W, one extra channel.
* :class:`MinibatchDiscrimination`: Salimans et al. (2016) section 3.2, as in their ``MinibatchLayer``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)
PN_EPS = 1e-8
MBSTD_EPS = 1e-8


def pixel_norm(x: torch.Tensor) -> torch.Tensor:
    """Normalise the feature vector of every pixel (dim 1) to unit mean square."""
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + PN_EPS)


class PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pixel_norm(x)


class _EqLayer(nn.Module):
    """Shared weight handling of :class:`EqLinear` and :class:`EqConv2d`."""

    weight: nn.Parameter
    wscale: torch.Tensor

    def _init_weight(self, shape: tuple[int, ...], fan_in: int, gain: float, eq_lr: bool) -> None:
        self.gain, self.fan_in, self.eq_lr = float(gain), int(fan_in), bool(eq_lr)
        std = self.gain / math.sqrt(self.fan_in)
        if eq_lr:
            self.weight = nn.Parameter(torch.randn(shape))
            self.register_buffer("wscale", torch.tensor(std))
        else:
            self.weight = nn.Parameter(torch.randn(shape) * std)

    @property
    def runtime_scale(self) -> float:
        """The constant the stored weight is multiplied by in every forward (1.0 without eq_lr)."""
        return float(self.wscale) if self.eq_lr else 1.0

    def effective_weight(self) -> torch.Tensor:
        return self.weight * self.wscale if self.eq_lr else self.weight


class EqLinear(_EqLayer):
    """Dense layer ``x @ (w * wscale).T + b``; ``bias=False`` leaves the bias to the caller."""

    def __init__(self, fin: int, fout: int, gain: float = SQRT2, eq_lr: bool = True,
                 bias: bool = True) -> None:
        super().__init__()
        self._init_weight((fout, fin), fin, gain, eq_lr)
        self.bias = nn.Parameter(torch.zeros(fout)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.effective_weight(), self.bias)


class EqConv2d(_EqLayer):
    """'SAME'-padded stride-1 convolution with an equalized (or He-initialised) weight."""

    def __init__(self, cin: int, cout: int, kernel: int, gain: float = SQRT2, eq_lr: bool = True,
                 bias: bool = True) -> None:
        super().__init__()
        self._init_weight((cout, cin, kernel, kernel), cin * kernel * kernel, gain, eq_lr)
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.effective_weight(), self.bias, padding=self.padding)


def eq_layers(module: nn.Module) -> list[tuple[str, _EqLayer]]:
    """Every equalized/He layer of a network, with its qualified name."""
    return [(n, m) for n, m in module.named_modules() if isinstance(m, _EqLayer)]


# -- minibatch statistics --------------------------------------------------------------------------
def minibatch_stddev(x: torch.Tensor, group_size: int = 4) -> torch.Tensor:
    """Append one channel holding the group's feature standard deviation (TF, notes B.3).

    ``group_size`` 0 uses the whole minibatch as one group (the Theano code the paper ran). Otherwise
    the group size is ``min(group_size, N)`` and must divide N, as in TF.
    """
    n, c, h, w = x.shape
    g = n if group_size <= 0 else min(group_size, n)
    if n % g:
        raise ValueError(f"minibatch stddev: a minibatch of {n} is not divisible by the group "
                         f"size {g} (mbstd_group); use a multiple of {g} or mbstd_group=0")
    m = n // g
    y = x.float().reshape(g, m, c, h, w)  # sample n = i * m + j is member i of group j = n % m
    y = y - y.mean(dim=0, keepdim=True)
    std = torch.sqrt(y.square().mean(dim=0) + MBSTD_EPS)  # biased variance, [m, c, h, w]
    s = std.mean(dim=(1, 2, 3)).to(x.dtype)  # [m]
    s = s.repeat(g).view(n, 1, 1, 1).expand(n, 1, h, w)  # sample n gets the value of group n % m
    return torch.cat([x, s], dim=1)


class MinibatchStddev(nn.Module):
    extra_channels = 1

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return minibatch_stddev(x, self.group_size)


class MinibatchDiscrimination(nn.Module):
    """Minibatch discrimination (Salimans et al. 2016), appended as ``kernels`` constant maps.

    ``M = T(flatten(x))`` is ``[N, kernels, dims]``; ``o_b(x_i) = sum_{j != i} exp(-|M_ib - M_jb|_1)
    + bias_b`` (the OpenAI code's ``MinibatchLayer`` excludes j = i and adds a learned bias per
    kernel). ``T`` is an equalized dense layer with gain ``1 / dims``, so at initialisation a pair's
    L1 distance is of order 1 (OpenAI rescales the same distances by a data-dependent init).
    """

    def __init__(self, features: int, kernels: int = 16, dims: int = 8, eq_lr: bool = True) -> None:
        super().__init__()
        self.kernels, self.dims = kernels, dims
        self.extra_channels = kernels
        self.T = EqLinear(features, kernels * dims, gain=1.0 / dims, eq_lr=eq_lr, bias=False)
        self.bias = nn.Parameter(torch.zeros(kernels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        m = self.T(x.flatten(1)).view(n, self.kernels, self.dims)
        dist = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(dim=-1)  # [N, N, kernels]
        o = torch.exp(-dist).sum(dim=1) - 1.0 + self.bias  # exp(-0) = 1: drop j = i
        return torch.cat([x, o.view(n, self.kernels, 1, 1).expand(n, self.kernels, h, w)], dim=1)


# -- normalisation and resampling ------------------------------------------------------------------
def feature_norm(kind: str, channels: int) -> nn.Module:
    """``batchnorm``: per-channel BN over N (, H, W); ``layernorm``: per sample over C (, H, W) with
    a per-channel gain and bias (``GroupNorm`` with one group, as Gulrajani et al.'s ``Layernorm``
    over axes [1, 2, 3]); ``none``: identity. Works on ``[N, C]`` and ``[N, C, H, W]``."""
    if kind == "batchnorm":
        return _AnyDimBatchNorm(channels)
    if kind == "layernorm":
        return nn.GroupNorm(1, channels)
    if kind in ("none", "pixelnorm"):
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}")


class _AnyDimBatchNorm(nn.modules.batchnorm._BatchNorm):
    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() not in (2, 4):
            raise ValueError(f"expected a [N, C] or [N, C, H, W] input, got {tuple(x.shape)}")


def upsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Nearest-neighbour upsampling by an integer factor (TF ``upscale2d``: pixel replication)."""
    return x if factor == 1 else F.interpolate(x, scale_factor=factor, mode="nearest")


def downsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Box-filter downsampling by an integer factor (repeated 2x2 averages; TF ``downscale2d``)."""
    return x if factor == 1 else F.avg_pool2d(x, factor)
