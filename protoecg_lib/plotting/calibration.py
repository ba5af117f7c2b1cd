"""Calibration figures (chapter 9, issue 16): a reliability diagram and labels listed per ECG.

:func:`plot_calibration` puts the raw ``sigmoid(logit)`` of a model and its calibrated
probabilities (:mod:`protoecg_lib.evaluation.calibration`) side by side: left, the observed rate of
positives against the predicted probability in equal-width bins (a calibrated model lies on the
diagonal); right, how many labels each ECG lists at each rule, beside how many it truly has.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from .style import house_style, new_figure

__all__ = ["plot_calibration"]


def plot_calibration(y_true, probabilities: Mapping[str, np.ndarray], listed: Mapping[str, np.ndarray] | None = None,
                     *, n_bins: int = 10, title: str | None = None) -> Figure:
    """Reliability diagram of one or more probability sets, and labels listed per ECG.

    Parameters
    ----------
    y_true : array, shape (N, C)
        Multi-hot targets of the split.
    probabilities : mapping name -> array (N, C)
        E.g. ``{"sigmoid(logit)": raw, "calibrated": cal.apply(logits)}``.
    listed : mapping name -> bool array (N, C), optional
        Labels each rule lists (``raw >= 0.5``, ``cal.predict(logits)``); draws the second panel,
        with the true count per ECG beside them.
    n_bins : int
        Equal-width probability bins; bins with no pair are not drawn.
    title : str, optional

    Returns
    -------
    Figure
        One Axes (reliability; lines with gid ``"reliability"``) or two (plus labels per ECG; bars
        with gid ``"listed"``).
    """
    y = np.asarray(y_true, np.float64)
    if not probabilities:
        raise ValueError("plot_calibration needs at least one set of probabilities")
    for name, p in probabilities.items():
        if np.shape(p) != y.shape:
            raise ValueError(f"probabilities {name!r} have shape {np.shape(p)}, the targets {y.shape}")
    if int(n_bins) != n_bins or n_bins < 2:
        raise ValueError(f"n_bins must be an integer >= 2, got {n_bins!r}")
    edges = np.linspace(0.0, 1.0, int(n_bins) + 1)
    with house_style() as style:
        fig = new_figure((10.0 if listed else 5.0, 4.0), style)
        axes = fig.subplots(1, 2 if listed else 1, squeeze=False)[0]
        ax = axes[0]
        ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls=":")
        for k, (name, p) in enumerate(probabilities.items()):
            p = np.asarray(p, np.float64).ravel()
            bins = np.clip(np.digitize(p, edges[1:-1]), 0, n_bins - 1)
            mean_p, rate, count = [], [], []
            for b in range(int(n_bins)):
                m = bins == b
                if m.any():
                    mean_p.append(p[m].mean())
                    rate.append(y.ravel()[m].mean())
                    count.append(m.sum())
            ax.plot(mean_p, rate, "o-", color=style.palette[k % len(style.palette)], ms=4, lw=1.2,
                    label=f"{name}", gid="reliability")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("predicted probability (bin mean)")
        ax.set_ylabel("observed rate of positives")
        ax.set_title("reliability: (ECG, label) pairs", loc="left")
        ax.legend(loc="upper left", frameon=False)
        if listed:
            ax2 = axes[1]
            counts = {"true": y.sum(axis=1)} | {name: np.asarray(v, bool).sum(axis=1) for name, v in listed.items()}
            top = int(max(c.max() for c in counts.values()))
            width = 0.8 / len(counts)
            for k, (name, c) in enumerate(counts.items()):
                values = np.bincount(c.astype(int), minlength=top + 1)
                color = "0.3" if name == "true" else style.palette[(k - 1) % len(style.palette)]
                ax2.bar(np.arange(top + 1) + (k - (len(counts) - 1) / 2) * width, values, width=width, color=color,
                        label=f"{name} (median {np.median(c):g})", gid="listed")
            ax2.set_xlabel("labels per ECG")
            ax2.set_ylabel("ECGs")
            ax2.set_title("labels listed per ECG", loc="left")
            ax2.legend(loc="upper right", frameon=False)
        if title:
            fig.suptitle(title)
    return fig
