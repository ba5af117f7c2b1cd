"""The 12-lead print layout and the explanation pair (method §7.3, §5, §7.2).

25 mm/s, 10 mm/mV, pink 1-mm and red 5-mm grid, rows [I, aVR, V1, V4], [II, aVL, V2, V5],
[III, aVF, V3, V6] with consecutive quarter-record slices per column, a full-length rhythm strip
underneath, a 1-mV calibration pulse per row, translucent highlight bands over prototype windows.
One Axes per page; see :mod:`protoecg_lib.plotting.ecg_grid` for the page coordinates and for how
tests find panels and bands.

A highlight is drawn in every panel whose time range overlaps it, clipped to that panel: leads are
recorded simultaneously, so a window of 2.0-2.93 s shades 2.0-2.5 s of the first-column panels and
2.5-2.93 s of the second-column panels -- on the page, one continuous band from x = 2.0 to 2.93.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..labels import LEADS
from .ecg_grid import (LAYOUT, Highlight, _as_highlights, _band, _canonical_lead, _check_inside, _draw_calibration,
                    _draw_paper, _finish_page, _lead_rows, _legend, _page_info, _registry, check_signals)
from .style import EcgPaper, house_style, new_figure

__all__ = ["plot_ecg", "plot_ecg_pair"]


def _print_page_extent(duration: float, paper: EcgPaper) -> tuple[float, float, float, float]:
    s = paper.row_spacing_mv
    return -paper.margin_s, duration, -3.5 * s, 0.5 * s


def _draw_print_page(ax: Axes, x: np.ndarray, fs: float, rows: dict[str, int], highlights: list[Highlight],
                     rhythm_lead: str, paper: EcgPaper, title: str | None) -> None:
    """Draw one ECG ``x`` (12, T) in the print layout into ``ax`` and record panels and bands."""
    fig = ax.figure
    panels, bands = _registry(fig, "_protoecg_panels"), _registry(fig, "_protoecg_highlights")
    n = x.shape[1]
    duration = n / fs
    _check_inside(highlights, duration, "record")
    s = paper.row_spacing_mv
    x0, x1, y0, y1 = _print_page_extent(duration, paper)
    _draw_paper(ax, x0, x1, y0, y1, paper)
    bounds = [(c * n) // 4 for c in range(5)]  # column c shows samples bounds[c]:bounds[c+1]
    t = np.arange(n) / fs  # (T,) record time = page x
    label_dy = 0.3 * s
    strip_items = [(3, None, rhythm_lead, 0, n)]
    items = [(r, c, lead, bounds[c], bounds[c + 1]) for r, names in enumerate(LAYOUT) for c, lead in enumerate(names)]
    for r, c, lead, i0, i1 in items + strip_items:
        strip = c is None
        baseline = -r * s
        sl = slice(i0, i1)
        ax.plot(t[sl], x[rows[lead], sl] + baseline, color=paper.trace_color, lw=paper.trace_linewidth,
                gid=f"trace-rhythm-{lead}" if strip else f"trace-{lead}", zorder=2)
        t0, t1 = i0 / fs, i1 / fs
        ax.text(t0 + 2 * paper.minor_s, baseline + label_dy, lead, fontsize=9, fontweight="bold", va="bottom",
                gid="lead-label", zorder=4)
        if c == 0 or strip:
            _draw_calibration(ax, 0.0, baseline, paper)
        if c:  # a short separator marks where the next lead starts
            ax.plot([t0, t0], [baseline - 0.5, baseline + 0.5], color=paper.trace_color, lw=1.0,
                    gid="separator", zorder=2)
        py0, py1 = baseline - s / 2, baseline + s / 2
        panels.append(dict(lead=lead, row=r, col=c, t0=t0, t1=t1, x0=t0, x1=t1, y0=py0, y1=py1,
                           baseline=baseline, strip=strip, axes=ax))
        for h in highlights:
            if not (h.on_strip(rhythm_lead) if strip else h.on_lead(lead)):
                continue
            a, b = max(h.start_s, t0), min(h.end_s, t1)
            if a < b:
                rect = _band(ax, h, a, b, py0, py1)
                bands.append(dict(lead=lead, strip=strip, x0=a, x1=b, label=h.label, patch=rect, axes=ax))
    _finish_page(ax, x0, x1, y0, y1, paper)
    _page_info(ax, paper, fs)
    _legend(ax, highlights)
    if title:
        ax.set_title(title, loc="left", fontsize=10, pad=4)


def _page_size_mm(duration: float, paper: EcgPaper) -> tuple[float, float]:
    x0, x1, y0, y1 = _print_page_extent(duration, paper)
    return (x1 - x0) * paper.mm_per_s, (y1 - y0) * paper.mm_per_mv


# margins around a page Axes, inches: left, right, bottom, top (title and legend)
_MARGINS = (0.1, 0.1, 0.22, 0.42)


def _figure_for_pages(pages_mm: list[tuple[float, float]], arrangement: str, width: float | None,
                      figsize: tuple[float, float] | None):
    """A figure with one correctly proportioned Axes per page, pages stacked or side by side."""
    left, right, bottom, top = _MARGINS
    if arrangement not in ("vertical", "horizontal"):
        raise ValueError(f"arrangement must be 'vertical' or 'horizontal'; got {arrangement!r}")
    vertical = arrangement == "vertical"
    if vertical:
        inner = (width or 11.0) - left - right
        k = inner / max(w for w, _ in pages_mm)  # inches per page mm, one scale for all pages
        size = (inner + left + right, sum(h * k + bottom + top for _, h in pages_mm))
    else:
        inner = (width or 16.0) - len(pages_mm) * (left + right)
        k = inner / sum(w for w, _ in pages_mm)
        size = (width or 16.0, max(h for _, h in pages_mm) * k + bottom + top)
    fig = new_figure(figsize or size)
    fw, fh = fig.get_size_inches()
    sx, sy = fw / size[0], fh / size[1]  # a user figsize rescales the layout; aspect then fits each box
    axes, cursor = [], size[1] if vertical else 0.0
    for w, h in pages_mm:
        if vertical:
            cursor -= h * k + bottom + top
            rect = (left, cursor + bottom, w * k, h * k)
        else:
            rect = (cursor + left, bottom, w * k, h * k)
            cursor += w * k + left + right
        axes.append(fig.add_axes((rect[0] * sx / fw, rect[1] * sy / fh, rect[2] * sx / fw, rect[3] * sy / fh)))
    return fig, axes


def plot_ecg(signals, fs: float, *, title: str | None = None, highlights=None, rhythm_lead: str = "II",
             ax: Axes | None = None, figsize: tuple[float, float] | None = None, width: float = 11.0,
             leads: Sequence[str] = LEADS, paper: EcgPaper | None = None) -> Figure:
    """One ECG in the standard 12-lead print layout (method §7.3).

    Parameters
    ----------
    signals : array or Tensor, shape (12, T)
        One ECG in mV, rows in ``leads`` order. Any ``fs`` and length: each column shows T/4 samples.
    fs : float
        Sampling rate in Hz.
    title : str, optional
        Printed above the page (e.g. ECG id, labels, prototype class and similarity).
    highlights : list of Highlight or (start_s, end_s) pairs, optional
        Bands over record time spans (see module docstring for where they are drawn).
    rhythm_lead : str
        Lead of the full-length rhythm strip under the three rows.
    ax : Axes, optional
        Draw into this Axes (its aspect is set to page proportions); else a new figure is made.
    figsize, width : optional
        Figure size in inches; by default ``width`` inches wide and as tall as the page needs.
    leads : sequence of str
        Names of the signal rows (PTB-XL's ``AVR`` spelling is accepted).
    paper : EcgPaper, optional
        Speed, gain and grid; the defaults are 25 mm/s, 10 mm/mV.

    Returns
    -------
    Figure
        With ``fig._protoecg_panels`` and ``fig._protoecg_highlights`` (module docstring).
    """
    paper = paper or EcgPaper()
    x, fs = check_signals(signals, fs, leads)
    rhythm_lead = _canonical_lead(rhythm_lead)
    rows = _lead_rows(leads, [n for row in LAYOUT for n in row] + [rhythm_lead])
    hl = _as_highlights(highlights)
    with house_style():
        if ax is None:
            _, (ax,) = _figure_for_pages([_page_size_mm(x.shape[1] / fs, paper)], "vertical", width, figsize)
        _draw_print_page(ax, x, fs, rows, hl, rhythm_lead, paper, title)
    return ax.figure


def plot_ecg_pair(left_signals, right_signals, fs, left_title: str | None = None, right_title: str | None = None,
                  left_highlights=None, right_highlights=None, *, arrangement: str = "vertical",
                  rhythm_lead: str = "II", width: float | None = None, figsize: tuple[float, float] | None = None,
                  leads: Sequence[str] = LEADS, paper: EcgPaper | None = None) -> Figure:
    """The explanation layout: the ECG being explained and a prototype's source ECG (method §5, §7.2).

    Both ECGs are drawn in print layout at the same paper scale, each with its own highlights
    (typically the matched window in the test ECG and the prototype window in its source ECG).

    Parameters
    ----------
    left_signals, right_signals : array, shape (12, T_left) and (12, T_right)
        The explained ECG ("left", drawn first: on top when vertical) and the prototype's source.
    fs : float or (float, float)
        Sampling rate of both, or of each.
    left_title, right_title : str, optional
    left_highlights, right_highlights : list of Highlight, optional
    arrangement : {"vertical", "horizontal"}
        Pages stacked (default: each stays readable in a notebook) or side by side.

    Returns
    -------
    Figure
        Two Axes (explained ECG first); panels of both in ``fig._protoecg_panels``.
    """
    paper = paper or EcgPaper()
    fs_left, fs_right = (fs if isinstance(fs, (tuple, list)) else (fs, fs))
    xl, fs_left = check_signals(left_signals, fs_left, leads, "left_signals")
    xr, fs_right = check_signals(right_signals, fs_right, leads, "right_signals")
    rhythm_lead = _canonical_lead(rhythm_lead)
    rows = _lead_rows(leads, [n for row in LAYOUT for n in row] + [rhythm_lead])
    hl_left, hl_right = _as_highlights(left_highlights), _as_highlights(right_highlights)
    with house_style():
        pages = [_page_size_mm(xl.shape[1] / fs_left, paper), _page_size_mm(xr.shape[1] / fs_right, paper)]
        fig, (ax_left, ax_right) = _figure_for_pages(pages, arrangement, width, figsize)
        _draw_print_page(ax_left, xl, fs_left, rows, hl_left, rhythm_lead, paper, left_title)
        _draw_print_page(ax_right, xr, fs_right, rows, hl_right, rhythm_lead, paper, right_title)
    return fig
