"""Figure: one (ECG, prototype) pair with its nominal window and its faithful highlights, each labelled."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from ..labels import LEADS
from .style import house_style, new_figure

__all__ = ["plot_highlights", "plot_receptive_field", "plot_lifts"]


def plot_highlights(signals, highlights: Mapping, *, fs: float = 100.0, leads: Sequence[str] = ("II", "V1", "V5"),
                    evidence=None, title: str | None = None) -> Figure:
    """Leads of one ECG with the nominal window and every highlight's top segment and profile.

    Parameters
    ----------
    signals : array, shape (12, N)
    highlights : dict method -> SimilarityHighlight
        :func:`protoecg_lib.evaluation.highlights.highlights`.
    leads : sequence of str
        Leads drawn (one axis each), then one axis with the relevance profiles.
    evidence : list of EvidenceSpan, optional
        Ground truth, drawn as black bars under the traces.

    Returns
    -------
    Figure
        ``len(leads) + 1`` axes; spans have gid ``"window"`` or ``"top-<method>"``, profiles
        ``"profile-<method>"``, evidence ``"evidence"``.
    """
    x = np.asarray(signals)
    t = np.arange(x.shape[1]) / fs
    methods = [m for m in highlights if m != "window"]
    with house_style() as style:
        fig = new_figure((11.0, 1.4 * (len(leads) + 1) + 0.6), style)
        axes = fig.subplots(len(leads) + 1, 1, sharex=True)
        colors = {m: style.palette[(i + 1) % len(style.palette)] for i, m in enumerate(methods)}
        for ax, lead in zip(axes, leads):
            ax.plot(t, x[LEADS.index(lead)], color="black", lw=0.7)
            ax.set_ylabel(f"{lead} (mV)")
            if "window" in highlights:
                a, n = highlights["window"].nominal
                ax.axvspan(a / fs, (a + n) / fs, color=style.palette[0], alpha=0.25, gid="window")
            for m in methods:
                a, n = highlights[m].top
                ax.axvspan(a / fs, (a + n) / fs, ymin=0.0, ymax=0.12, color=colors[m], alpha=0.8, gid=f"top-{m}")
            for span in evidence or []:
                ax.plot([span.start, span.end], [ax.get_ylim()[1]] * 2, color="black", lw=4, gid="evidence",
                        solid_capstyle="butt")
        ax = axes[-1]
        for m in methods:
            p = np.clip(highlights[m].profile, 0, None)
            ax.plot(t, p / (p.max() or 1.0), color=colors[m], lw=1.0, gid=f"profile-{m}",
                    label=f"{m}: peak {highlights[m].peak / fs:.2f} s")
        if "window" in highlights:
            a, n = highlights["window"].nominal
            ax.axvspan(a / fs, (a + n) / fs, color=style.palette[0], alpha=0.25,
                       label=f"nominal window {a / fs:.2f}-{(a + n) / fs:.2f} s (not an attribution)")
        ax.set_ylabel("relevance (max = 1)")
        ax.set_xlabel("time (s)")
        ax.legend(loc="upper right", fontsize=7, ncol=2)
        axes[0].set_title(title or "where the window similarity comes from", loc="left")
        fig.tight_layout()
    return fig


def plot_receptive_field(rf, *, step: int | None = None, title: str | None = None) -> Figure:
    """One latent step's nominal span, theoretical span and effective gradient mass (chapter 4).

    Parameters
    ----------
    rf : ReceptiveField
        :func:`protoecg_lib.evaluation.receptive_field.receptive_field` with ``signals`` (so profiles exist).
    step : int, optional
        The latent step drawn (default: the middle one measured).

    Returns
    -------
    Figure
        One Axes: the gradient-mass profile (gid ``"profile"``), and spans with gids ``"nominal"``,
        ``"theoretical"``, ``"effective"``.
    """
    if rf.profiles is None:
        raise ValueError("the receptive field has no effective profile: pass signals to receptive_field()")
    i = len(rf.steps) // 2 if step is None else int(np.flatnonzero(rf.steps == step)[0])
    fs = rf.fs
    t = np.arange(rf.num_samples) / fs
    with house_style() as style:
        fig = new_figure((9.0, 2.8), style)
        ax = fig.add_subplot()
        p = rf.profiles[i] / (rf.profiles[i].max() or 1.0)
        ax.fill_between(t, p, color="0.6", alpha=0.6, gid="profile", label="|d latent / d input| (max = 1)")
        rows = (("theoretical", rf.theoretical[i], style.palette[1], 1.12),
                ("effective", rf.effective[i], style.palette[2], 1.06),
                ("nominal", rf.nominal[i], style.palette[0], 1.0))
        for name, (a, b), color, y in rows:
            ax.plot([a / fs, b / fs], [y, y], color=color, lw=5, solid_capstyle="butt", gid=name,
                    label=f"{name} {a / fs:.2f}-{b / fs:.2f} s ({(b - a) / fs:.2f} s)"
                    + (f", {100 * rf.mass:.0f}% of the mass" if name == "effective" else ""))
        ax.set_ylim(0, 1.2)
        ax.set_xlabel("time (s)")
        ax.set_yticks([])
        ax.set_title(title or f"what latent step {int(rf.steps[i])} sees", loc="left")
        ax.legend(loc="upper left", bbox_to_anchor=(0.0, 0.85), fontsize=7, frameon=False)
        fig.tight_layout()
    return fig


def plot_lifts(reports: Mapping, *, title: str | None = None, target: float | None = 2.0) -> Figure:
    """Pointing-game lift of each highlight method with its 95 % interval, for one or more reports.

    Parameters
    ----------
    reports : dict name -> report
        Each a ``localisation`` dict of :func:`~protoecg_lib.evaluation.quality.run_quality` (method ->
        ``{"lift", "lift_ci", "pairs", ...}``), or the whole quality result (its ``localisation`` is used).
    target : float, optional
        A dotted reference line (the issue's goal: lift 2); chance is the dashed line at 1. The local
        variant's ``local_window`` is drawn on the row of the nominal ``window``.

    Returns
    -------
    Figure
        One Axes; the points have gid ``"lift-<report>"``, the chance line ``"chance"``.
    """
    reports = {k: (v["localisation"] if "localisation" in v else v) for k, v in reports.items()}
    # the local variant's nominal window shares the nominal window's row
    reports = {k: {("window" if m == "local_window" else m): r for m, r in v.items()} for k, v in reports.items()}
    methods: list[str] = []
    for rep in reports.values():
        methods += [m for m in rep if m not in methods]
    with house_style() as style:
        fig = new_figure((8.0, 0.5 * len(methods) * max(1, len(reports)) + 1.6), style)
        ax = fig.add_subplot()
        k = len(reports)
        for r, (name, rep) in enumerate(reports.items()):
            color = style.palette[r % len(style.palette)]
            for i, m in enumerate(methods):
                if m not in rep or rep[m]["lift"] is None:
                    continue
                y = i + (r - (k - 1) / 2) * 0.22
                lo, hi = rep[m]["lift_ci"]
                lift = rep[m]["lift"]
                ax.errorbar([lift], [y], xerr=[[max(0.0, lift - lo)], [max(0.0, hi - lift)]] if lo == lo else None,
                            fmt="o", color=color, capsize=3, gid=f"lift-{name}",
                            label=name if i == next(j for j, mm in enumerate(methods) if mm in rep) else None)
                ax.text(max(hi if hi == hi else lift, lift) + 0.1, y, f"{lift:.2f}  ({rep[m]['pairs']} pairs)",
                        va="center", fontsize=7)
        ax.axvline(1.0, color="0.3", ls="--", lw=0.8, gid="chance")
        if target is not None:
            ax.axvline(target, color="0.5", ls=":", lw=0.8, gid="target")
        ax.set_yticks(range(len(methods)), ["window (nominal)" if m == "window" else m for m in methods])
        ax.set_ylim(len(methods) - 0.5, -0.5)
        ax.set_xlabel("lift = hit rate / chance (1 = a blind pointer; bars: 95 % bootstrap over ECGs)")
        xmax = max([1.0] + [v["lift_ci"][1] for rep in reports.values() for v in rep.values()
                            if v["lift_ci"][1] == v["lift_ci"][1]] + [v["lift"] or 0 for rep in reports.values()
                                                                      for v in rep.values()])
        ax.set_xlim(0, xmax * 1.35 + 0.5)
        ax.set_title(title or "does the highlight's peak fall on the evidence?", loc="left")
        if k > 1:
            ax.legend(loc="lower right", fontsize=7)
        fig.tight_layout()
    return fig
