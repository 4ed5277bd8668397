"""Training monitors for any architecture: top singular values of every weight, their plot, and a
simple collapse detector (BigGAN, Brock et al. 2019, section 4 and Figure 3 / appendix F).

BigGAN tracks the top singular values sigma_0 (sigma_1, sigma_2) of each layer's weight, *before*
spectral normalisation: in G a few layers' sigma_0 grow throughout training and explode at
collapse; D's are noisier and jump at collapse.

* :func:`top_singular_values` estimates them by power (subspace) iteration, warm-started from the
  vectors of the previous call kept in a ``state`` dict, so a handful of iterations per call is
  enough when it runs every few hundred steps (weights move little in between).
* :func:`plot_singular_values` draws sigma_0 of every layer against the step, one panel for G and
  one for D, like BigGAN's Figure 3.
* :func:`detect_collapse` returns the first step at which G's spectra explode (rule below).

Records, as the trainer keeps them: a list of ``{"step": int, "G": {layer: sigma0}, "D": {layer:
sigma0}}`` (sigma0 a float; a list of floats, as :func:`top_singular_values` returns, is read as
its first entry).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["detect_collapse", "plot_singular_values", "top_singular_values", "weight_matrices"]


def weight_matrices(module: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter with >= 2 dims, named by its module path, as the raw (pre-SN) tensor.

    A spectral-norm layer made with ``torch.nn.utils.parametrizations.spectral_norm`` holds its raw
    weight in ``<layer>.parametrizations.weight.original``: it is reported as ``<layer>.weight``
    (the normalised weight it computes has sigma_0 of about 1 and is not reported). The old-style
    ``torch.nn.utils.spectral_norm`` keeps ``<layer>.weight_orig``: reported as ``<layer>.weight``.
    """
    out: dict[str, torch.Tensor] = {}
    for name, p in module.named_parameters():
        if p.dim() < 2:
            continue
        if ".parametrizations." in f".{name}" and name.endswith(".original"):
            head, _, rest = f".{name}".rpartition(".parametrizations.")
            name = f"{head}.{rest[: -len('.original')]}".lstrip(".")
        elif name.endswith("weight_orig"):
            name = name[: -len("_orig")]
        out[name] = p
    return out


@torch.no_grad()
def top_singular_values(module: nn.Module, n_iter: int = 4, k: int = 1,
                        state: dict[str, torch.Tensor] | None = None,
                        cold_iter: int = 50) -> dict[str, list[float]]:
    """The ``k`` largest singular values of every weight of ``module`` (see :func:`weight_matrices`).

    Each weight is viewed as ``W = param.view(out, -1)`` (rows = output units, as spectral norm
    does). Subspace iteration on ``W^T W`` with ``k`` vectors, then Rayleigh-Ritz: the estimates
    are the singular values of ``W V`` (never above the true ones; exact when ``V`` spans the top
    right-singular subspace). ``state`` maps a layer name to its ``[cols, k]`` orthonormal ``V``:
    when given, the iteration starts from it and stores the new one, so each call refines the
    previous estimate (``n_iter`` iterations); a layer with no vector yet (or another shape) starts
    from a fixed-seed random ``V`` and runs ``cold_iter`` iterations. Computed in float32.

    Returns ``{layer: [sigma_0, ..., sigma_{k-1}]}`` (fewer when the matrix has fewer).
    """
    if n_iter < 1 or k < 1:
        raise ValueError("n_iter and k must be >= 1")
    state = {} if state is None else state
    out: dict[str, list[float]] = {}
    for name, p in weight_matrices(module).items():
        W = p.detach().reshape(p.shape[0], -1).float()
        kk = min(k, *W.shape)
        V = state.get(name)
        iters = n_iter
        if V is None or V.shape != (W.shape[1], kk) or V.device != W.device:
            gen = torch.Generator().manual_seed(0)
            V = torch.randn(W.shape[1], kk, generator=gen).to(W.device)
            V = torch.linalg.qr(V).Q
            iters = max(n_iter, cold_iter)
        for _ in range(iters):
            V = torch.linalg.qr(W.t() @ (W @ V)).Q
        state[name] = V
        s = torch.linalg.svdvals(W @ V)
        out[name] = [float(x) for x in s[:kk]]
    return out


def _sigma0(v: Any) -> float:
    if isinstance(v, (list, tuple)):
        return float(v[0]) if v else float("nan")
    return float(v)


def sv_figure(records: list[dict], title: str = "", log_scale: bool = False) -> Any:
    """The figure of :func:`plot_singular_values`: G left, D right, legends beside the axes (never over
    the curves), the title wrapped to the figure's width."""
    import matplotlib

    from ganzoo.report.figures import legend_outside, new_figure, suptitle

    fig = new_figure(12, 4)
    axes = fig.subplots(1, 2)
    cmap = matplotlib.colormaps["rainbow_r"]
    for ax, net in zip(axes, ("G", "D")):
        layers: list[str] = []
        for r in records:
            for name in r.get(net, {}):
                if name not in layers:
                    layers.append(name)
        for i, name in enumerate(layers):
            pts = [(r["step"], _sigma0(r[net][name])) for r in records if name in r.get(net, {})]
            if not pts:
                continue
            steps, values = zip(*pts)
            color = cmap(i / max(1, len(layers) - 1))
            ax.plot(steps, values, color=color, linewidth=1.0,
                    label=name if len(layers) <= 12 else None)
        ax.set_title(f"({'a' if net == 'G' else 'b'}) {net}")
        ax.set_xlabel("step")
        ax.set_ylabel(r"$\sigma_0$")
        if log_scale:
            ax.set_yscale("log")
        if layers and len(layers) <= 12:
            legend_outside(ax, fontsize=6)
        if not layers:
            ax.text(0.5, 0.5, "no records", ha="center", va="center", transform=ax.transAxes)
    if title:
        suptitle(fig, title)
    return fig


def plot_singular_values(records: list[dict], path: str | Path, title: str = "",
                         log_scale: bool = False) -> Path:
    """A PNG like BigGAN's Figure 3: sigma_0 of every layer against the step, G left, D right.

    Lines run from red (first layer) to violet (last), in the order the layers appear in the
    records. Written atomically; returns the path written.
    """
    from ganzoo.report.figures import save

    return save(sv_figure(records, title, log_scale), Path(path))


def detect_collapse(records: list[dict], net: str = "G", factor: float = 2.0, lookback: int = 1,
                    min_step: int = 0) -> int | None:
    """The step at which ``net``'s spectra explode, or None.

    Rule: let ``m_t`` be the largest sigma_0 over ``net``'s layers in record ``t`` (records sorted
    by step). Collapse is detected at the first record ``t`` with ``step >= min_step`` where
    ``m_t > factor * m_{t - lookback}``, i.e. the top singular value jumps by more than ``factor``
    within ``lookback`` records, or where any sigma_0 is not finite (NaN/inf weights). BigGAN's
    Figure 3: G's largest sigma_0 grows slowly (a few percent between records a few hundred steps
    apart) and explodes at collapse; the defaults (``factor`` 2 between consecutive records) flag
    only such a jump. Use ``min_step`` to skip the first steps, where the spectra move fast from
    their initial values, and ``net="D"`` to watch D instead.
    """
    if factor <= 1 or lookback < 1:
        raise ValueError("factor must be > 1 and lookback >= 1")
    recs = sorted((r for r in records if r.get(net)), key=lambda r: r["step"])
    maxima = []
    for r in recs:
        values = [_sigma0(v) for v in r[net].values()]
        maxima.append(max(values) if all(math.isfinite(v) for v in values) else math.inf)
    for t, r in enumerate(recs):
        if r["step"] < min_step:
            continue
        if math.isinf(maxima[t]):
            return int(r["step"])
        if t >= lookback and maxima[t] > factor * maxima[t - lookback]:
            return int(r["step"])
    return None
