"""ECG-paper primitives shared by every ECG figure: highlights, input checks, grid, bands.

How a page is drawn (and how tests read it)
-------------------------------------------
One Axes holds a whole page. Its x axis is the **page time axis in seconds**: in the print layout
a column's slice sits at its own record time (column 2 of a 10-s record spans x = 2.5 to 5.0), so
page x equals record time for every panel and for the rhythm strip; the calibration pulses sit at
negative x, left of the traces. Its y axis is in mV, each print row offset by
``EcgPaper.row_spacing_mv`` (50 mm). ``set_aspect`` makes 1 mm horizontally equal 1 mm vertically
(method §7.3: 25 mm/s, 10 mm/mV).

Every drawn element carries a gid: ``"grid-minor"``/``"grid-major"`` (LineCollections),
``"trace-<lead>"`` (Line2D; ``"trace-rhythm-<lead>"`` on the print page's strip), ``"lead-label"``
(Text), ``"calibration"`` (Line2D) and ``"highlight"`` (one
:class:`~matplotlib.patches.Rectangle` per panel a highlight covers, x and width in page seconds, y
spanning that panel). The figure keeps ``fig._protoecg_panels`` (one dict per panel: ``lead``,
``row``, ``col``, ``t0``, ``t1`` (record seconds), ``x0``, ``x1`` (page x), ``y0``, ``y1``,
``baseline``, ``strip``, ``axes``) and ``fig._protoecg_highlights`` (one dict per band: ``lead``,
``strip``, ``x0``, ``x1``, ``label``, ``patch``, ``axes``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from ..labels import LEADS
from .style import EcgPaper

__all__ = ["LAYOUT", "Highlight", "check_signals"]

#: The print layout: three rows of four leads (method §7.3); the rhythm strip comes underneath.
LAYOUT: tuple[tuple[str, ...], ...] = (
    ("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))

_CANON = {name.lower(): name for name in LEADS}


def _canonical_lead(name: str) -> str:
    """``'AVR'``/``'avr'`` -> ``'aVR'``; a name that is not a standard lead is returned as given."""
    return _CANON.get(str(name).strip().lower(), str(name).strip())


@dataclass(frozen=True)
class Highlight:
    """A translucent band over a time span of an ECG (a prototype window, method §5 and §7.3).

    Parameters
    ----------
    start_s, end_s : float
        The span in record seconds, ``start_s < end_s``.
    leads : sequence of str or None
        Panels to shade: ``None`` for all leads, else lead names (case-insensitive, ``'AVR'`` is
        ``'aVR'``); an empty tuple shades no lead panel (see :meth:`strip_only`).
    color, label, alpha
        Band colour, legend label (None: no legend entry) and opacity.
    strip : bool or None
        Whether to shade the rhythm strip. None (default): when ``leads`` is None or contains the
        rhythm-strip lead.
    """

    start_s: float
    end_s: float
    leads: tuple[str, ...] | None = None
    color: str = "tab:blue"
    label: str | None = None
    alpha: float = 0.25
    strip: bool | None = None

    def __post_init__(self) -> None:
        start, end = float(self.start_s), float(self.end_s)
        if not (math.isfinite(start) and math.isfinite(end) and start < end):
            raise ValueError(f"Highlight needs finite start_s < end_s (seconds); got {self.start_s!r}-{self.end_s!r}")
        if not 0.0 <= float(self.alpha) <= 1.0:
            raise ValueError(f"Highlight alpha must be in [0, 1]; got {self.alpha!r}")
        object.__setattr__(self, "start_s", start)
        object.__setattr__(self, "end_s", end)
        if self.leads is not None:
            if isinstance(self.leads, str):
                raise ValueError(f"Highlight leads must be a list of lead names, not the string {self.leads!r}; "
                                 f"write leads=[{self.leads!r}]")
            names = tuple(_canonical_lead(n) for n in self.leads)
            unknown = [n for n in names if n not in LEADS]
            if unknown:
                raise ValueError(f"Highlight leads {unknown} are not 12-lead names; choose from {list(LEADS)}")
            object.__setattr__(self, "leads", names)

    @classmethod
    def strip_only(cls, start_s: float, end_s: float, **kwargs) -> "Highlight":
        """A band on the rhythm strip only (the 1D rhythm prototypes of method §5)."""
        return cls(start_s, end_s, leads=(), strip=True, **kwargs)

    def on_lead(self, lead: str) -> bool:
        """Whether a panel showing ``lead`` is shaded."""
        return self.leads is None or lead in self.leads

    def on_strip(self, rhythm_lead: str) -> bool:
        """Whether the rhythm strip (showing ``rhythm_lead``) is shaded."""
        return self.strip if self.strip is not None else self.on_lead(rhythm_lead)


def _as_highlights(highlights) -> list[Highlight]:
    """Normalise None, one Highlight, one (start_s, end_s) pair or a list of those (or dicts)."""
    if highlights is None:
        return []
    if isinstance(highlights, Highlight) or (
            isinstance(highlights, tuple) and len(highlights) == 2
            and all(isinstance(v, (int, float, np.number)) for v in highlights)):
        highlights = [highlights]
    out = []
    for h in highlights:
        if isinstance(h, Highlight):
            out.append(h)
        elif isinstance(h, dict):
            out.append(Highlight(**h))
        elif isinstance(h, (tuple, list)) and len(h) == 2:
            out.append(Highlight(float(h[0]), float(h[1])))
        else:
            raise TypeError(f"a highlight must be a Highlight, a (start_s, end_s) pair or a dict; got {h!r}")
    return out


def _to_numpy(signals) -> np.ndarray:
    if hasattr(signals, "detach"):  # a torch tensor
        signals = signals.detach().cpu().numpy()
    return np.asarray(signals, dtype=np.float64)


def _check_fs(fs) -> float:
    try:
        value = float(fs)
    except (TypeError, ValueError):
        raise TypeError(f"fs must be the sampling rate in Hz (a number); got {fs!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"fs must be a positive sampling rate in Hz (100 or 500 for PTB-XL); got {fs!r}")
    return value


def check_signals(signals, fs, leads: Sequence[str] = LEADS, name: str = "signals") -> tuple[np.ndarray, float]:
    """Validate one ECG for plotting and return it as float64 ``(len(leads), T)`` with ``fs``.

    Raises a ValueError naming the shape for a wrong layout (e.g. ``(T, 12)``, a batch
    ``(N, 12, T)``), fewer than 4 samples, or NaN/inf values.
    """
    fs = _check_fs(fs)
    x = _to_numpy(signals)
    n = len(leads)
    if x.ndim != 2 or x.shape[0] != n:
        hint = ""
        if x.ndim == 2 and x.shape[1] == n:
            hint = f" It looks like (T, {n}); pass its transpose ({name}.T)."
        elif x.ndim == 3:
            hint = " That is a batch; pass one ECG, e.g. signals[i]."
        raise ValueError(f"{name} must have shape ({n}, T) (leads x samples, in mV); got shape {x.shape}.{hint}")
    if x.shape[1] < 4:
        raise ValueError(f"{name} has shape {x.shape}: at least 4 samples are needed to plot an ECG")
    bad = ~np.isfinite(x)
    if bad.any():
        first = int(np.argmax(bad.any(axis=1)))
        raise ValueError(f"{name} of shape {x.shape} holds {int(bad.sum())} NaN/inf value(s) (first in lead "
                         f"{leads[first]}); clean or interpolate the record before plotting")
    return x, fs


def _lead_rows(leads: Sequence[str], needed: Iterable[str]) -> dict[str, int]:
    rows = {_canonical_lead(n): i for i, n in enumerate(leads)}
    missing = [n for n in needed if n not in rows]
    if missing:
        raise ValueError(f"leads {list(leads)} lack {missing}, which this figure needs; pass the lead names of the "
                         f"signal rows (default protoecg_lib.labels.LEADS)")
    return rows


# ---------------------------------------------------------------------------------------------
# drawing primitives
# ---------------------------------------------------------------------------------------------

def _grid_positions(lo: float, hi: float, step: float) -> tuple[np.ndarray, np.ndarray]:
    k = np.arange(math.ceil(lo / step - 1e-6), math.floor(hi / step + 1e-6) + 1)
    return k, k * step


def _draw_paper(ax: Axes, x0: float, x1: float, y0: float, y1: float, paper: EcgPaper, minor_grid: bool = True) -> None:
    """Pink minor and red major grid lines over the page rectangle (two LineCollections).

    ``minor_grid=False`` leaves out the 1-mm lines (small multiples, where they would merge).
    """
    kx, xs = _grid_positions(x0, x1, paper.minor_s)
    ky, ys = _grid_positions(y0, y1, paper.minor_mv)
    vertical = np.stack([np.stack([xs, np.full_like(xs, y0)], -1), np.stack([xs, np.full_like(xs, y1)], -1)], 1)
    horizontal = np.stack([np.stack([np.full_like(ys, x0), ys], -1), np.stack([np.full_like(ys, x1), ys], -1)], 1)
    major_x, major_y = kx % 5 == 0, ky % 5 == 0
    minor = np.concatenate([vertical[~major_x], horizontal[~major_y]])  # (n, 2, 2)
    major = np.concatenate([vertical[major_x], horizontal[major_y]])
    if minor_grid:
        ax.add_collection(LineCollection(minor, colors=paper.minor_color, linewidths=paper.minor_linewidth,
                                         zorder=0, gid="grid-minor"), autolim=False)
    ax.add_collection(LineCollection(major, colors=paper.major_color, linewidths=paper.major_linewidth,
                                     zorder=0.1, gid="grid-major"), autolim=False)


def _draw_calibration(ax: Axes, x_end: float, baseline: float, paper: EcgPaper) -> None:
    """A 1-mV, 5-mm-wide calibration pulse in the margin left of ``x_end``."""
    width = 5 * paper.minor_s
    if not paper.calibration or paper.margin_s < width + 2 * paper.minor_s:
        return
    pad = (paper.margin_s - width) / 2
    a = x_end - paper.margin_s + pad / 2
    xs = [a, a + pad / 2, a + pad / 2, a + pad / 2 + width, a + pad / 2 + width, x_end - pad / 2]
    ys = np.array([0, 0, 1, 1, 0, 0]) + baseline
    ax.plot(xs, ys, color=paper.trace_color, lw=paper.trace_linewidth, gid="calibration", zorder=3)


def _finish_page(ax: Axes, x0: float, x1: float, y0: float, y1: float, paper: EcgPaper, ticks: bool = False) -> None:
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect(paper.aspect, adjustable="box")
    ax.set_yticks([])
    if not ticks:
        ax.set_xticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _band(ax: Axes, h: Highlight, x0: float, x1: float, y0: float, y1: float) -> Rectangle:
    rect = Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor=h.color, edgecolor="none", alpha=h.alpha,
                     zorder=1, gid="highlight")
    ax.add_patch(rect)
    return rect


def _check_inside(highlights: list[Highlight], duration: float, what: str) -> None:
    for h in highlights:
        if h.end_s <= 0 or h.start_s >= duration:
            raise ValueError(f"highlight {h.start_s:g}-{h.end_s:g} s lies outside the {what} (0-{duration:g} s); "
                             f"check the sampling rate used to turn samples into seconds")


def _legend(ax: Axes, highlights: list[Highlight]) -> None:
    handles, seen = [], set()
    for h in highlights:
        if h.label and h.label not in seen:
            seen.add(h.label)
            handles.append(Patch(facecolor=h.color, alpha=max(h.alpha, 0.4), label=h.label))
    if handles:
        ax.legend(handles=handles, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=min(len(handles), 4),
                  fontsize=8, borderaxespad=0.2, handlelength=1.2)


def _registry(fig: Figure, key: str) -> list:
    if not hasattr(fig, key):
        setattr(fig, key, [])
    return getattr(fig, key)


def _page_info(ax: Axes, paper: EcgPaper, fs: float) -> None:
    ax.text(1.0, -0.004, f"{paper.mm_per_s:g} mm/s   {paper.mm_per_mv:g} mm/mV   {fs:g} Hz", transform=ax.transAxes,
            ha="right", va="top", fontsize=7, color="0.35", gid="page-info")


def _mv_limits(lo: float, hi: float, paper: EcgPaper, pad: float = 0.3, floor: float = -1.0,
               ceil: float = 1.5) -> tuple[float, float]:
    step = 5 * paper.minor_mv  # whole major squares
    return (min(floor, math.floor((lo - pad) / step) * step), max(ceil, math.ceil((hi + pad) / step) * step))


def _draw_strip(ax: Axes, y: np.ndarray, fs: float, lead: str, highlights: list[Highlight], paper: EcgPaper,
                ylim: tuple[float, float], calibration: bool = True, tick_step: float | None = 1.0,
                label: bool = True, minor_grid: bool = True) -> None:
    """One lead over its whole duration on paper, with bands; records the panel on the figure."""
    fig = ax.figure
    duration = y.shape[0] / fs
    x0 = -paper.margin_s if calibration else 0.0
    y0, y1 = ylim
    _draw_paper(ax, x0, duration, y0, y1, paper, minor_grid)
    ax.plot(np.arange(y.shape[0]) / fs, y, color=paper.trace_color, lw=paper.trace_linewidth, gid=f"trace-{lead}",
            zorder=2)
    if calibration:
        _draw_calibration(ax, 0.0, 0.0, paper)
    if label:
        ax.text(2 * paper.minor_s, y1 - 2 * paper.minor_mv, lead, fontsize=9, fontweight="bold", va="top",
                gid="lead-label", zorder=4)
    _registry(fig, "_protoecg_panels").append(dict(lead=lead, row=0, col=0, t0=0.0, t1=duration, x0=0.0,
                                                   x1=duration, y0=y0, y1=y1, baseline=0.0, strip=True, axes=ax))
    bands = _registry(fig, "_protoecg_highlights")
    for h in highlights:
        if h.on_lead(lead) or h.strip:
            a, b = max(h.start_s, 0.0), min(h.end_s, duration)
            if a < b:
                bands.append(dict(lead=lead, strip=True, x0=a, x1=b, label=h.label,
                                  patch=_band(ax, h, a, b, y0, y1), axes=ax))
    _finish_page(ax, x0, duration, y0, y1, paper, ticks=tick_step is not None)
    if tick_step is not None:
        ax.set_xticks(np.arange(0.0, duration + 1e-9, tick_step))
        ax.tick_params(axis="x", length=2, pad=1)
