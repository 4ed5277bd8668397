"""BigGAN building blocks: SN layers, class-conditional BN, self-attention, G and D residual blocks.

Brock, Donahue & Simonyan, "Large Scale GAN Training for High Fidelity Natural Image Synthesis"
(ICLR 2019), appendix B, implemented after the authors' PyTorch code, BigGAN-PyTorch
(``layers.py``: ``SN``, ``ccbn``, ``Attention``, ``GBlock``, ``DBlock``; see the implementation
notes, section C).

* **Spectral norm**: torch's ``parametrizations.spectral_norm`` with one power iteration per
  training-mode forward and none in eval mode (BigGAN-PyTorch ``SN``: u is only updated while
  training). The raw weight lives in ``<layer>.parametrizations.weight.original``; that is the
  tensor the orthogonal regulariser and :mod:`ganzoo.monitor` look at.
* **Initialisation** (``init_weight``): "ortho" = ``nn.init.orthogonal_`` of every Conv2d, Linear
  and Embedding weight (viewed ``[out, -1]``), "N02" = N(0, 0.02). Biases keep torch's default
  initialisation and BN affines start at gain 1 / bias 0, as BigGAN-PyTorch's ``init_weights``
  only touches weights.
* **Conditional BN** (:class:`ConditionalBatchNorm`, BigGAN-PyTorch ``ccbn``):
  ``BN(x) * (1 + gain) + bias`` where the per-sample, per-channel ``gain`` and ``bias`` are bias-free
  linear projections (SN when G uses SN) of a conditioning vector ``c`` (shared class embedding
  and/or a chunk of z) and/or per-layer class embeddings ``E_g[y]``, ``E_b[y]`` (the unshared
  variant of the CIFAR script). The normalisation itself is a ``torch.nn.BatchNorm2d`` submodule
  without affine (momentum 0.1), so generic code that resets every ``_BatchNorm`` (standing
  statistics) works. With no conditioning at all it is a plain affine ``BatchNorm2d``.

Deviation, and why: torch's spectral norm runs 15 power iterations when it is attached, where
BigGAN-PyTorch starts from a random u; in training both run one iteration per forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm


@dataclass(frozen=True)
class LayerConfig:
    """How one network's layers are made: spectral norm or not, its eps, the weight init."""

    sn: bool = True
    sn_eps: float = 1e-6
    init: str = "ortho"


def init_weight(layer: nn.Module, init: str) -> None:
    """BigGAN-PyTorch ``init_weights`` for one Conv2d / Linear / Embedding: weight only."""
    if init == "ortho":
        nn.init.orthogonal_(layer.weight)
    elif init == "N02":
        nn.init.normal_(layer.weight, 0.0, 0.02)
    else:  # pragma: no cover - validated by the params model
        raise ValueError(f"unknown init {init!r}")


def finish(layer: nn.Module, cfg: LayerConfig, sn: bool | None = None) -> nn.Module:
    """Initialise the layer's weight, then attach spectral norm if asked (``sn`` overrides cfg)."""
    init_weight(layer, cfg.init)
    use_sn = cfg.sn if sn is None else sn
    return _spectral_norm(layer, n_power_iterations=1, eps=cfg.sn_eps) if use_sn else layer


def conv(cin: int, cout: int, k: int, cfg: LayerConfig, bias: bool = True) -> nn.Module:
    """A ``k x k`` stride-1 conv that keeps the spatial size (k = 1 or 3)."""
    return finish(nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias), cfg)


def linear(fin: int, fout: int, cfg: LayerConfig, bias: bool = True) -> nn.Module:
    return finish(nn.Linear(fin, fout, bias=bias), cfg)


def embedding(num: int, dim: int, cfg: LayerConfig, sn: bool | None = None) -> nn.Module:
    return finish(nn.Embedding(num, dim), cfg, sn)


def is_spectral_normed(layer: nn.Module) -> bool:
    """True when ``layer.weight`` is produced by a spectral-norm parametrization."""
    plist = getattr(getattr(layer, "parametrizations", None), "weight", None)
    return plist is not None and any(type(p).__name__ == "_SpectralNorm" for p in plist)


# -- conditional batch norm ------------------------------------------------------------------------
class ConditionalBatchNorm(nn.Module):
    """BigGAN's ccbn: ``BN(x) * (1 + gain(c, y)) + bias(c, y)``; plain affine BN when unconditioned.

    ``cond_dim`` > 0: ``gain = W_g c``, ``bias = W_b c`` with bias-free (SN if ``cfg.sn``) linear maps
    of the conditioning vector ``c`` ``[N, cond_dim]``. ``num_classes`` > 0: per-layer class
    embeddings ``E_g[y]``, ``E_b[y]`` (no SN, as BigGAN-PyTorch's G embeddings) are added to them.
    Call as ``ccbn(x, c, y)``.
    """

    def __init__(self, num_features: int, cond_dim: int, num_classes: int, cfg: LayerConfig,
                 eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.num_features, self.cond_dim, self.num_classes = num_features, cond_dim, num_classes
        self.conditional = cond_dim > 0 or num_classes > 0
        self.bn = nn.BatchNorm2d(num_features, eps=eps, momentum=momentum,
                                 affine=not self.conditional)
        self.gain = linear(cond_dim, num_features, cfg, bias=False) if cond_dim > 0 else None
        self.bias = linear(cond_dim, num_features, cfg, bias=False) if cond_dim > 0 else None
        self.gain_embed = embedding(num_classes, num_features, cfg, sn=False) if num_classes else None
        self.bias_embed = embedding(num_classes, num_features, cfg, sn=False) if num_classes else None

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None,
                y: torch.Tensor | None = None) -> torch.Tensor:
        out = self.bn(x)
        if not self.conditional:
            return out
        gain = torch.zeros(x.shape[0], self.num_features, device=x.device, dtype=out.dtype)
        bias = torch.zeros_like(gain)
        if self.gain is not None:
            if c is None:
                raise ValueError("this conditional BN needs its conditioning vector c")
            gain, bias = gain + self.gain(c), bias + self.bias(c)
        if self.gain_embed is not None:
            if y is None:
                raise ValueError("this conditional BN needs class labels y")
            gain, bias = gain + self.gain_embed(y), bias + self.bias_embed(y)
        return out * (1.0 + gain)[:, :, None, None] + bias[:, :, None, None]


# -- self-attention --------------------------------------------------------------------------------
class SelfAttention(nn.Module):
    """SA-GAN non-local block as in BigGAN-PyTorch ``layers.Attention``: ``x + gamma * o``.

    theta, phi: 1x1 convs C -> C/8; g: 1x1 conv C -> C/2; phi and g are 2x2 max-pooled;
    ``beta = softmax_keys(theta^T phi)`` is ``[HW, HW/4]``; ``o`` = 1x1 conv C/2 -> C of
    ``g beta^T``. Every conv is bias-free (and SN with ``cfg.sn``); ``gamma`` starts at 0, so the
    block starts as the identity. (C/8 and C/2 are floored at 1 for very thin test networks.)
    """

    def __init__(self, channels: int, cfg: LayerConfig) -> None:
        super().__init__()
        self.ch = channels
        self.c8, self.c2 = max(1, channels // 8), max(1, channels // 2)
        self.theta = conv(channels, self.c8, 1, cfg, bias=False)
        self.phi = conv(channels, self.c8, 1, cfg, bias=False)
        self.g = conv(channels, self.c2, 1, cfg, bias=False)
        self.o = conv(self.c2, channels, 1, cfg, bias=False)
        self.gamma = nn.Parameter(torch.tensor(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        theta = self.theta(x).view(n, self.c8, h * w)
        phi = F.max_pool2d(self.phi(x), 2).view(n, self.c8, h * w // 4)
        g = F.max_pool2d(self.g(x), 2).view(n, self.c2, h * w // 4)
        beta = F.softmax(torch.bmm(theta.transpose(1, 2), phi), dim=-1)  # [N, HW, HW/4]
        o = self.o(torch.bmm(g, beta.transpose(1, 2)).view(n, self.c2, h, w))
        return x + self.gamma * o


# -- residual blocks -------------------------------------------------------------------------------
def upsample(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour x2 (``F.interpolate(scale_factor=2)``, BigGAN-PyTorch's default mode)."""
    return F.interpolate(x, scale_factor=2, mode="nearest")


class GBlock(nn.Module):
    """bn1(x, c) -> ReLU -> up -> conv3x3 -> bn2(., c) -> ReLU -> conv3x3, plus up -> conv1x1 of x.

    The same conditioning (``c``, ``y``) goes to both BNs. The shortcut is learnable (a 1x1 conv)
    because every G block upsamples (BigGAN-PyTorch: learnable if Cin != Cout or upsampling).
    """

    def __init__(self, cin: int, cout: int, cfg: LayerConfig, cond_dim: int, num_classes: int,
                 bn_eps: float) -> None:
        super().__init__()
        self.bn1 = ConditionalBatchNorm(cin, cond_dim, num_classes, cfg, bn_eps)
        self.conv1 = conv(cin, cout, 3, cfg)
        self.bn2 = ConditionalBatchNorm(cout, cond_dim, num_classes, cfg, bn_eps)
        self.conv2 = conv(cout, cout, 3, cfg)
        self.conv_sc = conv(cin, cout, 1, cfg)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None,
                y: torch.Tensor | None = None) -> torch.Tensor:
        h = upsample(F.relu(self.bn1(x, c, y)))
        h = self.conv2(F.relu(self.bn2(self.conv1(h), c, y)))
        return h + self.conv_sc(upsample(x))


class DBlock(nn.Module):
    """BigGAN D block, "wide" (hidden = out channels).

    ``[ReLU] -> conv3x3 -> ReLU -> conv3x3 -> [avgpool2]``; the ReLU pre-activation is absent in
    block 0. Shortcut: pre-activation blocks do conv1x1 then pool, block 0 pools then conv1x1; the
    1x1 conv exists only if Cin != Cout or the block downsamples.
    """

    def __init__(self, cin: int, cout: int, cfg: LayerConfig, preactivation: bool,
                 downsample: bool) -> None:
        super().__init__()
        self.preactivation, self.downsample = preactivation, downsample
        self.conv1 = conv(cin, cout, 3, cfg)
        self.conv2 = conv(cout, cout, 3, cfg)
        self.learnable_sc = cin != cout or downsample
        self.conv_sc = conv(cin, cout, 1, cfg) if self.learnable_sc else None

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2) if self.downsample else x

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv_sc is None:
            return x
        if self.preactivation:
            return self._pool(self.conv_sc(x))
        return self.conv_sc(self._pool(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x) if self.preactivation else x
        h = self._pool(self.conv2(F.relu(self.conv1(h))))
        return h + self.shortcut(x)
