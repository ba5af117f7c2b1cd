"""Single-lead strips and zoomed 3x4 segments on ECG paper (the prototype figures of method §5).

A 1D rhythm prototype is shown as its source ECG's lead-II strip shaded over the whole record; a
2D partial prototype as a 3x4 zoom of just its window. Page coordinates as in
:mod:`protoecg_lib.plotting.ecg_grid`.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from ..labels import LEADS
from .ecg_grid import (LAYOUT, _as_highlights, _canonical_lead, _check_inside, _draw_calibration, _draw_paper,
                    _draw_strip, _finish_page, _lead_rows, _legend, _mv_limits, _page_info, _registry, _to_numpy,
                    check_signals)
from .style import EcgPaper, house_style, new_figure

__all__ = ["plot_lead_strip", "plot_segment"]


def plot_lead_strip(signals, fs: float, lead: str = "II", highlights=None, title: str | None = None, *,
                    width: float = 11.0, leads: Sequence[str] = LEADS, paper: EcgPaper | None = None) -> Figure:
    """A single-lead strip on ECG paper (1D prototypes and zooms, method §5).

    Parameters
    ----------
    signals : array, shape (12, T) or (T,)
        One ECG (the row ``lead`` is drawn) or one lead already selected (``lead`` is its name).
    fs : float
        Sampling rate in Hz.
    lead : str
        Lead to draw and print.
    highlights : list of Highlight, optional
        Shaded when ``leads`` is None, contains ``lead``, or ``strip`` is True.
    title : str, optional

    Returns
    -------
    Figure
        One Axes, x in record seconds with ticks every second.
    """
    paper = paper or EcgPaper()
    lead = _canonical_lead(lead)
    arr = _to_numpy(signals)
    if arr.ndim == 1:
        y, fs = check_signals(arr[None, :], fs, (lead,))
        y = y[0]
    else:
        x, fs = check_signals(arr, fs, leads)
        y = x[_lead_rows(leads, [lead])[lead]]
    hl = _as_highlights(highlights)
    duration = y.shape[0] / fs
    _check_inside(hl, duration, "record")
    ylim = _mv_limits(float(y.min()), float(y.max()), paper)
    page_w = (duration + paper.margin_s) * paper.mm_per_s
    page_h = (ylim[1] - ylim[0]) * paper.mm_per_mv
    with house_style():
        inner = width - 0.2
        fig = new_figure((width, inner * page_h / page_w + 0.75))
        fw, fh = fig.get_size_inches()
        ax = fig.add_axes((0.1 / fw, 0.35 / fh, inner / fw, inner * page_h / page_w / fh))
        tick = 1.0 if duration > 2 else 0.2
        _draw_strip(ax, y, fs, lead, hl, paper, ylim, tick_step=tick)
        ax.set_xlabel("time (s)", fontsize=8, labelpad=1)
        _legend(ax, hl)
        if title:
            ax.set_title(title, loc="left", fontsize=10, pad=4)
    return fig


def plot_segment(signals, fs: float, start_s: float, end_s: float, title: str | None = None, *,
                 width: float = 8.0, leads: Sequence[str] = LEADS, paper: EcgPaper | None = None) -> Figure:
    """A 3x4 zoom of one time window of all 12 leads on ECG paper (2D partial prototypes, method §5).

    Parameters
    ----------
    signals : array, shape (12, T)
        One ECG in mV.
    fs : float
        Sampling rate in Hz.
    start_s, end_s : float
        The window in record seconds, inside the record.
    title : str, optional
        Default: ``"segment <start>-<end> s"``.

    Returns
    -------
    Figure
        One Axes with 12 panels in print-layout order; ``fig._protoecg_panels`` gives each panel's
        page x range (``x0``, ``x1``) and record time range (``t0``, ``t1``).
    """
    paper = paper or EcgPaper()
    x, fs = check_signals(signals, fs, leads)
    rows = _lead_rows(leads, [n for row in LAYOUT for n in row])
    duration = x.shape[1] / fs
    start_s, end_s = float(start_s), float(end_s)
    if not (0 <= start_s < end_s <= duration + 1e-9):
        raise ValueError(f"segment {start_s:g}-{end_s:g} s must satisfy 0 <= start < end <= {duration:g} s "
                         f"(the record length)")
    i0, i1 = math.ceil(start_s * fs - 1e-9), min(x.shape[1], math.floor(end_s * fs + 1e-9) + 1)
    if i1 - i0 < 2:
        raise ValueError(f"segment {start_s:g}-{end_s:g} s holds fewer than 2 samples at {fs:g} Hz; widen it")
    seg = x[:, i0:i1]  # (12, S)
    t = np.arange(i0, i1) / fs - start_s  # (S,) time within the window
    major_s = 5 * paper.minor_s
    slot = math.ceil((end_s - start_s) / major_s - 1e-9) * major_s + major_s  # panel + one major square gap
    top, baselines = 0.0, []
    for names in LAYOUT:
        vals = seg[[rows[n] for n in names]]
        lo, hi = _mv_limits(float(vals.min()), float(vals.max()), paper, pad=0.2, floor=-0.5, ceil=1.5)
        baselines.append((top - hi, top - hi + lo, top))
        top = top - hi + lo
    x0, x1, y0, y1 = -paper.margin_s, 4 * slot - major_s, top, 0.0
    page_w, page_h = (x1 - x0) * paper.mm_per_s, (y1 - y0) * paper.mm_per_mv
    with house_style():
        inner = width - 0.2
        fig = new_figure((width, inner * page_h / page_w + 0.64))
        fw, fh = fig.get_size_inches()
        ax = fig.add_axes((0.1 / fw, 0.22 / fh, inner / fw, inner * page_h / page_w / fh))
        _draw_paper(ax, x0, x1, y0, y1, paper)
        panels = _registry(fig, "_protoecg_panels")
        for r, names in enumerate(LAYOUT):
            baseline, py0, py1 = baselines[r]
            _draw_calibration(ax, 0.0, baseline, paper)
            for c, lead in enumerate(names):
                px = c * slot
                ax.plot(px + t, seg[rows[lead]] + baseline, color=paper.trace_color, lw=paper.trace_linewidth * 1.3,
                        gid=f"trace-{lead}", zorder=2)
                ax.text(px + paper.minor_s, py1 - paper.minor_mv, lead, fontsize=9, fontweight="bold", va="top",
                        gid="lead-label", zorder=4)
                panels.append(dict(lead=lead, row=r, col=c, t0=start_s, t1=end_s, x0=px, x1=px + end_s - start_s,
                                   y0=py0, y1=py1, baseline=baseline, strip=False, axes=ax))
        _finish_page(ax, x0, x1, y0, y1, paper)
        _page_info(ax, paper, fs)
        ax.set_title(title or f"segment {start_s:.2f}-{end_s:.2f} s", loc="left", fontsize=10, pad=4)
    return fig
