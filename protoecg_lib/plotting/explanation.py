"""Figures of a case-based explanation: the explained ECG beside a prototype's source ECG, and a
prototype on its source ECG (method §5, §7.3)."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..evaluation.explanation import Explanation, PROTOTYPE_KINDS
from ..labels import BRANCHES

__all__ = ["prototype_highlights", "attribution_highlights", "evidence_verdict", "explanation_figure",
           "prototype_figure", "plot_contributions"]


_WINDOW_COLOR = "#0072B2"   # house palette blue


_AGAINST_COLOR = "#D55E00"  # house palette vermillion


_ATTRIBUTION_COLOR = "#009E73"  # house palette bluish green: a faithful highlight's peak


def attribution_highlights(ev, fs: float, num_samples: int, half_width_s: float = 0.1) -> list:
    """The band of a faithful highlight (its peak +- ``half_width_s``), labelled with its method.

    Empty when the prototype carries no faithful highlight (global prototypes, or an explanation
    computed with ``highlight=None``). The nominal window is drawn by :func:`prototype_highlights`.
    """
    from .ecg import Highlight

    methods = [m for m in (ev.highlights or {}) if m != "window"]
    if not methods:
        return []
    entry = ev.highlights[methods[0]]
    peak = float(entry["top"]["peak_s"])
    duration = num_samples / float(fs)
    a, b = max(0.0, peak - half_width_s), min(duration, peak + half_width_s)
    return [Highlight(a, b, label=f"{entry['method']} peak {peak:.2f} s (attribution)", color=_ATTRIBUTION_COLOR,
                      alpha=0.45)]


def evidence_verdict(ev) -> str:
    """A short line: does the shaded window hold the evidence? (``ev.evidence_check``; '' when absent)."""
    c = ev.evidence_check
    if not c:
        return ""
    if c.get("peak_on_evidence") is not None:
        basis = "detected beats" if "detected" in str(c.get("basis")) else "ground truth"
        head = "HOLDS" if c["holds"] else "FAILS"
        window = "window overlaps it" if c.get("window_on_evidence") else "window misses it"
        return f"check vs {basis}: {head} ({c['method']} peak {'on' if c['holds'] else 'off'} evidence; {window})"
    where = "inside" if c.get("holds") else "OUTSIDE"
    return f"check: {c['method']} peak {where} the window (no ground truth)"


def prototype_highlights(kind: str, start: int | None, length: int | None, fs: float, num_samples: int,
                         label: str | None = None, color: str = _WINDOW_COLOR) -> list:
    """The bands showing a prototype (or its match) on an ECG page (method §5, §7.3).

    ``local-2d``: one band over ``[start, start + length)`` on every lead; ``global-1d``: the whole
    rhythm strip (:meth:`Highlight.strip_only`); ``global-2d``: no band (the whole record).
    """
    from .ecg import Highlight

    if kind not in PROTOTYPE_KINDS:
        raise ValueError(f"unknown prototype kind {kind!r}; choose one of {sorted(PROTOTYPE_KINDS)}")
    duration = num_samples / float(fs)
    if kind == "global-2d":
        return []
    if kind == "global-1d":
        return [Highlight.strip_only(0.0, duration, label=label, color=color)]
    if start is None or length is None:
        raise ValueError("a time-localised prototype needs its start and length in samples")
    return [Highlight(start / fs, min(duration, (start + length) / fs), label=label, color=color)]


def _codes(codes) -> str:
    return ", ".join(codes) if codes else "(none)"


def _window_text(kind: str, start, length, fs: float) -> str:
    if kind == "global-2d":
        return "whole record"
    if kind == "global-1d":
        return "whole record (rhythm)"
    return f"{start / fs:.2f}-{(start + length) / fs:.2f} s"


def explanation_figure(explanation: Explanation, prototype_rank: int = 0, label: str | None = None, *,
                       which: str = "for", arrangement: str = "vertical", width: float | None = None) -> Figure:
    """The ECG being explained beside one prototype's source ECG (method §7.2-7.3).

    Top page: the explained ECG in print layout with the best-matching window shaded (the nominal
    window, labelled as such), the faithful highlight's peak when the explanation carries one
    (green band, labelled with its method) and the evidence check's verdict in the title; bottom page:
    the prototype's source training ECG with the prototype window shaded (:func:`plot_ecg_pair`).
    Rhythm (1D) prototypes shade the rhythm strip; global 2D prototypes shade nothing ("whole record").

    Parameters
    ----------
    explanation : Explanation
        With its source ECGs attached (:func:`explain_run_ecg` does it).
    prototype_rank : int
        0-based position in the label's list (0 = the largest contribution).
    label : str, optional
        An explained label (default: the first one).
    which : {'for', 'against', 'strongest'}
        The list ``prototype_rank`` indexes: the label's own prototypes (default), the most negative
        contributions, or the largest positive contributions of any class.
    arrangement : {'vertical', 'horizontal'}

    Returns
    -------
    Figure
        Two page Axes (explained ECG first); titles carry the label, similarity and contribution.
    """
    from .ecg import plot_ecg_pair

    if explanation.signals is None:
        raise ValueError("this Explanation carries no signals (was it read back from JSON?); recompute it with "
                         "explain_ecg or explain_run_ecg")
    if not explanation.labels:
        raise ValueError(f"{explanation.name}: nothing is explained")
    entry = explanation.label(label) if label is not None else explanation.labels[0]
    items = entry.listed(which)
    against = which == "against"
    if not 0 <= prototype_rank < len(items):
        what = {"for": "own-class prototypes", "against": "negative contributions",
                "strongest": "positive contributions"}[which]
        raise IndexError(f"prototype_rank {prototype_rank} out of range: label {entry.label} lists {len(items)} {what}")
    ev = items[prototype_rank]
    if not ev.projected:
        raise ValueError(f"{ev.branch} prototype {ev.prototype} was never projected onto a training ECG (its class "
                         "had no training positive), so it has no source ECG to show")
    if ev.source_ecg_id not in explanation.sources:
        raise ValueError(f"the source ECG {ev.source_ecg_id} of {ev.branch} prototype {ev.prototype} is not attached; "
                         "use explain_run_ecg, or explanation.attach_sources(data.signal)")
    src = explanation.sources[ev.source_ecg_id]
    fs, src_fs = explanation.fs, explanation.source_fs or explanation.fs
    color = _AGAINST_COLOR if against else _WINDOW_COLOR
    left_hl = prototype_highlights(ev.kind, ev.match_start, ev.match_length, fs, explanation.num_samples,
                                   label=("best-matching window (nominal, not an attribution)" if ev.kind == "local-2d"
                                          else "rhythm strip"), color=color)
    left_hl += attribution_highlights(ev, fs, explanation.num_samples)
    s_start = ev.source_start
    s_len = ev.source_length
    if s_start is not None and ev.source_fs and float(ev.source_fs) != src_fs:  # provenance at another rate
        s_start, s_len = round(s_start * src_fs / ev.source_fs), round(s_len * src_fs / ev.source_fs)
    right_hl = prototype_highlights(ev.kind, s_start, s_len, src_fs, src.shape[1],
                                    label="prototype window" if ev.kind == "local-2d" else "rhythm strip", color=color)
    side = which
    truth = "" if entry.true is None else (" (true)" if entry.true else " (not in the labels)")
    match = _window_text(ev.kind, ev.match_start, ev.match_length, fs)
    if ev.kind == "local-2d":
        match += f", window similarity {ev.match_similarity:.2f}"
    left_title = (f"{explanation.name}: {entry.label}{truth}, p = {entry.probability:.2f} | {side} #"
                  f"{ev.rank_by_contribution}: {ev.branch} prototype {ev.prototype} [{ev.label}]\n"
                  f"similarity {ev.similarity:.2f}, contribution {ev.contribution:+.2f} = {ev.weight:+.3f} x "
                  f"{ev.similarity:.2f} | match: {match}")
    verdict = evidence_verdict(ev)
    if verdict:
        left_title += f"\n{verdict}"
    right_title = (f"prototype {ev.prototype} of {ev.label} ({ev.branch}): source training ECG {ev.source_ecg_id}\n"
                   f"[{_codes(ev.source_labels)}], {_window_text(ev.kind, s_start, s_len, src_fs)}")
    fig = plot_ecg_pair(explanation.signals, src, (fs, src_fs), left_title, right_title, left_hl, right_hl,
                        arrangement=arrangement, width=width)
    fig._protoecg_explanation = dict(label=entry.label, evidence=ev, which=which)
    return fig


def prototype_figure(record, signals, fs: float, *, title: str | None = None, kind: str | None = None,
                     width: float = 11.0) -> Figure:
    """A prototype on its source ECG in print layout, its window shaded (method §5, §8.3 review).

    Parameters
    ----------
    record : PrototypeSource (or its dict)
        Where the prototype was projected (``run.prototype_sources(branch)[j]``).
    signals : array, shape (12, T)
        The source ECG at ``fs``.
    kind : str, optional
        Default: from the record's branch (rhythm -> ``global-1d``, global -> ``global-2d``,
        morphology -> ``local-2d``).
    """
    from ..runs.records import PrototypeSource
    from .ecg import plot_ecg

    rec = record if isinstance(record, PrototypeSource) else PrototypeSource.from_dict(record)
    if not rec.projected:
        raise ValueError(f"prototype {rec.index} of {rec.label} was not projected "
                         f"({rec.reason or 'no reason recorded'}); there is no source ECG to show")
    kind = kind or {"rhythm": "global-1d", "global": "global-2d"}.get(rec.branch, "local-2d")
    x = np.asarray(signals)
    rate = float(rec.sampling_rate or fs)
    start, length = rec.start_sample, rec.length_samples
    if start is not None and rate != fs:
        start, length = round(start * fs / rate), round(length * fs / rate)
    hl = prototype_highlights(kind, start, length, fs, x.shape[1], label="prototype window" if kind == "local-2d"
                              else "rhythm strip")
    if title is None:
        title = (f"{rec.label} prototype {rec.index} ({rec.branch}): training ECG {rec.ecg_id} "
                 f"[{_codes(rec.source_labels)}], {_window_text(kind, start, length, fs)}"
                 + (f", projection similarity {rec.similarity:.2f}" if rec.similarity is not None else ""))
    return plot_ecg(x, fs, title=title, highlights=hl, width=width)


def plot_contributions(explanation, label: str, *, title: str | None = None,
                       figsize: tuple[float, float] | None = None) -> Figure:
    """Why one label got its logit: bias + branch sums, and the largest single contributions.

    Left panel: the logit as a waterfall, bias then the summed contributions ``W[c, j] * s[j]``
    of the rhythm, morphology and global prototypes (branch colours), ending in the logit (black
    bar); the dashed line at 0 is probability 0.5. Right panel: the listed single contributions
    (the label's own prototypes, the strongest positive and the most negative ones of any class),
    sorted, coloured by branch; the label's own prototypes are hatched.

    Parameters
    ----------
    explanation : Explanation
    label : str
        An explained label.

    Returns
    -------
    Figure
        Two Axes (waterfall, contributions); waterfall bars have gid ``"logit-part"`` and
        ``"logit-total"``, contribution bars ``"contribution"``.
    """
    from .style import house_style, new_figure

    entry = explanation.label(label)
    items, seen = [], set()
    for ev in entry.prototypes + entry.strongest + entry.against:
        if ev.index not in seen:
            seen.add(ev.index)
            items.append(ev)
    items.sort(key=lambda ev: ev.contribution, reverse=True)
    n = max(len(items), 1)
    with house_style() as style:
        fig = new_figure(figsize or (10.0, max(2.6, 0.28 * n + 1.4)), style)
        ax_w, ax_c = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.0, 1.6]})
        # waterfall: bias, rhythm, morphology, global, logit
        names = ["bias"] + list(BRANCHES)
        values = [entry.bias] + [entry.branch_totals[b] for b in BRANCHES]
        start = np.concatenate([[0.0], np.cumsum(values)[:-1]])
        colors = ["0.6"] + [style.branch_color(b) for b in BRANCHES]
        for k, (nm, v, s0, c) in enumerate(zip(names, values, start, colors)):
            ax_w.barh(k, v, left=s0, color=c, height=0.6, gid="logit-part")
            ax_w.text(s0 + v, k, f" {v:+.2f}", va="center", ha="left" if v >= 0 else "right", fontsize=7)
        ax_w.barh(len(names), entry.logit, color="black", height=0.6, gid="logit-total")
        ax_w.text(entry.logit, len(names), f" {entry.logit:+.2f}", va="center",
                  ha="left" if entry.logit >= 0 else "right", fontsize=7)
        ax_w.axvline(0.0, color="0.3", lw=0.8, ls="--")
        ax_w.set_yticks(range(len(names) + 1), names + ["logit"])
        ax_w.set_ylim(len(names) + 0.6, -0.6)
        lo = min(0.0, float(np.min(np.concatenate([start, start + values, [entry.logit]]))))
        hi = max(0.0, float(np.max(np.concatenate([start, start + values, [entry.logit]]))))
        pad = 0.25 * (hi - lo) if hi > lo else 1.0
        ax_w.set_xlim(lo - pad, hi + pad)
        ax_w.set_xlabel("contribution to the logit")
        ax_w.set_title(f"{label}: logit = bias + branch sums (p = {entry.probability:.2f})", loc="left")
        # single contributions
        y = np.arange(len(items))
        for k, ev in enumerate(items):
            own = ev.label == entry.label
            bar = ax_c.barh(k, ev.contribution, color=style.branch_color(ev.branch), height=0.7,
                            hatch="///" if own else None, edgecolor="black" if own else "none", linewidth=0.5,
                            gid="contribution")
            bar[0].set_gid("contribution")
        ax_c.axvline(0.0, color="0.3", lw=0.8)
        ax_c.set_yticks(y, [_short(ev) + (" (own class)" if ev.label == entry.label else "") for ev in items],
                        fontsize=7)
        ax_c.set_ylim(n - 0.5, -0.5)
        ax_c.set_xlabel("contribution W[c, j] x s[j]")
        ax_c.set_title("largest single contributions, for and against", loc="left")
        handles = [_patch(style.branch_color(b), b) for b in BRANCHES]
        ax_c.legend(handles=handles, loc="lower right", fontsize=7)
        if not items:
            ax_c.text(0.5, 0.5, "no prototype listed", transform=ax_c.transAxes, ha="center")
        if title:
            fig.suptitle(title, x=0.01, ha="left")
        fig.tight_layout()
    return fig


def _short(ev) -> str:
    return f"{ev.branch} #{ev.prototype} [{ev.label}]"


def _patch(color: str, label: str):
    from matplotlib.patches import Patch

    return Patch(facecolor=color, label=label)
