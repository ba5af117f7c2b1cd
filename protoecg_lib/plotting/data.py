"""Data figures: label frequencies, label co-occurrence, and the high-pass filter's response.

The co-occurrence heatmap shows the Jaccard matrix of method §1.7, the frequency-response plot the
gain of the baseline-wander high-pass of method §1.2.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from ..labels import BRANCH_OF, BRANCHES
from .ecg_grid import _to_numpy
from .style import house_style, new_figure

__all__ = ["plot_cooccurrence", "plot_frequency_response", "plot_label_frequencies"]


def tick_fontsize(n: int) -> float:
    """Tick-label size that keeps ``n`` labels readable without overlap."""
    return 8.0 if n <= 20 else max(5.5, 9.0 - n / 25)


def plot_cooccurrence(jaccard, labels: Sequence[str] | None = None, title: str | None = None,
                      annotate: bool | None = None, *, mask_upper: bool = False, cmap: str = "rocket_r",
                      figsize: tuple[float, float] | None = None) -> Figure:
    """Heatmap of the label co-occurrence (Jaccard) matrix (method §1.7).

    Parameters
    ----------
    jaccard : array or DataFrame, shape (C, C)
        Symmetric Jaccard indices in [0, 1] (NaN allowed: drawn blank).
    labels : sequence of str, length C, optional
        Tick labels; a DataFrame's index by default.
    annotate : bool, optional
        Print the values in the cells; by default only when C <= 16.
    mask_upper : bool
        Hide the (redundant) upper triangle, diagonal kept.

    Returns
    -------
    Figure
        Axes 0 holds the heatmap (a QuadMesh of C x C cells), Axes 1 the colour bar.
    """
    import seaborn as sns

    if labels is None and isinstance(jaccard, pd.DataFrame):
        labels = [str(v) for v in jaccard.index]
    j = _to_numpy(jaccard)
    if j.ndim != 2 or j.shape[0] != j.shape[1]:
        raise ValueError(f"jaccard must be a square (C, C) matrix; got shape {j.shape}")
    c = j.shape[0]
    labels = [str(v) for v in (labels if labels is not None else range(c))]
    if len(labels) != c:
        raise ValueError(f"{len(labels)} labels for a jaccard matrix of shape {j.shape}; pass one label per row")
    finite = j[np.isfinite(j)]
    if finite.size and (finite.min() < -1e-9 or finite.max() > 1 + 1e-9):
        raise ValueError(f"jaccard values must lie in [0, 1]; got {finite.min():.3g} to {finite.max():.3g}")
    annotate = c <= 16 if annotate is None else bool(annotate)
    cell = 0.42 if annotate else 0.16  # inches per cell: room for "0.00" when annotated
    side = figsize or (min(max(4.5, cell * c + 2.4), 15.0), min(max(3.8, cell * c + 1.0), 14.0))
    fs = tick_fontsize(c)
    with house_style():
        fig = new_figure(side)
        ax = fig.add_subplot()
        mask = np.triu(np.ones_like(j, dtype=bool), k=1) if mask_upper else None
        sns.heatmap(j, mask=mask, ax=ax, cmap=cmap, vmin=0.0, vmax=1.0, square=True, xticklabels=labels,
                    yticklabels=labels, annot=annotate, fmt=".2f", annot_kws={"fontsize": 7},
                    linewidths=0.3 if c <= 30 else 0.0, linecolor="white",
                    cbar_kws={"label": "Jaccard index", "shrink": 0.6})
        ax.tick_params(axis="both", labelsize=fs, length=1.5, pad=1)
        ax.set_xticklabels(ax.get_xticklabels(), rotation=90)
        ax.set_yticklabels(ax.get_yticklabels(), rotation=0)
        ax.set_title(title or f"label co-occurrence ({c} labels)", loc="left")
        fig.tight_layout()
    return fig


def plot_frequency_response(freqs_hz, gains, *, cutoff_hz: float | None = None,
                            bands: Mapping[str, tuple[float, float]] | None = None, title: str | None = None,
                            figsize: tuple[float, float] | None = None) -> Figure:
    """Gain of a filter against frequency on a log axis, with its cutoff and labelled bands (method §1.2).

    Parameters
    ----------
    freqs_hz : array, shape (F,)
        Frequencies in Hz, positive and increasing (e.g. the ``w`` of ``scipy.signal.freqz(..., fs=fs)``
        without its 0 Hz entry).
    gains : array, shape (F,), or mapping name -> array, shape (F,)
        Linear magnitudes ``|H(f)| >= 0`` (``np.abs(h)``), one curve per entry of a mapping. For a
        zero-phase (forward-backward) filter the effective gain is ``|H(f)|**2``.
    cutoff_hz : float, optional
        Drawn as a dashed vertical line (gid ``"cutoff"``).
    bands : mapping label -> (low_hz, high_hz), optional
        Frequency ranges to shade (gid ``"band"``), labelled at the top of the plot (e.g. where
        baseline wander, the heart rate and the QRS complex live).
    title : str, optional

    Returns
    -------
    Figure
        One Axes, log-scaled frequency axis; one Line2D per curve with gid ``"response"`` and the
        curve's name as label.
    """
    f = np.asarray(freqs_hz, dtype=float)
    if f.ndim != 1 or f.size < 2:
        raise ValueError(f"freqs_hz must be a 1-D array of at least 2 frequencies; got shape {f.shape}")
    if not (np.isfinite(f).all() and (f > 0).all() and (np.diff(f) > 0).all()):
        raise ValueError("freqs_hz must be finite, > 0 and increasing (drop the 0 Hz entry of freqz for a log axis)")
    curves = dict(gains) if isinstance(gains, Mapping) else {"gain": gains}
    if not curves:
        raise ValueError("gains is empty: pass one array, or a mapping name -> array")
    checked = {}
    for name, g in curves.items():
        g = np.asarray(g)
        if np.iscomplexobj(g):
            raise ValueError(f"gains[{name!r}] is complex; pass magnitudes (np.abs(h), or np.abs(h)**2 for zero phase)")
        g = g.astype(float)
        if g.shape != f.shape:
            raise ValueError(f"gains[{name!r}] has shape {g.shape}; it needs one value per frequency, shape {f.shape}")
        if not np.isfinite(g).all() or (g < 0).any():
            raise ValueError(f"gains[{name!r}] must be finite and >= 0 (linear magnitudes)")
        checked[str(name)] = g
    for label, (lo, hi) in (bands or {}).items():
        if not (0 < lo < hi):
            raise ValueError(f"band {label!r} must satisfy 0 < low < high (Hz); got ({lo}, {hi})")
    top = max(1.0, max(float(g.max()) for g in checked.values())) * 1.15
    with house_style() as style:
        fig = new_figure(figsize or (7.5, 3.6), style)
        ax = fig.add_subplot()
        for k, (label, (lo, hi)) in enumerate((bands or {}).items()):
            ax.axvspan(lo, hi, color=style.palette[(k + 2) % len(style.palette)], alpha=0.12, lw=0, gid="band")
            ax.text(math.sqrt(lo * hi), top * 0.985, label, ha="center", va="top", fontsize=7.5, color="0.25",
                    gid="band-label")
        for k, (name, g) in enumerate(checked.items()):
            ax.plot(f, g, color=style.palette[k % len(style.palette)], label=name, gid="response")
        if cutoff_hz is not None:
            ax.axvline(cutoff_hz, color="0.3", ls="--", lw=0.9, gid="cutoff")
            ax.text(cutoff_hz * 1.06, 0.04 * top, f"cutoff {cutoff_hz:g} Hz", fontsize=7.5, color="0.3", gid="cutoff-label")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # 0.1, 1, 10 rather than 10^k
        ax.set_xlim(f[0], f[-1])
        ax.set_ylim(0, top)
        ax.set_xlabel("frequency (Hz)")
        ax.set_ylabel("gain (output / input amplitude)")
        ax.grid(True, which="both", color="0.92", lw=0.6)
        ax.set_axisbelow(True)
        if isinstance(gains, Mapping):
            ax.legend(loc="center right")
        if title:
            ax.set_title(title, loc="left")
        fig.tight_layout()
    return fig


def _counts(counts) -> pd.Series:
    if isinstance(counts, Mapping):
        s = pd.Series(dict(counts), dtype=float)
    elif isinstance(counts, pd.Series):
        s = counts.astype(float)
    elif isinstance(counts, pd.DataFrame):
        if {"label", "count"} <= set(counts.columns):
            s = counts.set_index("label")["count"].astype(float)
        else:
            numeric = counts.select_dtypes("number").columns
            if len(numeric) != 1:
                raise ValueError(f"counts DataFrame needs columns label and count, or one numeric column indexed by "
                                 f"label; it has {list(counts.columns)}")
            s = counts[numeric[0]].astype(float)
    else:
        raise TypeError(f"counts must be a dict code -> count, a Series or a DataFrame; got {type(counts).__name__}")
    if s.empty:
        raise ValueError("counts is empty: nothing to plot")
    if (s < 0).any() or not np.isfinite(s.to_numpy()).all():
        raise ValueError("counts must be finite and >= 0")
    s.index = s.index.astype(str)
    return s


def plot_label_frequencies(counts, *, sort: bool = True, log: bool = False, title: str | None = None,
                           figsize: tuple[float, float] | None = None) -> Figure:
    """How many ECGs carry each label, one horizontal bar per label coloured by branch (method §1.4).

    Parameters
    ----------
    counts : dict, Series or DataFrame
        Count per SCP code (``{code: n}``, a Series indexed by code, or a DataFrame with columns
        ``label`` and ``count``).
    sort : bool
        Most frequent label on top; input order otherwise.
    log : bool
        Logarithmic count axis (PTB-XL's labels span four orders of magnitude).

    Returns
    -------
    Figure
        One Axes, bars (gid ``"label-bar"``) coloured by :data:`protoecg_lib.labels.BRANCH_OF`.
    """
    s = _counts(counts)
    if sort:
        s = s.sort_values(ascending=False, kind="stable")
    n = len(s)
    with house_style() as style:
        fig = new_figure(figsize or (6.0, 0.17 * n + 1.2), style)
        ax = fig.add_subplot()
        branches = [BRANCH_OF.get(code, "other") for code in s.index]
        colors = [style.branch_color(b) for b in branches]
        bars = ax.barh(np.arange(n), s.to_numpy(), color=colors, height=0.8)
        for bar in bars:
            bar.set_gid("label-bar")
        for i, v in enumerate(s.to_numpy()):
            if log and v <= 0:
                continue
            ax.text(v, i, f" {int(v)}", va="center", fontsize=tick_fontsize(n) - 1, color="0.3")
        ax.set_yticks(np.arange(n), list(s.index), fontsize=tick_fontsize(n))
        ax.set_ylim(n - 0.5, -0.5)
        if log:
            ax.set_xscale("log")
        ax.set_xlabel("ECGs with the label" + (" (log scale)" if log else ""))
        present = [b for b in (*BRANCHES, "other") if b in branches]
        ax.legend(handles=[Patch(color=style.branch_color(b), label=b) for b in present], loc="lower right")
        if title:
            ax.set_title(title, loc="left")
        fig.tight_layout()
    return fig
