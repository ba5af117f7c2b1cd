"""Figures of latent spaces in the teaching chapters: a 2D toy run as snapshot panels (chapter 6) and
prototype cosine against label co-occurrence (chapter 7). ``plot_latent_2d`` draws the panels."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

from matplotlib.figure import Figure
import numpy as np
import pandas as pd

from .style import house_style, new_figure
from ..arrays import as_matrix, unit_rows
from ..teaching.toy_prototypes import Trajectory

__all__ = ["snapshot_panels", "plot_cosine_vs_jaccard"]


def snapshot_panels(samples, sample_labels: Sequence[str], trajectory: Trajectory,
                    prototype_labels: Sequence[str], *, gap: float = 0.6, circle_points: int = 72,
                    circle_label: str = "unit circle", trail_label: str = "earlier positions") -> dict:
    """A 2D toy run as side-by-side panels, one per snapshot, ready for ``plot_latent_2d(**panels)``.

    Every vector is drawn scaled to unit length (with cosine similarity only directions matter).
    Panel ``k`` is shifted right by ``k * (2 + gap)`` and shows the samples, a dotted unit circle,
    the prototypes of snapshot ``k`` (stars) and their positions at earlier snapshots (trail).

    Parameters
    ----------
    samples : array or Tensor, shape (B, 2)
    sample_labels : sequence of str, length B
        Category of each sample (its colour).
    trajectory : Trajectory
        From :func:`optimize_prototypes` on 2D prototypes ``(S, P, 2)``.
    prototype_labels : sequence of str, length P
    gap : float
        Space between panels, in units of the circle's radius.
    circle_points : int
        Dots drawing each unit circle (0: none).
    circle_label, trail_label : str
        Categories of the circle dots and of the trail.

    Returns
    -------
    dict
        ``points (N, 2)``, ``labels (N,)``, ``prototypes_2d (S*P, 2)``, ``prototype_labels (S*P,)``
        and ``offsets`` (the x shift of each panel).
    """
    z = unit_rows(as_matrix(samples, "samples"))                            # (B, 2)
    snaps = trajectory.prototypes.detach().cpu().double().numpy()             # (S, P, 2)
    if z.shape[1] != 2 or snaps.ndim != 3 or snaps.shape[2] != 2:
        raise ValueError(f"snapshot_panels draws 2D toys: samples (B, 2) and prototypes (S, P, 2); got "
                         f"{z.shape} and {snaps.shape}")
    if len(sample_labels) != len(z) or len(prototype_labels) != snaps.shape[1]:
        raise ValueError(f"need one label per sample ({len(z)}) and per prototype ({snaps.shape[1]}); got "
                         f"{len(sample_labels)} and {len(prototype_labels)}")
    step = 2.0 + float(gap)
    angle = np.linspace(0, 2 * np.pi, int(circle_points), endpoint=False)
    ring = np.stack([np.cos(angle), np.sin(angle)], axis=1)                   # (K, 2)
    points, labels, protos, plabels, offsets = [], [], [], [], []
    for k in range(snaps.shape[0]):
        shift = np.array([k * step, 0.0])
        offsets.append(k * step)
        points += [ring + shift, z + shift]
        labels += [circle_label] * len(ring) + list(sample_labels)
        for earlier in range(k):
            points.append(unit_rows(snaps[earlier]) + shift)
            labels += [trail_label] * snaps.shape[1]
        protos.append(unit_rows(snaps[k]) + shift)
        plabels += list(prototype_labels)
    return {"points": np.concatenate(points), "labels": labels, "prototypes_2d": np.concatenate(protos),
            "prototype_labels": plabels, "offsets": offsets}


def plot_cosine_vs_jaccard(frames: Mapping[str, pd.DataFrame], *, title: str | None = None, ncols: int = 2,
                           jitter: float = 0.006, seed: int = 0,
                           figsize: tuple[float, float] | None = None) -> Figure:
    """Mean prototype cosine of every class pair against the pair's Jaccard index, one panel per frame.

    Pairs that never co-occur (``J = 0``) are drawn grey at the left edge, spread by a small
    horizontal jitter so that they do not hide each other; co-occurring pairs in colour. Dashed
    lines mark each group's mean cosine; the panel title gives the Spearman correlation of cosine
    with Jaccard over all pairs. The y axis is shared, so panels compare directly.

    Parameters
    ----------
    frames : mapping of str to DataFrame
        Panel name -> :func:`protoecg_lib.teaching.latent.cosine_vs_jaccard` result (columns ``jaccard``,
        ``cosine``, ``cooccur``).
    title : str, optional
        Figure title.
    ncols : int
        Panels per row.
    jitter : float
        Half-width of the horizontal jitter of the ``J = 0`` pairs, in Jaccard units.
    seed : int
        Seed of the jitter.

    Returns
    -------
    Figure
        One Axes per frame; scatters have gid ``"pairs-cooccurring"`` and ``"pairs-never"``, mean
        lines ``"mean-cooccurring"`` and ``"mean-never"``.
    """
    from scipy.stats import spearmanr

    if not frames:
        raise ValueError("pass at least one frame (panel name -> cosine_vs_jaccard result)")
    for name, df in frames.items():
        missing = [c for c in ("jaccard", "cosine", "cooccur") if c not in getattr(df, "columns", ())]
        if missing:
            raise ValueError(f"frame {name!r} lacks columns {missing}; pass cosine_vs_jaccard(...) results")
    n = len(frames)
    ncols = max(1, min(int(ncols), n))
    nrows = math.ceil(n / ncols)
    rng = np.random.default_rng(seed)
    values = np.concatenate([df["cosine"].to_numpy(float) for df in frames.values()])
    values = values[np.isfinite(values)]
    lo, hi = (values.min(), values.max()) if values.size else (-1.0, 1.0)
    pad = max(0.05 * (hi - lo), 0.01)
    with house_style() as style:
        fig = new_figure(figsize or (4.2 * ncols, 3.2 * nrows + 0.4), style)
        axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True)
        for ax in axes.ravel()[n:]:
            ax.set_visible(False)
        for ax, (name, df) in zip(axes.ravel(), frames.items()):
            co, never = df[df["cooccur"]], df[~df["cooccur"]]
            x_never = rng.uniform(-jitter, jitter, len(never))
            ax.scatter(x_never, never["cosine"], s=10, color=style.other_color, alpha=0.6, lw=0,
                       label=f"never together ({len(never)})", gid="pairs-never")
            ax.scatter(co["jaccard"], co["cosine"], s=16, color=style.palette[0], alpha=0.85, lw=0,
                       label=f"co-occurring ({len(co)})", gid="pairs-cooccurring")
            means = ((never, style.other_color, "mean-never"), (co, style.palette[0], "mean-cooccurring"))
            for group, color, gid in means:
                m = group["cosine"].to_numpy(float)
                m = m[np.isfinite(m)]
                if m.size:
                    ax.axhline(m.mean(), color=color, ls="--", lw=0.9, gid=gid)
            ok = df[np.isfinite(df["cosine"].to_numpy(float))]
            rho = (spearmanr(ok["jaccard"], ok["cosine"]).statistic
                   if len(ok) >= 3 and ok["jaccard"].nunique() > 1 and ok["cosine"].nunique() > 1 else float("nan"))
            ax.set_title(f"{name}\nSpearman {rho:+.2f}" if math.isfinite(rho) else f"{name}\nSpearman n/a",
                         loc="left")
            ax.set_xlim(-3 * jitter, max(0.1, float(df["jaccard"].max()) * 1.08 if len(df) else 1.0))
            ax.set_ylim(lo - pad, hi + pad)
            ax.axhline(0.0, color="0.8", lw=0.6, zorder=0)
            ax.set_xlabel("Jaccard index of the class pair")
            ax.legend(loc="best", fontsize=style.font_size - 2)
        for row in axes:
            row[0].set_ylabel("mean prototype cosine")
        if title:
            fig.suptitle(title)
        fig.tight_layout()
    return fig
