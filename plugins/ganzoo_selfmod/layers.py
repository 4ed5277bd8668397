"""Generator normalisation layers: plain BN, self-modulated BN and their label-conditional variants.

Chen, Lucic, Houlsby & Gelly, "On Self Modulation for Generative Adversarial Networks" (ICLR 2019),
Section 2, and the authors' code, compare_gan ``architectures/arch_ops.py``
(``standardize_batch``, ``self_modulated_batch_norm``, ``conditional_batch_norm``).

Every layer is built by :class:`NormFactory` for a number of features and called as
``norm(x, z, y)``, where ``x`` is ``[N, F]`` (SNDCGAN's first BN, on the flat dense output: one
statistic and one modulation per unit) or ``[N, C, H, W]`` (statistics over N, H, W per channel),
``z`` is the conditioning vector the generator computes once per forward (:class:`Conditioning`:
the latent ``z``, or ``z'`` for conditional self-modulation) and ``y`` holds integer labels ``[N]``.

* ``bn``: batch norm with a learned affine (gamma 1, beta 0 at init). Ignores ``z`` and ``y``.
* ``selfmod``: batch norm without affine, then ``x_hat * gamma(z) + beta(z)`` where gamma and beta
  come from this layer's own one-hidden-layer MLP: ``h = ReLU(W_h z + b_h)`` (``hidden`` units,
  default 32), ``gamma = W_g h + b_g``, ``beta = W_b h + b_b``. As in compare_gan, gamma is the raw
  output of its head, whose bias starts at 1.0 (so gamma is about 1 at init); weights are
  N(0, init_std), the other biases 0. ``hidden=0`` drops the hidden layer (a linear map of z), as
  compare_gan's ``num_hidden=0`` does.
* ``cbn``: class-conditional batch norm, ``gamma = 1 + E_g[y]``, ``beta = E_b[y]`` with embeddings
  drawn from N(0, init_std). The "1 +" centring is BigGAN's (Brock et al. 2019). compare_gan's
  ``conditional_batch_norm`` uses the raw bias-free projection ``gamma = W y`` with W ~ N(0, 0.02),
  which would start every gamma near zero and almost switch the layer off; we do not copy that.
* ``selfmod-first`` / ``selfmod-last``: only the first BN of G (the one on the dense output) or
  only its last (before the output conv) is self-modulated, the others are plain ``bn``: the two
  ends of the paper's "where to apply self-modulation?" ablation (Section 3.2, Figure 2), built by
  :func:`keep_single_modulation`.
* ``cselfmod``: conditional self-modulation (paper Eq. 3). The label is composed with the latent
  once per forward, ``z' = z + E y + z * (E' y)`` with two trainable C x d embeddings E and E'
  (N(0, init_std); the paper gives no initialisation and no public code implements it), and z'
  replaces z as the input of every layer's self-modulation MLP.

Batch statistics: biased variance in training, running averages at inference (torch momentum 0.1
is TF decay 0.9, the value of every compare_gan config). compare_gan can also use "accumulated"
standing statistics at inference; that is not implemented here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

NORM_KINDS = ("bn", "selfmod", "cbn", "cselfmod", "selfmod-first", "selfmod-last")
# The paper's "where to apply self-modulation?" ablation: every BN, or a single layer.
SINGLE_LAYER_KINDS = ("selfmod-first", "selfmod-last")
CONDITIONAL_KINDS = ("cbn", "cselfmod")


class AnyDimBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm over N (and H, W) per feature, for ``[N, F]`` and ``[N, C, H, W]`` inputs.

    4-D inputs go to ``F.batch_norm`` as they are, so a channels_last tensor stays channels_last.
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() not in (2, 4):
            raise ValueError(f"expected a [N, F] or [N, C, H, W] input, got shape {tuple(x.shape)}")


def modulate(x_hat: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """``x_hat * gamma + beta`` with per-sample ``[N, F]`` gamma and beta; 2-D or 4-D ``x_hat``."""
    if x_hat.dim() == 4:
        gamma, beta = gamma[:, :, None, None], beta[:, :, None, None]
    return x_hat * gamma + beta


class BatchNorm(nn.Module):
    """Plain batch norm with a learned affine; the baseline of the paper's study."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.num_features = num_features
        self.bn = AnyDimBatchNorm(num_features, eps=eps, momentum=momentum, affine=True)

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None, y=None) -> torch.Tensor:
        return self.bn(x)


class SelfModulatedBatchNorm(nn.Module):
    """Self-modulated BN ("sBN"): gamma and beta are an MLP of the generator's input z."""

    def __init__(self, num_features: int, z_dim: int, hidden: int = 32, eps: float = 1e-5,
                 momentum: float = 0.1, init_std: float = 0.02) -> None:
        super().__init__()
        self.num_features = num_features
        self.bn = AnyDimBatchNorm(num_features, eps=eps, momentum=momentum, affine=False)
        # compare_gan scopes sbn/hidden, sbn/gamma, sbn/beta: one hidden layer shared by both heads.
        self.hidden = nn.Linear(z_dim, hidden) if hidden > 0 else None
        head_in = hidden if hidden > 0 else z_dim
        self.gamma = nn.Linear(head_in, num_features)
        self.beta = nn.Linear(head_in, num_features)
        for layer in (self.hidden, self.gamma, self.beta):
            if layer is not None:
                nn.init.normal_(layer.weight, 0.0, init_std)
                nn.init.zeros_(layer.bias)
        nn.init.ones_(self.gamma.bias)  # bias_start=1.0: gamma is used raw, centred by its bias

    def forward(self, x: torch.Tensor, z: torch.Tensor, y=None) -> torch.Tensor:
        h = z if self.hidden is None else F.relu(self.hidden(z))
        return modulate(self.bn(x), self.gamma(h), self.beta(h))


class ConditionalBatchNorm(nn.Module):
    """Class-conditional BN: ``gamma = 1 + E_g[y]``, ``beta = E_b[y]`` (BigGAN's centring)."""

    def __init__(self, num_features: int, num_classes: int, eps: float = 1e-5,
                 momentum: float = 0.1, init_std: float = 0.02) -> None:
        super().__init__()
        self.num_features = num_features
        self.bn = AnyDimBatchNorm(num_features, eps=eps, momentum=momentum, affine=False)
        self.gamma = nn.Embedding(num_classes, num_features)
        self.beta = nn.Embedding(num_classes, num_features)
        nn.init.normal_(self.gamma.weight, 0.0, init_std)
        nn.init.normal_(self.beta.weight, 0.0, init_std)

    def forward(self, x: torch.Tensor, z: torch.Tensor | None, y: torch.Tensor) -> torch.Tensor:
        return modulate(self.bn(x), 1.0 + self.gamma(y), self.beta(y))


class LabelComposition(nn.Module):
    """Paper Eq. 3: ``z' = g(y, z) = z + E y + z * (E' y)``, E and E' trainable label embeddings."""

    def __init__(self, num_classes: int, z_dim: int, init_std: float = 0.02) -> None:
        super().__init__()
        self.embed_add = nn.Embedding(num_classes, z_dim)  # E
        self.embed_mul = nn.Embedding(num_classes, z_dim)  # E'
        nn.init.normal_(self.embed_add.weight, 0.0, init_std)
        nn.init.normal_(self.embed_mul.weight, 0.0, init_std)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return z + self.embed_add(y) + z * self.embed_mul(y)


class Conditioning(nn.Module):
    """Computes, once per generator forward, the vector every norm layer receives as ``z``."""

    def __init__(self, kind: str, z_dim: int, num_classes: int = 0, init_std: float = 0.02) -> None:
        super().__init__()
        self.kind = kind
        self.compose = (LabelComposition(num_classes, z_dim, init_std)
                        if kind == "cselfmod" else None)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if self.kind in CONDITIONAL_KINDS and y is None:
            raise ValueError(f"g_norm={self.kind!r} is class-conditional: "
                             "call G(z, y) with labels y")
        return z if self.compose is None else self.compose(z, y)


@dataclass(frozen=True)
class NormFactory:
    """Builds the generator's chosen norm layer for a number of features: ``factory(256)``."""

    kind: str = "bn"
    z_dim: int = 128
    num_classes: int = 0
    hidden: int = 32
    eps: float = 1e-5
    momentum: float = 0.1
    init_std: float = 0.02

    def __post_init__(self) -> None:
        if self.kind not in NORM_KINDS:
            raise ValueError(f"unknown norm {self.kind!r}; choose one of {NORM_KINDS}")
        if self.kind in CONDITIONAL_KINDS and self.num_classes <= 0:
            raise ValueError(f"norm {self.kind!r} needs num_classes > 0")

    @property
    def conditional(self) -> bool:
        return self.kind in CONDITIONAL_KINDS

    def __call__(self, num_features: int) -> nn.Module:
        common = dict(eps=self.eps, momentum=self.momentum)
        if self.kind == "bn":
            return BatchNorm(num_features, **common)
        if self.kind == "cbn":
            return ConditionalBatchNorm(num_features, self.num_classes, init_std=self.init_std,
                                        **common)
        # selfmod, cselfmod and the single-layer kinds share the layer (the single-layer kinds are
        # pruned afterwards by keep_single_modulation); cselfmod differs in the conditioning vector.
        return SelfModulatedBatchNorm(num_features, self.z_dim, self.hidden,
                                      init_std=self.init_std, **common)

    def conditioning(self) -> Conditioning:
        return Conditioning(self.kind, self.z_dim, self.num_classes, self.init_std)


def keep_single_modulation(G: nn.Module, kind: str) -> nn.Module:
    """For ``selfmod-first``/``selfmod-last``: every self-modulated BN but the first (or the last,
    in forward order, which is the order G creates them) becomes a plain affine BN."""
    if kind not in SINGLE_LAYER_KINDS:
        return G
    found = [(name, m) for name, m in G.named_modules() if isinstance(m, SelfModulatedBatchNorm)]
    keep = found[0][0] if kind == "selfmod-first" else found[-1][0]
    for name, m in found:
        if name != keep:
            G.set_submodule(name, BatchNorm(m.num_features, eps=m.bn.eps, momentum=m.bn.momentum))
    return G
