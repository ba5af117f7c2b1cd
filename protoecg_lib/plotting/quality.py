"""Figures of the explanation-quality measures: localisation hit rate against chance, and the
deletion check (:mod:`protoecg_lib.evaluation.localisation`, :mod:`protoecg_lib.evaluation.deletion`)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..evaluation.deletion import deletion_summary
from ..labels import LEADS

__all__ = ["plot_localisation", "plot_deletion", "plot_hit_vs_chance", "plot_deletion_example"]


def plot_localisation(summary: pd.DataFrame, *, title: str | None = None, max_labels: int = 30) -> Figure:
    """Hit rate per label (bars) with the chance rate (black ticks); the ``all`` row on top.

    Returns
    -------
    Figure
        One Axes; bars have gid ``"hit-rate"``, chance markers gid ``"chance"``; the legend is
        ``fig.legends[0]``, under the axes.
    """
    from .style import house_style, new_figure

    if summary.empty:
        raise ValueError("the localisation summary is empty: no correctly predicted ECG with evidence")
    rows = summary.drop(index="all", errors="ignore").sort_values("pairs", ascending=False).head(max_labels)
    if "all" in summary.index:
        rows = pd.concat([summary.loc[["all"]], rows])
    n = len(rows)
    with house_style() as style:
        fig = new_figure((6.0, 0.9 + 0.28 * n), style)
        ax = fig.add_subplot()
        ypos = np.arange(n)[::-1]
        ax.barh(ypos, rows["hit_rate"], color=[style.palette[2] if k == "all" else style.palette[0]
                                               for k in rows.index], height=0.7, gid="hit-rate", label="hit rate")
        ax.scatter(rows["chance_rate"], ypos, marker="|", s=220, color="black", linewidths=2, zorder=3,
                   gid="chance", label="chance (random window)")
        ax.set_yticks(ypos, [f"{k} (n={int(p)})" for k, p in zip(rows.index, rows["pairs"])])
        ax.set_xlim(0, 1)
        ax.set_xlabel("fraction of matched windows overlapping the evidence")
        ax.set_title(title or "localisation of time-localised prototypes", loc="left")
        # under the axes: bars often reach 1 (evidence in every beat), where a corner legend would sit
        handles, names = ax.get_legend_handles_labels()
        fig.legend(handles, names, loc="lower center", ncol=2, frameon=False)
        fig.tight_layout(rect=(0, 0.35 / fig.get_size_inches()[1], 1, 1))
    return fig


def plot_deletion(df: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Left: histograms of the probability drop for the top-matching and a random window. Right:
    paired logit drops (random on x, top on y) with the diagonal; points above it favour the
    explanation.

    Returns
    -------
    Figure
        Two Axes; ``fig._protoecg_deletion`` holds the summary (:func:`deletion_summary`).
    """
    from .style import house_style, new_figure

    if not len(df):
        raise ValueError("no (ECG, label) pair to plot: the deletion check selected none")
    s = deletion_summary(df)
    with house_style() as style:
        fig = new_figure((10.0, 3.8), style)
        ax1, ax2 = fig.subplots(1, 2)
        values = np.concatenate([df["drop_top"], df["drop_random"]])
        edges = np.histogram_bin_edges(values, bins=25)
        for name, col, color in (("top-matching window", "drop_top", style.palette[0]),
                                 ("random window", "drop_random", style.palette[1])):
            ax1.hist(df[col], bins=edges, histtype="stepfilled", alpha=0.35, color=color, edgecolor=color,
                     label=f"{name}: mean {df[col].mean():+.3f}, median {df[col].median():+.3f}")
        ax1.set_xlabel("drop in fused probability")
        ax1.set_ylabel("pairs (ECG, label)")
        low, high = ax1.get_ylim()
        ax1.set_ylim(low, low + 1.5 * (high - low))   # headroom: the drops pile up near 0, under the legend
        ax1.legend(loc="upper right", fontsize=7)
        ax1.set_title(f"{s['pairs']} pairs; top > random in {100 * s['fraction_top_greater']:.0f}%", loc="left")
        lo = float(min(df["logit_drop_top"].min(), df["logit_drop_random"].min(), 0.0))
        hi = float(max(df["logit_drop_top"].max(), df["logit_drop_random"].max(), 0.0))
        pad = 0.05 * (hi - lo or 1.0)
        ax2.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.5", lw=1, ls="--", gid="diagonal")
        ax2.scatter(df["logit_drop_random"], df["logit_drop_top"], s=12, alpha=0.6, color=style.palette[0],
                    linewidths=0, gid="pairs")
        ax2.set_xlabel("logit drop, random window")
        ax2.set_ylabel("logit drop, top-matching window")
        ax2.set_title(f"neutral segment: {df.attrs.get('neutral', '?')}", loc="left")
        if title:
            fig.suptitle(title, x=0.01, ha="left")
        fig.tight_layout()
    fig._protoecg_deletion = s
    return fig


def plot_hit_vs_chance(summary, *, title: str | None = None, annotate_below: float = 0.9) -> Figure:
    """Hit rate against chance rate, one point per label (area ~ pairs), with the diagonal.

    A label on the diagonal localises no better than a random window; labels whose chance rate is
    near 1 (evidence in every beat) cannot show anything either way.

    Parameters
    ----------
    summary : DataFrame
        :func:`protoecg_lib.evaluation.quality.localisation_summary` (indexed by label plus ``all``).
    annotate_below : float
        Name the labels whose chance rate is below this (the informative ones).

    Returns
    -------
    Figure
        One Axes; the points have gid ``"labels"``, the diagonal ``"diagonal"``, the overall
        point ``"all"``.
    """
    from .style import house_style, new_figure

    rows = summary.drop(index="all", errors="ignore")
    if rows.empty:
        raise ValueError("the localisation summary has no label rows: nothing to plot")
    with house_style() as style:
        fig = new_figure((5.2, 4.6), style)
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], color="0.5", lw=1, ls="--", gid="diagonal", label="hit rate = chance")
        sizes = 12 + 8 * np.sqrt(rows["pairs"].astype(float).to_numpy())
        ax.scatter(rows["chance_rate"], rows["hit_rate"], s=sizes, alpha=0.6, color=style.palette[0],
                   linewidths=0, gid="labels", label="one label (area ~ pairs)")
        if "all" in summary.index:
            ax.scatter([summary.loc["all", "chance_rate"]], [summary.loc["all", "hit_rate"]], marker="D", s=50,
                       color=style.palette[2], zorder=3, gid="all", label="all pairs")
        placed: list[tuple[float, float]] = []
        named = rows[rows["chance_rate"] < annotate_below].sort_values(["hit_rate", "chance_rate"], ascending=False)
        cx, cy = rows["chance_rate"].to_numpy(float), rows["hit_rate"].to_numpy(float)
        for code, r in named.iterrows():
            x, y = float(r["chance_rate"]), float(r["hit_rate"])
            crowd = sum(abs(x - px) < 0.12 and abs(y - py) < 0.04 for px, py in placed)   # labels already near
            right_busy = bool(((cx > x + 1e-9) & (cx < x + 0.2) & (np.abs(cy - y) < 0.03)).any())
            ax.annotate(f"{code} ({int(r['pairs'])})", (x, y), fontsize=7, textcoords="offset points",
                        xytext=(-4, -10) if right_busy else (5, -3 - 9 * crowd),
                        ha="right" if right_busy else "left")
            placed.append((x, y))
        ax.set_xlim(-0.02, 1.05)
        ax.set_ylim(-0.02, 1.05)
        ax.set_xlabel("chance rate (random window)")
        ax.set_ylabel("hit rate (matched window)")
        ax.legend(loc="lower right", fontsize=7)
        ax.set_title(title or "localisation per label: hit rate vs chance", loc="left")
        fig.tight_layout()
    return fig


def plot_deletion_example(signals, fs: float, top: tuple[int, int], random: tuple[int, int], *,
                          lead: str = "II", neutral: str = "interpolate", title: str | None = None,
                          evidence=None) -> Figure:
    """One lead of one ECG, before and after the two deletions of the deletion check.

    Top panel: the original lead with the top-matching window (blue) and the random window
    (orange) shaded; middle: the top-matching window replaced by a neutral segment; bottom: the
    random window replaced instead. The neutral segments are made by
    :func:`protoecg_lib.evaluation.quality.neutralize`, exactly as the check makes them.

    Parameters
    ----------
    signals : array, shape (12, T)
        One ECG in mV.
    fs : float
        Sampling rate (Hz).
    top, random : (int, int)
        ``(start, length)`` in samples of the top-matching and of the random window.
    lead : str
        The lead to draw (one of :data:`protoecg_lib.labels.LEADS`).
    neutral : {'interpolate', 'median'}
    title : str, optional
    evidence : sequence of (start_s, end_s), optional
        Ground-truth evidence spans (seconds) to mark with a bar under the first panel (synthetic data).

    Returns
    -------
    Figure
        Three Axes sharing x (seconds); the shaded bands have gids ``"top-window"`` and
        ``"random-window"``, the evidence bars ``"evidence"``.
    """
    from .style import house_style, new_figure
    from ..evaluation.deletion import neutralize

    x = np.asarray(signals, dtype=np.float32)                                   # (12, T)
    if x.ndim != 2 or x.shape[0] != len(LEADS):
        raise ValueError(f"signals must be one 12-lead ECG (12, T); got shape {x.shape}")
    names = [n.upper() for n in LEADS]
    if lead.upper() not in names:
        raise ValueError(f"unknown lead {lead!r}; leads are {LEADS}")
    row = names.index(lead.upper())
    t = np.arange(x.shape[1]) / float(fs)                                       # (T,) seconds
    variants = [("original", x), ("top-matching window deleted", neutralize(x, top[0], top[1], neutral)),
                ("random window deleted", neutralize(x, random[0], random[1], neutral))]
    with house_style() as style:
        fig = new_figure((10.0, 5.2), style)
        axes = fig.subplots(3, 1, sharex=True)
        lo = min(float(v[row].min()) for _, v in variants)
        hi = max(float(v[row].max()) for _, v in variants)
        pad = 0.1 * (hi - lo or 1.0)
        bands = ((top, style.palette[0], "top-window"), (random, style.palette[1], "random-window"))
        for ax, (name, v) in zip(axes, variants):
            for (a, n), color, gid in bands:
                ax.axvspan(a / fs, (a + n) / fs, color=color, alpha=0.2, lw=0, gid=gid)
            if v is not x:
                ax.plot(t, x[row], color="0.75", lw=0.8)                          # the original, for comparison
            ax.plot(t, v[row], color="black", lw=0.9)
            ax.set_ylim(lo - pad, hi + pad)
            ax.set_ylabel("mV")
            ax.set_title(f"lead {LEADS[row]}: {name}", loc="left", fontsize=9)
        if evidence:
            for k, (a, b) in enumerate(evidence):
                axes[0].plot([a, b], [lo - 0.6 * pad] * 2, color=style.palette[2], lw=4, solid_capstyle="butt",
                             gid="evidence", label="evidence" if k == 0 else None)
            axes[0].legend(loc="upper right", fontsize=7)
        axes[-1].set_xlabel("time (s)")
        axes[-1].set_xlim(0, t[-1])
        fig.suptitle(title or f"deletion check on one ECG (neutral segment: {neutral}; grey: original)",
                     x=0.01, ha="left", fontsize=10)
        fig.tight_layout()
    return fig
