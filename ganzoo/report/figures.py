"""Figures of the results: matplotlib's object API (no pyplot state), saved atomically, never clipped.

Kinds draw into a fresh :class:`matplotlib.figure.Figure` from :func:`new_figure`; :func:`save`
writes it through the one atomic-write helper with ``bbox_inches="tight"``, so long titles and
legends placed outside the axes are inside the image rather than cut at its edge. Titles are
wrapped to the figure's width by :func:`wrap`. matplotlib is imported only when a figure is made.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path
from typing import Any

from ganzoo.atomic import write_atomic


def new_figure(width: float = 6.4, height: float = 4.4) -> Any:
    """A Figure with an Agg canvas (thread-safe, no display, no global pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def wrap(text: str, width_in: float, fontsize: float = 10) -> str:
    """``text`` broken into lines that fit ``width_in`` inches at ``fontsize`` points."""
    chars = max(20, int(width_in * 72 / (0.55 * fontsize)))
    return "\n".join(textwrap.wrap(text, chars)) or text


def suptitle(fig: Any, text: str, fontsize: float = 10) -> None:
    """A figure title wrapped to the figure's width."""
    fig.suptitle(wrap(text, fig.get_figwidth(), fontsize), fontsize=fontsize)


def lift_suptitle(fig: Any, gap_pt: float = 4.0) -> None:
    """Move the figure title up until it clears every axes and its (possibly multi-line) title.

    ``tight_layout`` leaves room for one line of axes title below the figure title; a longer
    panel title would touch it. The title may end above the figure's top edge: ``save`` writes
    with ``bbox_inches="tight"``, which keeps it in the image.
    """
    st = getattr(fig, "_suptitle", None)  # matplotlib keeps the suptitle Text here (no public getter)
    if st is None or not st.get_text() or not fig.axes:
        return
    renderer = fig.canvas.get_renderer()
    boxes = [b for ax in fig.axes if ax.get_visible() and (b := ax.get_tightbbox(renderer)) is not None]
    if not boxes:
        return
    top = max(b.y1 for b in boxes)
    bottom = st.get_window_extent(renderer).y0
    need = top + gap_pt * fig.dpi / 72 - bottom
    if need > 0:
        _, y = st.get_position()
        st.set_y(y + need / fig.bbox.height)


def title(ax: Any, text: str, fontsize: float = 9) -> None:
    """An axes title wrapped to the axes' width."""
    w = ax.get_position().width * ax.figure.get_figwidth()
    ax.set_title(wrap(text, w, fontsize), fontsize=fontsize)


def legend_outside(ax: Any, fontsize: float = 7, **kw: Any) -> Any:
    """A legend to the right of the axes, so it never covers the curves."""
    return ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=fontsize, **kw)


def png_bytes(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", pad_inches=0.15)
    return buf.getvalue()


def save(fig: Any, path: str | Path) -> Path:
    """Lay out and write a figure as PNG atomically; returns the path."""
    try:
        fig.tight_layout()
    except Exception:  # a layout that cannot be tightened still saves (bbox_inches does the rest)
        pass
    lift_suptitle(fig)
    return write_atomic(path, png_bytes(fig))
