"""Figures of a branch's anatomy (chapters 3-5): the last layer's +1/-0.5 pattern, and a
prototype's window similarity along an ECG."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from .style import house_style, new_figure
from ..arrays import as_numeric

__all__ = ["plot_last_layer", "plot_window_similarity"]


def plot_last_layer(weight, labels: Sequence[str], prototypes_per_class: int | None = None, *,
                    title: str | None = None, figsize: tuple[float, float] | None = None) -> Figure:
    """The last-layer weight matrix ``(C, P)`` as an image, classes down, prototypes across (method §2.3).

    Parameters
    ----------
    weight : array or Tensor, shape (C, P)
    labels : sequence of str, length C
        Class codes (row labels).
    prototypes_per_class : int, optional
        ``m``: thin lines mark each class's block of prototypes.

    Returns
    -------
    Figure
        Axes 0 holds the image (an AxesImage, diverging colours centred on 0), Axes 1 the colour bar.
    """
    w = as_numeric(weight, "weight").astype(np.float64)
    if w.ndim != 2 or w.shape[0] != len(labels):
        raise ValueError(f"weight must have shape (C, P) with C = {len(labels)} labels, got {w.shape}")
    if not np.isfinite(w).all():
        raise ValueError("weight holds NaN/inf values")
    c, p = w.shape
    lim = max(float(np.abs(w).max()), 1e-12)
    with house_style():
        size = figsize or (min(max(5.0, 0.06 * p + 2.5), 12.0), min(max(2.5, 0.2 * c + 1.2), 10.0))
        fig = new_figure(size)
        ax = fig.add_subplot()
        im = ax.imshow(w, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
        ax.set_yticks(range(c))
        ax.set_yticklabels([str(v) for v in labels], fontsize=8 if c <= 20 else 6)
        ax.set_xlabel("prototype index j")
        ax.set_ylabel("class c")
        if prototypes_per_class:
            for k in range(1, c):
                ax.axvline(k * prototypes_per_class - 0.5, color="0.75", lw=0.4)
        fig.colorbar(im, ax=ax, label="weight $W_{cj}$", shrink=0.8)
        ax.set_title(title or f"last layer: {c} classes x {p} prototypes", loc="left")
        fig.tight_layout()
    return fig


def plot_window_similarity(window_similarity, spans, fs: float, *, trace=None, lead: str | None = None,
                           topk: int = 5, title: str | None = None,
                           figsize: tuple[float, float] = (10.0, 4.6)) -> Figure:
    """One prototype's similarity to every window of one ECG, with the mean / max / top-k pools (method §2.2).

    Parameters
    ----------
    window_similarity : array, shape (W,)
        ``s_w`` for the W windows of one ECG and one prototype.
    spans : array, shape (W, 2)
        ``(start, length)`` in samples of every window (``ProtoBranch.window_spans``).
    fs : float
        Sampling rate of ``spans`` (and of ``trace``).
    trace : array, shape (T,), optional
        One lead of the ECG, drawn above on the same time axis with the best window shaded.
    lead : str, optional
        Name of that lead (for the label).
    topk : int
        ``k`` of the top-k pool line.

    Returns
    -------
    Figure
        The last Axes holds the similarity curve (gid ``"window-similarity"``, x = window centre in
        seconds) and three horizontal lines (gids ``"pool-mean"``, ``"pool-max"``, ``"pool-topk"``).
    """
    s = as_numeric(window_similarity, "window_similarity").astype(np.float64).ravel()
    sp = as_numeric(spans, "spans").astype(np.float64)
    if sp.shape != (s.size, 2):
        raise ValueError(f"spans must have shape (W, 2) = ({s.size}, 2) for {s.size} windows, got {sp.shape}")
    if not fs or fs <= 0:
        raise ValueError(f"fs must be a positive sampling rate in Hz, got {fs!r}")
    centre = (sp[:, 0] + sp[:, 1] / 2) / fs                      # (W,) seconds
    best = int(np.argmax(s))
    k = min(int(topk), s.size)
    pools = {"mean": s.mean(), "max": s.max(), "topk": np.sort(s)[-k:].mean()}
    with house_style() as style:
        if trace is not None:
            y = as_numeric(trace, "trace").astype(np.float64).ravel()
            fig = new_figure(figsize, style)
            ax_ecg, ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1.0, 1.3]})
            t = np.arange(y.size) / fs
            ax_ecg.plot(t, y, color="black", lw=0.8)
            a, b = sp[best, 0] / fs, (sp[best, 0] + sp[best, 1]) / fs
            ax_ecg.axvspan(a, b, color=style.palette[0], alpha=0.25, lw=0, label=f"best window ({a:.2f}-{b:.2f} s)")
            ax_ecg.set_ylabel(f"{lead or 'lead'} (mV)")
            ax_ecg.legend(loc="upper right")
            ax_ecg.set_xlim(0, y.size / fs)
        else:
            fig = new_figure((figsize[0], figsize[1] * 0.6), style)
            ax = fig.add_subplot()
        ax.plot(centre, s, marker="o", ms=3, color=style.palette[0], gid="window-similarity",
                label="similarity to each window")
        ax.plot(centre[best], s[best], marker="*", ms=12, color=style.palette[3], ls="none")
        for (name, value), color, ls in zip(pools.items(), (style.palette[1], style.palette[3], style.palette[2]),
                                            ("--", ":", "-.")):
            label = {"mean": "mean over windows", "max": "max", "topk": f"mean of top {k}"}[name]
            ax.axhline(value, color=color, ls=ls, lw=1.2, gid=f"pool-{name}", label=f"{label}: {value:.2f}")
        ax.set_xlabel("window centre (s)")
        ax.set_ylabel("similarity")
        ax.legend(loc="lower right", ncol=2, fontsize=7)
        if title:
            fig.suptitle(title, x=0.01, ha="left")
        fig.tight_layout()
    return fig
