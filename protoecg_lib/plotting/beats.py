"""Beat timing beside a rhythm prototype: lead II with its R peaks and the RR tachogram.

:func:`plot_beat_timing` draws one or more records (e.g. a test ECG and the source ECG of the
rhythm prototype it matched) as lead-II strips with the detected R peaks, and under each strip the
RR intervals (s) held between beats (:func:`protoecg_lib.data.rr.tachogram`), so a reader sees the
"irregularly irregular" pattern a beat-timing prototype carries.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from ..data import rr
from .style import house_style, new_figure

__all__ = ["plot_beat_timing"]


def plot_beat_timing(signals: Sequence[np.ndarray], fs: float, titles: Sequence[str] | None = None, *,
                     lead: int = 1, method: str = "neurokit") -> Figure:
    """Lead ``lead`` with R peaks and the tachogram of each record.

    Parameters
    ----------
    signals : sequence of ndarray, each (12, T)
        Records in mV (a test ECG and a prototype's source ECG, say).
    fs : float
    titles : sequence of str, optional
        One per record.
    lead : int
        Lead index (1 = lead II).
    method : {'neurokit', 'gqrs'}
        R-peak detector.

    Returns
    -------
    Figure
        Two axes per record: the strip (mV) and the RR tachogram (s).
    """
    signals = [np.asarray(s) for s in signals]
    if not signals or any(s.ndim != 2 for s in signals):
        raise ValueError("plot_beat_timing needs one or more records of shape (12, T)")
    titles = list(titles) if titles is not None else [f"record {i + 1}" for i in range(len(signals))]
    if len(titles) != len(signals):
        raise ValueError(f"got {len(titles)} titles for {len(signals)} records")
    with house_style():
        fig = new_figure((10.0, 2.6 * len(signals)))
        grid = fig.add_gridspec(2 * len(signals), 1, height_ratios=[2, 1] * len(signals), hspace=0.8)
        for i, (x, title) in enumerate(zip(signals, titles)):
            timing = rr.beat_timing(x, fs, lead=lead, method=method)
            t = np.arange(x.shape[-1]) / float(fs)
            ax = fig.add_subplot(grid[2 * i])
            ax.plot(t, x[lead], lw=0.8, color="black")
            ax.plot(timing.peak_times_s, x[lead][timing.peaks], "v", color="tab:red", ms=5)
            f = dict(zip(rr.BEAT_FEATURES, timing.features))
            ax.set_title(f"{title}: {len(timing.peaks)} beats, mean RR {np.mean(timing.rr) if len(timing.rr) else float('nan'):.2f} s, "
                         f"CV {f['cv_rr']:.2f}, irregular {f['irregular_frac']:.0%}", fontsize=9, loc="left")
            ax.set_ylabel("mV")
            ax.set_xlim(0, t[-1])
            ax2 = fig.add_subplot(grid[2 * i + 1], sharex=ax)
            ax2.step(t, rr.tachogram(timing.peaks, fs, x.shape[-1]), where="post", color="tab:blue", lw=1.2)
            ax2.set_ylabel("RR (s)")
            ax2.set_ylim(0, 1.25 * float(timing.rr.max()) if len(timing.rr) else 2.0)
        ax2.set_xlabel("time (s)")
    return fig
