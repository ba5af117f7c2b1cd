"""Ectopic beats (PVC, PAC) located in real ECGs: ground truth for localisation on real data.

Real PTB-XL has no beat annotations, but premature beats can be found from the rhythm alone:

1. R peaks from the project's detector (:func:`protoecg_lib.data.rr.detect_r_peaks` with wfdb's XQRS,
   ``method="xqrs"``) run on every lead, merged across leads (:func:`detect_beats`): a beat is kept when at least ``min_leads`` leads detect it within 0.1 s (one lead
   alone misses PVCs whose QRS is small or inverted there), moved to its point of steepest 12-lead
   slope, and of two beats closer than 0.36 s the steeper is kept (XQRS also marks tall T waves);
2. a beat ``i`` is **premature** when ``RR_i < premature * median(RR)`` and the next interval is a
   pause, ``RR_{i+1} >= pause * median(RR)`` (the compensatory or resetting pause), or the next beat
   is premature too (couplets); the median is over the record (PTB-XL records are 10 s);
3. its kind: ``'V'`` when the QRS (``R - 0.08 s .. R + 0.12 s``, all 12 leads) correlates poorly with
   the median QRS of the normal beats (``< wide_corr``), else ``'A'``; in addition, in an ECG labelled
   PVC any beat whose QRS correlates below ``bizarre_corr`` is a ``'V'`` even when its timing is not
   premature (PVCs at the record's edges, or in AFIB/AFLT, where the RR rule cannot be used);
4. evidence spans in the synthetic generator's format (:class:`~protoecg_lib.synthetic.EvidenceSpan`,
   all 12 leads, seconds): a PVC is its QRS (``R - 0.08 .. R + 0.12 s``), a PAC its P onset to QRS end
   (``R - 0.20 .. R + 0.08 s``). A span is written for a label only when the ECG carries that label
   (PVC or PAC in ``scp_codes``) and a premature beat of the matching kind was found; in an ECG with
   only one of the two labels every premature beat counts for it.

In records with atrial fibrillation or flutter only the shape rule is used (their RR irregularity is
not ectopy).
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.rr import detect_r_peaks
from ..files import atomic_write_json
from ..labels import LEADS

__all__ = ["IRREGULAR", "Beat", "detect_beats", "premature_beats", "ectopic_evidence", "detected_evidence",
           "save_detected_evidence", "load_detected_evidence", "EVIDENCE_FILE"]

#: File name of the detected evidence (same format as ``synthetic_evidence.json``).
EVIDENCE_FILE = "detected_ectopic_evidence.json"
#: Rhythms whose RR irregularity is not ectopy: only the QRS-shape rule runs in them.
IRREGULAR = ("AFIB", "AFLT")
_PVC_SPAN = (-0.08, 0.12)
_PAC_SPAN = (-0.20, 0.08)


@dataclass(frozen=True)
class Beat:
    """One detected beat: R-peak sample, RR before and after (s, NaN at the ends), premature flag,
    kind (``'N'``, ``'V'`` or ``'A'``) and the QRS correlation with the median normal QRS."""

    r: int
    rr_before: float
    rr_after: float
    premature: bool
    kind: str
    qrs_corr: float


def _lead_peaks(x: np.ndarray, fs: float) -> np.ndarray:
    """R-peak samples of one lead ``(T,)``: the project's one detector, :func:`protoecg_lib.data.rr.detect_r_peaks`,
    with WFDB's XQRS (its own band-pass and learning phase); empty for a flat or broken lead."""
    return detect_r_peaks(x, fs, method="xqrs")


def detect_beats(signals: np.ndarray, fs: float, lead: str | None = None, min_leads: int = 4,
                   refractory_s: float = 0.36) -> np.ndarray:
    """Beats (QRS) of one ECG ``(12, T)``: XQRS R peaks of every lead (:func:`protoecg_lib.data.rr.detect_r_peaks`),
    merged across leads.

    Parameters
    ----------
    lead : str, optional
        Detect on this lead only; default: every lead, merged (a cluster of detections within 0.1 s
        found on at least ``min_leads`` leads is one beat, at the median detection time).
    refractory_s : float
        Of two candidates closer than this, the one with the larger 12-lead slope energy is kept: a
        QRS is much steeper than the tall T wave that XQRS sometimes also marks (precordial leads,
        or after a PVC). 0.36 s keeps couplets of premature beats (about 0.4 s apart) apart.

    Returns
    -------
    ndarray, shape (n_beats,), int64
        Each beat at its point of largest 12-lead slope energy (:func:`_align`).
    """
    x = np.asarray(signals, dtype=np.float64)
    if lead is not None:
        candidates = np.unique(_lead_peaks(x[LEADS.index(lead)], fs))
    else:
        det = sorted((int(p), k) for k in range(x.shape[0]) for p in _lead_peaks(x[k], fs))
        gap = int(round(0.1 * fs))
        found, cluster = [], []
        for p, k in det + [(10 ** 9, -1)]:
            if cluster and p - cluster[0][0] > gap:
                if len({kk for _, kk in cluster}) >= min_leads:
                    found.append(int(np.median([pp for pp, _ in cluster])))
                cluster = []
            cluster.append((p, k))
        candidates = np.asarray(found, dtype=np.int64)
    candidates = _align(x, candidates, fs)
    energy = _slope_energy(x)
    refractory = int(round(refractory_s * fs))
    keep: list[int] = []
    for p in candidates:
        if keep and p - keep[-1] < refractory:
            if energy[p] > energy[keep[-1]]:
                keep[-1] = int(p)
            continue
        keep.append(int(p))
    return np.asarray(keep, dtype=np.int64)


def _slope_energy(x: np.ndarray) -> np.ndarray:
    """``(T,)``: the absolute first difference summed over the 12 leads, smoothed over 3 samples."""
    energy = np.abs(np.diff(x, axis=1, prepend=x[:, :1])).sum(0)
    return np.convolve(energy, np.ones(3) / 3, mode="same")


def _align(x: np.ndarray, peaks: np.ndarray, fs: float, half_s: float = 0.06) -> np.ndarray:
    """Move each detection to one fiducial point: the largest 12-lead slope energy within ``half_s``.

    XQRS marks a QRS somewhere inside it, and the merged median of 12 leads jitters; beats compared
    by shape (:func:`premature_beats`) must be aligned on the same point of every QRS.
    """
    if len(peaks) == 0:
        return peaks
    energy = _slope_energy(x)                                                          # (T,)
    half = max(1, int(round(half_s * fs)))
    out = []
    for p in peaks:
        a, b = max(0, int(p) - half), min(x.shape[1], int(p) + half + 1)
        out.append(a + int(np.argmax(energy[a:b])))
    return np.unique(np.asarray(out, dtype=np.int64))


def _qrs(signals: np.ndarray, r: int, fs: float) -> np.ndarray | None:
    a, b = r + int(round(_PVC_SPAN[0] * fs)), r + int(round(_PVC_SPAN[1] * fs))
    if a < 0 or b > signals.shape[1]:
        return None
    return signals[:, a:b]


def premature_beats(signals: np.ndarray, fs: float, *, lead: str | None = None, premature: float = 0.85,
                    pause: float = 0.95, wide_corr: float = 0.8, bizarre_corr: float = 0.5, rr_rule: bool = True,
                    shape_rule: bool = False, peaks: np.ndarray | None = None, max_lag_s: float = 0.03) -> list[Beat]:
    """Detected beats of one ECG ``(12, T)`` with the RR rule and the QRS-shape kind (module docstring).

    Parameters
    ----------
    premature : float
        A beat is premature when its RR is below ``premature`` x the record's median RR ...
    pause : float
        ... and the next RR is at least ``pause`` x the median.
    wide_corr : float
        Premature beats whose 12-lead QRS correlates below this with the median normal QRS are ``'V'``.
    bizarre_corr : float
        With ``shape_rule``, any beat correlating below this is a ``'V'`` (flagged premature too).
    rr_rule, shape_rule : bool
        Use the RR rule (off for AFIB/AFLT) and the shape rule (for ECGs labelled PVC).
    peaks : array, optional
        R peaks (samples) if already known.
    max_lag_s : float
        The QRS correlation is the best over shifts of up to this many seconds (alignment jitter).

    Returns
    -------
    list of Beat
        One per detected beat, in time order.
    """
    x = np.asarray(signals, dtype=np.float64)
    r = detect_beats(x, fs, lead) if peaks is None else np.asarray(peaks, dtype=np.int64)
    if len(r) < 4:
        return [Beat(int(p), np.nan, np.nan, False, "N", np.nan) for p in r]
    rr = np.diff(r) / fs                                                             # (n - 1,)
    med = float(np.median(rr))
    before = np.concatenate([[np.nan], rr])
    after = np.concatenate([rr, [np.nan]])
    short = before < premature * med
    prem = short & ((after >= pause * med) | np.concatenate([short[1:], [False]]))
    if not rr_rule:
        prem[:] = False
    normal = [q for q, p in zip(r, prem) if not p]
    qrs_normal = [q for q in (_qrs(x, int(p), fs) for p in normal) if q is not None]
    template = np.median(np.stack(qrs_normal), axis=0) if qrs_normal else None

    v = None if template is None else (template - template.mean(1, keepdims=True)).ravel()
    lags = range(-int(round(max_lag_s * fs)), int(round(max_lag_s * fs)) + 1)

    def corr_of(q, t=v):
        u = (q - q.mean(1, keepdims=True)).ravel()
        return float(u @ t / (np.linalg.norm(u) * np.linalg.norm(t) + 1e-12))

    beats = []
    for p, b, a, is_p in zip(r, before, after, prem):
        corr = np.nan
        qs = [q for q in (_qrs(x, int(p) + lag, fs) for lag in lags) if q is not None]
        if qs and template is not None:                                # best over small shifts
            corr = max(corr_of(q) for q in qs)
        elif shape_rule and template is not None:                      # a beat cut by the record's edge
            cut = []
            for lag in lags:
                start = int(p) + lag + int(round(_PVC_SPAN[0] * fs))
                lo, hi = max(0, start), min(x.shape[1], start + template.shape[1])
                if hi - lo >= (3 * template.shape[1]) // 4:
                    t = template[:, lo - start:hi - start]
                    cut.append(corr_of(x[:, lo:hi], (t - t.mean(1, keepdims=True)).ravel()))
            corr = max(cut) if cut else np.nan
        if shape_rule and not math.isnan(corr) and corr < bizarre_corr:
            is_p = True
            kind = "V"
        else:
            kind = "N" if not is_p else ("V" if (not math.isnan(corr) and corr < wide_corr) else "A")
        beats.append(Beat(int(p), float(b), float(a), bool(is_p), kind, corr))
    return beats


def ectopic_evidence(beats: list[Beat], labels, fs: float, duration: float) -> dict[str, list[dict]]:
    """Evidence spans (dicts in ``synthetic_evidence.json`` format) of one ECG's premature beats.

    Parameters
    ----------
    beats : list of Beat
    labels : iterable of str
        The ECG's SCP codes; only PVC / PAC present there get spans.
    """
    labels = set(labels)
    wanted = labels & {"PVC", "PAC"}
    out: dict[str, list[dict]] = {}
    for bt in beats:
        if not bt.premature:
            continue
        if len(wanted) == 1:
            code = next(iter(wanted))
        elif wanted:
            code = "PVC" if bt.kind == "V" else "PAC"
        else:
            continue
        lo, hi = _PVC_SPAN if code == "PVC" else _PAC_SPAN
        t = bt.r / fs
        out.setdefault(code, []).append({"leads": list(LEADS), "start": round(max(0.0, t + lo), 3),
                                         "end": round(min(duration, t + hi), 3)})
    return out


def detected_evidence(data, *, lead: str | None = None, cache: str | Path | None = None, **options) -> dict:
    """Evidence of detected ectopic beats for every ECG of a (real) root labelled PVC or PAC.

    Parameters
    ----------
    data : PTBXL
        A loaded root (:func:`protoecg_lib.data.load_ptbxl`); its preprocessed signals are used.
    cache : path, optional
        A folder to write ``detected_ectopic_evidence.json`` into (never the data root).
    **options
        Passed to :func:`premature_beats`.

    Returns
    -------
    dict ecg_id -> {label: [EvidenceSpan]}
        As :func:`protoecg_lib.synthetic.load_evidence`.
    """
    from ..synthetic import EvidenceSpan

    raw = {}
    duration = data.signals.shape[-1] / data.fs
    for i, (ecg_id, codes) in enumerate(zip(data.records.index, data.records["codes"])):
        codes = set(codes)
        if not codes & {"PVC", "PAC"}:
            continue
        irregular = bool(codes & set(IRREGULAR))
        opts = {"rr_rule": not irregular, "shape_rule": "PVC" in codes, **options}
        beats = premature_beats(np.asarray(data.signals[i]), data.fs, lead=lead, **opts)
        ev = ectopic_evidence(beats, codes, data.fs, duration)
        if ev:
            raw[str(int(ecg_id))] = ev
    if cache is not None:
        save_detected_evidence(raw, Path(cache) / EVIDENCE_FILE)
    return {int(k): {lab: [EvidenceSpan.from_dict(s) for s in spans] for lab, spans in v.items()}
            for k, v in raw.items()}


def save_detected_evidence(evidence: Mapping, path: str | Path) -> Path:
    """Write evidence (``{ecg_id: {label: [span dicts or EvidenceSpan]}}``) as JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = {str(k): {lab: [s if isinstance(s, Mapping) else s.to_dict() for s in spans] for lab, spans in v.items()}
           for k, v in evidence.items()}
    return atomic_write_json(path, out, indent=None)


def load_detected_evidence(path: str | Path) -> dict:
    """Read a detected-evidence JSON (a file, or a folder holding ``detected_ectopic_evidence.json``)."""
    from ..synthetic import EvidenceSpan

    path = Path(path)
    if path.is_dir():
        path = path / EVIDENCE_FILE
    raw = json.loads(path.read_text())
    return {int(k): {lab: [EvidenceSpan.from_dict(s) for s in spans] for lab, spans in v.items()}
            for k, v in raw.items()}
