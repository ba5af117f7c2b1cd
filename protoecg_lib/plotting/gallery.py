"""Side-by-side gallery of synthetic and real ECGs, one label per row (the synthetic-data chapter).

Each row shows one SCP statement: on the left a record from the synthetic generator
(:mod:`protoecg_lib.synthetic`), on the right a real PTB-XL record with the same label (or an
empty panel saying there is none), both as one lead on ECG paper at the same scale, so a reader can
judge whether the synthetic finding looks like the real one.

Also here: :func:`rr_intervals` and :func:`heart_rate_bpm`, a small R-peak based rate measurement
used to annotate the panels and to check the generator's rhythms, and :func:`example_record`,
which picks a clear real example of a label from a PTB-XL record table.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from scipy.signal import find_peaks

from ..labels import LABEL_SETS, LEADS
from .ecg_grid import (Highlight, _as_highlights, _canonical_lead, _draw_strip, _lead_rows, _mv_limits, _registry,
                    check_signals)
from .style import EcgPaper, house_style, new_figure

__all__ = ["GalleryRow", "plot_synthetic_gallery", "rr_intervals", "heart_rate_bpm", "example_record",
           "evidence_highlights"]


# ---- measurements ---------------------------------------------------------------------------------

def rr_intervals(signals, fs: float, min_rr_s: float = 0.25) -> np.ndarray:
    """RR intervals of one ECG from R peaks found on the summed absolute slope of all its leads.

    Parameters
    ----------
    signals : array, shape (12, T) (or (L, T) for any number of leads), mV
    fs : float
        Sampling rate in Hz.
    min_rr_s : float
        Shortest accepted RR interval (0.25 s: rates up to 240/min).

    Returns
    -------
    ndarray, shape (num_peaks - 1,), float64, seconds. Empty when fewer than two beats are found.

    A simple detector for clean-ish 10-s records (peaks of the slope above 40 % of its 99th
    percentile); it is what the gallery prints, not a clinical QRS detector.
    """
    x = np.asarray(signals, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 4:
        raise ValueError(f"signals must have shape (leads, T) with T >= 4; got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("signals hold NaN/inf values; clean the record before measuring RR intervals")
    fs = float(fs)
    if not fs > 0:
        raise ValueError(f"fs must be a positive sampling rate in Hz; got {fs!r}")
    slope = np.abs(np.diff(x, axis=1)).sum(axis=0)                     # (T - 1,)
    peaks, _ = find_peaks(slope, distance=max(1, int(min_rr_s * fs)), height=0.4 * np.percentile(slope, 99))
    return np.diff(peaks) / fs


def heart_rate_bpm(signals, fs: float) -> float:
    """Mean ventricular rate (/min) of one ECG: 60 over the median RR of :func:`rr_intervals`; NaN if < 2 beats."""
    rr = rr_intervals(signals, fs)
    return float(60.0 / np.median(rr)) if rr.size else float("nan")


# ---- choosing and describing rows -----------------------------------------------------------------

def example_record(records, code: str, *, prefer_alone: bool = True) -> int | None:
    """The ecg_id of a clear real example of ``code`` in a PTB-XL record table, or None.

    Parameters
    ----------
    records : DataFrame
        ``PTBXL.records``: index ecg_id, ``codes`` (the tuple of positive statements the targets use)
        and ``scp_codes`` (the raw ``"{'NORM': 100.0, ...}"`` cell, for the likelihoods).
    code : str
        SCP statement.
    prefer_alone : bool
        Among the records with ``code``, take the one with the highest likelihood for it, then the
        fewest other statements, then the smallest ecg_id (so the choice is reproducible).

    Returns
    -------
    int or None (no record carries the label).
    """
    if code not in LABEL_SETS["all"]:
        raise ValueError(f"unknown SCP code {code!r}; choose one of the 71 statements of protoecg_lib.labels")
    from ..data.metadata import parse_scp_codes

    columns = getattr(records, "columns", ())
    if "codes" not in columns or "scp_codes" not in columns:
        raise ValueError("records must be a PTB-XL record table with 'codes' and 'scp_codes' columns (ds.records)")
    best = None
    for ecg_id, codes, cell in zip(records.index, records["codes"], records["scp_codes"]):
        if code not in codes:
            continue
        likelihood = (parse_scp_codes(cell) if isinstance(cell, str) else dict(cell)).get(code, 0.0)
        key = (-float(likelihood), len(codes) if prefer_alone else 0, int(ecg_id))
        if best is None or key < best[0]:
            best = (key, int(ecg_id))
    return None if best is None else best[1]


def evidence_highlights(spans, *, color: str = "#E69F00", label: str | None = "evidence",
                        alpha: float = 0.3, record_s: float | None = None) -> list[Highlight]:
    """Ground-truth evidence spans as highlight bands (one per span, on the span's leads).

    Parameters
    ----------
    spans : iterable of EvidenceSpan or dicts with ``leads``, ``start``, ``end`` (seconds)
        One label's evidence from :func:`protoecg_lib.data.load_evidence` or ``generate_record``.
    record_s : float, optional
        The record length (s); when given, spans covering the whole record (rhythm labels) are
        left out, as a band over everything would show nothing.

    Returns
    -------
    list of Highlight, in seconds, shading the panels of the span's leads.
    """
    out = []
    for s in spans:
        if isinstance(s, Mapping):
            leads, start, end = s["leads"], s["start"], s["end"]
        else:
            leads, start, end = s.leads, s.start, s.end
        if record_s is not None and float(start) <= 0.0 and float(end) >= float(record_s) - 1e-6:
            continue
        out.append(Highlight(float(start), float(end), leads=tuple(leads), color=color, label=label, alpha=alpha))
    return out


@dataclass(frozen=True)
class GalleryRow:
    """One row of :func:`plot_synthetic_gallery`.

    Attributes
    ----------
    label : str
        The SCP statement the row shows.
    lead : str
        The lead drawn in both panels (the one that shows the finding best).
    synthetic : array, shape (12, T)
        A synthetic ECG with the label, mV.
    real : array, shape (12, T), or None
        A real ECG with the label, or None when the data have none.
    synthetic_note, real_note : str
        Appended to the panel titles (e.g. the real record's ecg_id and labels).
    synthetic_highlights, real_highlights : list of Highlight, optional
        Bands on the panels (e.g. the synthetic record's ground-truth evidence).
    """

    label: str
    lead: str
    synthetic: object
    real: object = None
    synthetic_note: str = ""
    real_note: str = ""
    synthetic_highlights: tuple = ()
    real_highlights: tuple = ()


def _panel_title(row: GalleryRow, kind: str, lead: str, rate: float | None, note: str) -> str:
    parts = [f"{row.label} {kind}", f"lead {lead}"]
    if rate is not None and np.isfinite(rate):
        parts.append(f"{rate:.0f}/min")
    if note:
        parts.append(note)
    return ", ".join(parts)


def plot_synthetic_gallery(rows: Sequence[GalleryRow], fs: float, *, title: str | None = None,
                           seconds: float | None = None, show_rate: bool = True, width: float = 12.0,
                           column_titles: tuple[str, str] = ("synthetic (protoecg generator)", "real (PTB-XL)"),
                           missing_text: str = "no excerpt record with {label}", leads: Sequence[str] = LEADS,
                           paper: EcgPaper | None = None) -> Figure:
    """Synthetic | real, one row per label, one lead per panel on ECG paper.

    Parameters
    ----------
    rows : sequence of GalleryRow
        The labels to show, top to bottom.
    fs : float
        Sampling rate of every signal (Hz).
    title : str, optional
        Figure title (top left).
    seconds : float, optional
        Show only the first ``seconds`` of each record (default: the whole record); both panels of
        a row share one time and one mV scale.
    show_rate : bool
        Append the measured rate (:func:`heart_rate_bpm` over the shown part) to each title.
    width : float
        Figure width in inches (two panels per row).
    column_titles : (str, str)
        Headers of the two columns.
    missing_text : str
        Text of an empty real panel; ``{label}`` is replaced by the row's label.

    Returns
    -------
    Figure
        Two Axes per row (synthetic first). Titles read ``"<label> synthetic, lead <lead>, ..."``
        and ``"<label> real, lead <lead>, ..."``; an empty real panel is titled ``"<label> real"``
        and holds ``missing_text`` (Text with gid ``"no-real"``). ``fig._protoecg_gallery`` lists,
        per panel, ``label``, ``column`` ('synthetic' or 'real'), ``lead``, ``missing`` and ``axes``.
    """
    paper = paper or EcgPaper(margin_s=0.0, calibration=False)
    if isinstance(rows, GalleryRow):
        rows = [rows]
    rows = list(rows)
    if not rows:
        raise ValueError("rows is empty: give at least one GalleryRow(label, lead, synthetic, real)")
    for k, row in enumerate(rows):
        if not isinstance(row, GalleryRow):
            raise TypeError(f"rows[{k}] must be a GalleryRow(label, lead, synthetic, real); got {type(row).__name__}")
        if row.label not in LABEL_SETS["all"]:
            raise ValueError(f"rows[{k}].label={row.label!r} is not one of the 71 SCP statements")
    if seconds is not None and not seconds > 0:
        raise ValueError(f"seconds={seconds!r} must be a positive number of seconds (or None for whole records)")
    # validate and cut every trace
    prepared = []
    for k, row in enumerate(rows):
        lead = _canonical_lead(row.lead)
        idx = _lead_rows(leads, [lead])[lead]
        traces = []
        for kind, sig in (("synthetic", row.synthetic), ("real", row.real)):
            if sig is None:
                if kind == "synthetic":
                    raise ValueError(f"rows[{k}] ({row.label}) has no synthetic signal; every row needs one")
                traces.append(None)
                continue
            x, fs = check_signals(sig, fs, leads, name=f"rows[{k}].{kind}")
            n = x.shape[1]
            if seconds is not None:
                if seconds * fs > n + 1e-6:
                    raise ValueError(f"seconds={seconds:g} is longer than rows[{k}].{kind} ({n / fs:g} s)")
                n = int(round(seconds * fs))
            x = x[:, :n]
            rate = heart_rate_bpm(x, fs) if show_rate else None
            traces.append((x[idx], rate))
        prepared.append((row, lead, traces))
    duration = max(t[0].shape[0] / fs for _, _, tr in prepared for t in tr if t is not None)

    gap, left_m, top_m, title_h, tick_h = 0.35, 0.1, 0.55 if title else 0.3, 0.26, 0.22
    panel_w = (width - 2 * left_m - gap) / 2
    inch_per_mm = panel_w / (duration * paper.mm_per_s)
    heights, limits = [], []
    for _, _, traces in prepared:
        ys = [t[0] for t in traces if t is not None]
        ylim = _mv_limits(min(float(y.min()) for y in ys), max(float(y.max()) for y in ys), paper, pad=0.2,
                          floor=-0.5, ceil=1.0)
        limits.append(ylim)
        heights.append((ylim[1] - ylim[0]) * paper.mm_per_mv * inch_per_mm)
    total_h = top_m + 0.25 + sum(h + title_h + tick_h for h in heights) + 0.05
    with house_style() as style:
        fig = new_figure((width, total_h), style)
        fw, fh = fig.get_size_inches()
        gallery = _registry(fig, "_protoecg_gallery")
        if title:
            fig.text(left_m / fw, 1 - 0.08 / fh, title, ha="left", va="top", fontsize=11, gid="gallery-title")
        for c, header in enumerate(column_titles):
            fig.text((left_m + c * (panel_w + gap)) / fw, 1 - (top_m + 0.02) / fh, header, ha="left", va="top",
                     fontsize=10, fontweight="bold", color="0.25", gid="column-title")
        cursor = fh - top_m - 0.25
        for (row, lead, traces), ph, ylim in zip(prepared, heights, limits):
            cursor -= title_h + ph
            for c, (kind, trace) in enumerate(zip(("synthetic", "real"), traces)):
                x0 = left_m + c * (panel_w + gap)
                if trace is None:
                    ax = fig.add_axes((x0 / fw, cursor / fh, panel_w / fw, ph / fh))
                    ax.set_xticks([])
                    ax.set_yticks([])
                    for spine in ax.spines.values():
                        spine.set_visible(True)
                        spine.set_color("0.8")
                    ax.text(0.5, 0.5, missing_text.format(label=row.label), transform=ax.transAxes, ha="center",
                            va="center", fontsize=9, color="0.4", gid="no-real")
                    ax.set_title(f"{row.label} real", loc="left", fontsize=9, pad=3)
                    gallery.append(dict(label=row.label, column=kind, lead=lead, missing=True, axes=ax))
                    continue
                y, rate = trace
                dur = y.shape[0] / fs
                ax = fig.add_axes((x0 / fw, cursor / fh, panel_w * dur / duration / fw, ph / fh))
                hl = _as_highlights(list(row.synthetic_highlights if kind == "synthetic" else row.real_highlights))
                hl = [h for h in hl if h.start_s < dur and h.end_s > 0]
                _draw_strip(ax, y, fs, lead, hl, paper, ylim, calibration=False, tick_step=1.0, minor_grid=True)
                ax.tick_params(axis="x", labelsize=7)
                note = row.synthetic_note if kind == "synthetic" else row.real_note
                ax.set_title(_panel_title(row, kind, lead, rate, note), loc="left", fontsize=9, pad=3)
                gallery.append(dict(label=row.label, column=kind, lead=lead, missing=False, axes=ax))
            cursor -= tick_h
    return fig
