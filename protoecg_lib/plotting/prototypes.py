"""Prototype figures: the gallery of projected prototypes, similarity histograms, latent maps.

The gallery reads the prototype sources projection writes (:class:`~protoecg_lib.runs.records.PrototypeSource`,
DEVELOPING.md) and shows each prototype as its source ECG's most relevant lead over the whole record
with the prototype window shaded (method §5, §8.3: the review interface browses a class's prototypes).
"""
from __future__ import annotations

import math
import textwrap
from typing import Callable, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..labels import LEADS
from .ecg_grid import Highlight, _canonical_lead, _draw_strip, _lead_rows, _mv_limits, _to_numpy, check_signals
from .style import CATEGORY_MARKERS, EcgPaper, category_styles, house_style, new_figure

__all__ = ["plot_prototype_gallery", "plot_similarity_hist", "plot_latent_2d", "prototype_window_s",
           "relevant_lead", "lead_with_most_energy"]

#: Prototype markers of :func:`plot_latent_2d`: a star, or for a category whose colour an earlier one has
#: (its points drawn with the k-th of ``CATEGORY_MARKERS``) the k-th of these.
_PROTOTYPE_MARKERS = ("*", "P", "X", "D", "p", "h", "H", "8", "d")

def prototype_window_s(record, fs: float, duration_s: float) -> tuple[float, float]:
    """The prototype window of one :class:`~protoecg_lib.runs.records.PrototypeSource` in seconds,
    ``(start_s, end_s)``.

    ``start_sample``/``length_samples`` are counted at the record's ``sampling_rate`` (``fs`` when
    absent); a record without a window (a 1D prototype) covers the whole ECG.
    """
    start, length = record.start_sample, record.length_samples
    if start is None or length is None:
        return 0.0, duration_s
    rate = float(record.sampling_rate or fs)
    return start / rate, min(duration_s, (start + length) / rate)


def relevant_lead(record, signals: np.ndarray, fs: float, leads: Sequence[str] = LEADS) -> str:
    """The lead a gallery panel shows: II for rhythm/global prototypes; for morphology prototypes
    :func:`lead_with_most_energy` inside the prototype's window.

    ``signals`` has shape (12, T) in mV.
    """
    if record.branch != "morphology":
        return "II"
    a, b = prototype_window_s(record, fs, signals.shape[1] / fs)
    return lead_with_most_energy(signals, fs, a, b, leads)


def lead_with_most_energy(signals: np.ndarray, fs: float, start_s: float, end_s: float,
                          leads: Sequence[str] = LEADS) -> str:
    """The lead with the largest signal energy (sum of squares) between ``start_s`` and ``end_s``.

    ``signals`` has shape (12, T) in mV; ties go to the first lead in ``leads`` order.
    """
    i0, i1 = int(round(start_s * fs)), max(int(round(end_s * fs)), int(round(start_s * fs)) + 1)
    energy = np.square(np.asarray(signals)[:, i0:i1]).sum(axis=1)  # (12,)
    return _canonical_lead(leads[int(np.argmax(energy))])


def _as_sources(sources) -> list:
    from ..runs.records import PrototypeSource

    if isinstance(sources, Mapping) or not isinstance(sources, Sequence):
        raise TypeError("sources must be the list of PrototypeSource of one branch (run.prototype_sources(branch)); "
                        f"got {type(sources).__name__}")
    out = []
    for pos, rec in enumerate(sources):
        if not isinstance(rec, PrototypeSource):
            try:
                rec = PrototypeSource.from_dict(rec)
            except TypeError as err:
                raise ValueError(f"prototype source entry {pos} is not a PrototypeSource record ({err}); "
                                 "see DEVELOPING.md") from None
        if rec.projected and rec.ecg_id is None:
            raise ValueError(f"prototype source entry {pos} is projected but names no ecg_id")
        out.append(rec)
    return out


def _gallery_title(rec) -> str:
    sim = rec.similarity
    s = "n/a" if sim is None or not math.isfinite(float(sim)) else f"{float(sim):.2f}"
    title = f"{rec.label} #{rec.index} ecg {rec.ecg_id} s={s}"
    if rec.duplicate_of is not None:
        title += f" (= #{rec.duplicate_of})"
    return title


def plot_prototype_gallery(sources: Sequence, get_signals: Callable[[int], np.ndarray], fs: float,
                           class_code: str | None = None, max_prototypes: int = 12, ncols: int = 3, *,
                           lead: str | None = None, title: str | None = None, panel_width: float = 4.0,
                           leads: Sequence[str] = LEADS, paper: EcgPaper | None = None) -> Figure:
    """Small multiples, one panel per prototype of a class (or of all classes) (method §5, §8.3).

    Parameters
    ----------
    sources : list of PrototypeSource
        One branch's prototype sources in prototype order (``run.prototype_sources(branch)``).
    get_signals : callable
        ``get_signals(ecg_id) -> (12, T)`` array in mV of a source ECG; called once per ECG.
    fs : float
        Sampling rate of what ``get_signals`` returns (windows are converted from each record's
        ``sampling_rate``).
    class_code : str, optional
        Show only this class's prototypes; None shows all (up to ``max_prototypes``).
    max_prototypes, ncols : int
        At most this many panels, ``ncols`` per row.
    lead : str, optional
        Draw this lead in every panel instead of :func:`relevant_lead`.

    Returns
    -------
    Figure
        One Axes per shown prototype, titled ``"<class> #<index> ecg <id> s=<similarity>"``;
        unprojected prototypes are empty panels saying why. ``fig._protoecg_gallery`` lists, per
        panel, ``index``, ``axes``, ``lead``, ``projected``, ``ecg_id`` and the window ``(x0, x1)``.
    """
    paper = paper or EcgPaper(margin_s=0.0, calibration=False)
    records = _as_sources(sources)
    if class_code is not None:
        chosen = [r for r in records if r.label == class_code]
        if not chosen:
            have = sorted({str(r.label) for r in records})
            raise ValueError(f"no prototype of class {class_code!r} among these sources; their classes are {have}")
    else:
        chosen = records
    if max_prototypes < 1 or ncols < 1:
        raise ValueError(f"max_prototypes and ncols must be >= 1; got {max_prototypes} and {ncols}")
    shown = chosen[:max_prototypes]
    cache: dict = {}
    panels = []  # (record, lead, y (T,), window) or (record, None, None, None)
    for rec in shown:
        if not rec.projected:
            panels.append((rec, None, None, None))
            continue
        ecg_id = rec.ecg_id
        if ecg_id not in cache:
            cache[ecg_id] = check_signals(get_signals(ecg_id), fs, leads, name=f"get_signals({ecg_id!r})")[0]
        x = cache[ecg_id]
        name = _canonical_lead(lead) if lead else relevant_lead(rec, x, fs, leads)
        y = x[_lead_rows(leads, [name])[name]]
        panels.append((rec, name, y, prototype_window_s(rec, fs, x.shape[1] / fs)))
    traces = [p[2] for p in panels if p[2] is not None]
    lo = min((float(y.min()) for y in traces), default=-1.0)
    hi = max((float(y.max()) for y in traces), default=1.5)
    ylim = _mv_limits(lo, hi, paper)  # one scale for all panels
    duration = max((y.shape[0] / fs for y in traces), default=10.0)
    ph = panel_width * (ylim[1] - ylim[0]) * paper.mm_per_mv / (duration * paper.mm_per_s)
    nrows = math.ceil(len(shown) / ncols)
    cell_w, cell_h, top = panel_width + 0.35, ph + 0.62, 0.3
    with house_style() as style:
        fig = new_figure((ncols * cell_w + 0.1, nrows * cell_h + top), style)
        fw, fh = fig.get_size_inches()
        gallery = []
        for k, (rec, name, y, window) in enumerate(panels):
            r, c = divmod(k, ncols)
            left, bottom = 0.1 + c * cell_w, fh - top - (r + 1) * cell_h + 0.28
            ax = fig.add_axes((left / fw, bottom / fh, panel_width / fw, ph / fh))
            if y is None:
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_visible(True)
                    spine.set_color("0.75")
                reason = rec.reason or "no reason recorded"
                # wrapped to the panel (matplotlib's wrap=True wraps at the figure's edge, across panels)
                text = textwrap.fill(str(reason), width=max(20, int(panel_width * 12)))
                ax.text(0.5, 0.5, f"not projected\n{text}", transform=ax.transAxes, ha="center", va="center",
                        fontsize=8, color="0.35", gid="unprojected")
                ax.set_title(f"{rec.label} #{rec.index}", loc="left", fontsize=8, pad=2)
                gallery.append(dict(index=rec.index, axes=ax, lead=None, projected=False, ecg_id=None,
                                    x0=None, x1=None))
                continue
            band = Highlight(window[0], window[1], color=style.palette[0], alpha=0.3)
            _draw_strip(ax, y, fs, name, [band], paper, ylim, calibration=False, tick_step=2.0, minor_grid=False)
            ax.tick_params(axis="x", labelsize=7)
            ax.set_title(_gallery_title(rec), loc="left", fontsize=8, pad=2)
            gallery.append(dict(index=rec.index, axes=ax, lead=name, projected=True, ecg_id=rec.ecg_id,
                                x0=window[0], x1=window[1]))
        what = f"class {class_code}" if class_code else "all classes"
        fig.suptitle(title or f"prototypes of {what}: {len(shown)} shown of {len(chosen)}", x=0.1 / fw, y=1 - 0.1 / fh,
                     ha="left", va="top", fontsize=10)
    fig._protoecg_gallery = gallery
    return fig


def _groups(similarity, positives, prototypes) -> dict[str, np.ndarray]:
    if isinstance(similarity, Mapping):
        groups = {str(k): _to_numpy(v).ravel() for k, v in similarity.items()}
    else:
        s = _to_numpy(similarity)
        if s.ndim == 1:
            s = s[:, None]
        if s.ndim != 2:
            raise ValueError(f"similarity must have shape (N, P) or (N,); got shape {s.shape}")
        if prototypes is not None:
            s = s[:, np.atleast_1d(prototypes)]  # (N, P')
        if positives is None:
            groups = {"all": s.ravel()}
        else:
            pos = _to_numpy(positives).ravel() > 0.5
            if pos.shape[0] != s.shape[0]:
                raise ValueError(f"positives has {pos.shape[0]} entries but similarity has {s.shape[0]} rows "
                                 f"(shape {s.shape}); pass one flag per ECG")
            groups = {f"positives ({int(pos.sum())} ECGs)": s[pos].ravel(),
                      f"negatives ({int((~pos).sum())} ECGs)": s[~pos].ravel()}
    for name, v in groups.items():
        if not np.isfinite(v).all():
            raise ValueError(f"similarity group {name!r} holds NaN/inf values; drop them before plotting")
    if not any(v.size for v in groups.values()):
        raise ValueError("similarity holds no values to plot")
    return groups


def plot_similarity_hist(similarity, *, positives=None, prototypes=None, bins: int = 30, density: bool = True,
                         title: str | None = None, xlabel: str = "similarity",
                         figsize: tuple[float, float] = (5.5, 3.4)) -> Figure:
    """Histograms of prototype similarities, e.g. for positives vs negatives of a class (method §2).

    Parameters
    ----------
    similarity : array, shape (N, P) or (N,), or dict name -> array
        Pooled similarities of N ECGs to P prototypes; a dict gives one named group per entry.
    positives : array, shape (N,), optional
        Multi-hot target of one class (or booleans): splits ``similarity`` into positives and
        negatives.
    prototypes : int or list of int, optional
        Columns (prototypes) to keep, e.g. the prototypes of that class.
    bins : int
        Number of bins, shared by all groups.
    density : bool
        Normalise each group to unit area (groups of different sizes stay comparable).

    Returns
    -------
    Figure
        One Axes, one histogram per group (``fig._protoecg_hist``: name -> (counts, edges)).
    """
    groups = _groups(similarity, positives, prototypes)
    values = np.concatenate([v for v in groups.values() if v.size])
    edges = np.histogram_bin_edges(values, bins=bins)
    hist = {}
    with house_style() as style:
        fig = new_figure(figsize, style)
        ax = fig.add_subplot()
        for k, (name, v) in enumerate(groups.items()):
            if not v.size:
                continue
            color = style.palette[k % len(style.palette)]
            counts, _, _ = ax.hist(v, bins=edges, density=density, histtype="stepfilled", alpha=0.35, color=color,
                                   edgecolor=color, linewidth=1.2, label=f"{name}: mean {v.mean():.2f}")
            hist[name] = (counts, edges)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("density" if density else "count")
        ax.legend(loc="best")
        if title:
            ax.set_title(title, loc="left")
        fig.tight_layout()
    fig._protoecg_hist = hist
    return fig


def plot_latent_2d(points, labels=None, prototypes_2d=None, prototype_labels=None, *, title: str | None = None,
                   palette: Mapping | None = None, order: Sequence | None = None, point_size: float = 12.0,
                   figsize: tuple[float, float] = (5.5, 4.6)) -> Figure:
    """A 2D projection of the latent space with prototypes marked (method §3: clustering and separation).

    Parameters
    ----------
    points : array, shape (N, 2)
        Projected latents (e.g. PCA or t-SNE of the add-on outputs).
    labels : sequence, shape (N,), optional
        Category of each point (class code, "positive"/"negative", ...); colours follow it.
    prototypes_2d : array, shape (P, 2), optional
        Projected prototypes, drawn as large stars.
    prototype_labels : sequence, shape (P,), optional
        Category of each prototype (same vocabulary as ``labels``) for its colour.
    palette : dict, optional
        Category -> colour; the others take the house palette's colours, then more
        (:func:`~protoecg_lib.plotting.style.category_styles`). No two categories drawn as points share
        a colour and a marker, and no two drawn as prototypes: where colours repeat, points take
        another marker than the dot, prototypes another than the star.
    order : sequence, optional
        The categories in the order they take colours and appear in the legend (e.g. most common
        first); default: as they first appear in ``labels``, then in ``prototype_labels``.

    Returns
    -------
    Figure
        One Axes: one scatter per category (gid ``"points"``), the prototypes (gid ``"prototypes"``).
    """
    pts = _to_numpy(points)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2); got shape {pts.shape}")
    if not np.isfinite(pts).all():
        raise ValueError(f"points of shape {pts.shape} hold NaN/inf values")
    cats = np.array(["all"] * len(pts), dtype=object) if labels is None else np.asarray(labels, dtype=object)
    if cats.shape != (len(pts),):
        raise ValueError(f"labels must have one entry per point ({len(pts)}); got shape {cats.shape}")
    protos = None if prototypes_2d is None else _to_numpy(prototypes_2d)
    if protos is not None and (protos.ndim != 2 or protos.shape[1] != 2):
        raise ValueError(f"prototypes_2d must have shape (P, 2); got shape {protos.shape}")
    if prototype_labels is not None and (protos is None or len(prototype_labels) != len(protos)):
        raise ValueError(f"prototype_labels needs one entry per row of prototypes_2d "
                         f"({None if protos is None else protos.shape}); got {len(prototype_labels)}")
    seen = list(dict.fromkeys(cats.tolist()))
    if prototype_labels is not None:
        seen += [c for c in dict.fromkeys(list(prototype_labels)) if c not in seen]
    order = [c for c in (order or []) if c in seen]
    order += [c for c in seen if c not in order]
    with house_style() as style:
        # one colour per category, shared by its points and its prototypes; a marker apart only where two
        # categories drawn the same way (as points, or as prototypes) share a colour
        colors = {c: v[0] for c, v in category_styles(order, palette, style).items()}
        styles = category_styles([c for c in order if c in set(cats.tolist())], colors, style)
        proto_styles = category_styles([c for c in order if prototype_labels is not None
                                        and c in set(prototype_labels)], colors, style)
        fig = new_figure(figsize, style)
        ax = fig.add_subplot()
        for c in order:
            sel = cats == c
            if sel.any():
                ax.scatter(pts[sel, 0], pts[sel, 1], s=point_size, color=styles[c][0], marker=styles[c][1],
                           alpha=0.6, linewidths=0, label=str(c), gid="points")
        if protos is not None:
            # a star each, coloured by category; a category whose colour an earlier one has gets another marker
            look = [proto_styles.get(c, ("black", "o")) for c in (prototype_labels if prototype_labels is not None
                                                                  else [None] * len(protos))]
            pmarkers = np.array([_PROTOTYPE_MARKERS[CATEGORY_MARKERS.index(m) % len(_PROTOTYPE_MARKERS)]
                                 for _, m in look])
            for pm in dict.fromkeys(pmarkers.tolist()):
                sel = np.flatnonzero(pmarkers == pm)
                ax.scatter(protos[sel, 0], protos[sel, 1], s=180 if pm == "*" else 110, marker=pm,
                           c=[look[j][0] for j in sel], edgecolors="black", linewidths=0.8, gid="prototypes",
                           zorder=3)
        handles, names = ax.get_legend_handles_labels()
        if protos is not None:   # one neutral star for all prototypes (their colours are their classes')
            handles.append(Line2D([], [], ls="none", marker="*", markersize=13, mfc="white", mec="black", mew=0.8))
            names.append("prototypes")
        ax.set_xlabel("dimension 1")
        ax.set_ylabel("dimension 2")
        ax.set_aspect("equal", adjustable="datalim")
        ax.legend(handles, names, loc="best", markerscale=1.0)
        if title:
            ax.set_title(title, loc="left")
        fig.tight_layout()
    return fig
