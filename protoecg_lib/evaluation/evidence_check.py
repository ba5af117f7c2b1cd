"""Highlights for the prototypes an explanation shows, and whether the shaded window holds the evidence.

An explanation (:func:`~protoecg_lib.evaluation.explain.explain_ecg`) shades each time-localised
prototype's best-matching window: the *nominal* span, which is not an attribution (a latent step
sees about 4.3 s of input, :mod:`~protoecg_lib.evaluation.receptive_field`). For the prototypes it
lists, this module adds

* ``highlights``: the nominal window and the faithful highlight (default ``ig``, the method chosen on
  the validation fold, :data:`~protoecg_lib.evaluation.highlights.DEFAULT_HIGHLIGHT`), each a JSON
  entry labelled for what it is (:meth:`~protoecg_lib.evaluation.highlights.SimilarityHighlight.to_json`);
* ``evidence_check``: a verdict. With ground truth for the prototype's label in this ECG (synthetic
  evidence spans, or ectopic beats detected in a real ECG, :mod:`~protoecg_lib.evaluation.ectopic`),
  ``holds`` says whether the highlight's peak lies on the evidence, and ``window_on_evidence`` whether
  the shaded window overlaps it. Without ground truth, ``holds`` says whether the highlight's peak
  lies inside the shaded window (the window is then at least where the similarity comes from).

Cost: one highlight per listed time-localised prototype (about 0.03 s each for the fast preset and
0.2 s for the paper preset on one CPU thread; ``benchmarks/bench_highlights.py``); a prototype listed
for several labels is computed once.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

__all__ = ["check_evidence", "attach_highlights", "ecg_evidence"]


def _on_spans(t: float, spans, pad: float = 0.0) -> bool:
    return any(s.start - pad <= t <= s.end + pad for s in spans)


def _overlaps(a: float, b: float, spans) -> bool:
    return any(s.start < b and a < s.end for s in spans)


def check_evidence(entry: Mapping, spans: Sequence | None, basis: str | None = None) -> dict:
    """The verdict for one highlight JSON entry (:meth:`~protoecg_lib.evaluation.highlights.SimilarityHighlight.to_json`) against ground truth.

    Parameters
    ----------
    entry : dict
        A faithful highlight's JSON entry (``"window"``, ``"top"`` with ``"peak_s"``, ``"method"``).
    spans : list of EvidenceSpan or None
        Ground-truth evidence of the prototype's label in this ECG (seconds); None when there is none.
    basis : str, optional
        Where the ground truth comes from (``"synthetic evidence"``, ``"detected ectopic beats"``).

    Returns
    -------
    dict
        ``basis``, ``method``, ``peak_s``, ``peak_in_window``, ``peak_on_evidence``,
        ``window_on_evidence``, ``holds`` (bool, or None when nothing can be said) and ``why``.
    """
    peak = float(entry["top"]["peak_s"])
    a, b = float(entry["window"]["start_s"]), float(entry["window"]["end_s"])
    inside = a <= peak <= b
    out = {"method": entry["method"], "peak_s": round(peak, 3), "peak_in_window": inside,
           "peak_on_evidence": None, "window_on_evidence": None}
    if spans:
        on, window_on = _on_spans(peak, spans), _overlaps(a, b, spans)
        where = ", ".join(f"{s.start:.2f}-{s.end:.2f} s" for s in spans[:4]) + (" ..." if len(spans) > 4 else "")
        out.update(basis=basis or "ground truth", peak_on_evidence=on, window_on_evidence=window_on, holds=on,
                   why=(f"{entry['method']} peak {peak:.2f} s is {'on' if on else 'not on'} the evidence ({where}); "
                        f"the shaded window {a:.2f}-{b:.2f} s {'overlaps' if window_on else 'misses'} it"))
    else:
        out.update(basis="highlight vs shaded window (no ground truth for this label here)", holds=inside,
                   why=(f"{entry['method']} peak {peak:.2f} s is {'inside' if inside else 'outside'} the shaded "
                        f"window {a:.2f}-{b:.2f} s" + ("" if inside else
                                                       ": the similarity comes mostly from elsewhere")))
    return out


def ecg_evidence(data, ecg_id: int) -> tuple[dict, str | None]:
    """Ground truth of one ECG of a loaded root: ``({label: [EvidenceSpan]}, basis)``.

    A synthetic root gives its evidence spans; a real root gives ectopic beats detected in this ECG
    when it is labelled PVC or PAC (:func:`~protoecg_lib.evaluation.ectopic.detected_evidence` rules),
    else nothing (``({}, None)``).
    """
    from ..synthetic import EvidenceSpan, load_evidence

    if data.source == "synthetic":
        return load_evidence(data.root).get(int(ecg_id), {}), "synthetic evidence"
    codes = set(data.records.loc[int(ecg_id), "codes"])
    if not codes & {"PVC", "PAC"}:
        return {}, None
    from .ectopic import IRREGULAR, ectopic_evidence, premature_beats

    x = np.asarray(data.signal(int(ecg_id)))
    beats = premature_beats(x, data.fs, rr_rule=not codes & set(IRREGULAR), shape_rule="PVC" in codes)
    raw = ectopic_evidence(beats, codes, data.fs, x.shape[1] / data.fs)
    return ({lab: [EvidenceSpan.from_dict(s) for s in spans] for lab, spans in raw.items()},
            "detected ectopic beats (RR-interval rule)")


def attach_highlights(explanation, model, *, method: str | None = None, evidence: Mapping | None = None,
                      basis: str | None = None, lists: Sequence[str] = ("for",), labels: Sequence[str] | None = None,
                      **options) -> None:
    """Compute highlights and the evidence check for the time-localised prototypes an explanation lists.

    Parameters
    ----------
    explanation : Explanation
        With its ``signals`` (``(12, T)``); its :class:`PrototypeEvidence` entries are filled in place
        (``highlights``: ``{"window": ..., method: ...}``; ``evidence_check``).
    model : ProtoECGNet
    method : str, optional
        The faithful highlight (default :data:`~protoecg_lib.evaluation.highlights.DEFAULT_HIGHLIGHT`).
    evidence : dict label -> list of EvidenceSpan, optional
        Ground truth for this ECG (:func:`ecg_evidence`).
    lists : sequence of {'for', 'against', 'strongest'}
        Which lists get highlights (default the label's own prototypes, the ones figures show).
    labels : sequence of str, optional
        Only these explained labels (a viewer that shows one label at a time); default all.
    **options
        Passed to :func:`~protoecg_lib.evaluation.highlights.highlight`.
    """
    from .highlights import DEFAULT_HIGHLIGHT, highlight

    method = method or DEFAULT_HIGHLIGHT
    if method == "window":
        raise ValueError("the faithful highlight cannot be 'window' (the nominal span is always shown); "
                         "choose 'ig', 'gradient' or 'occlusion'")
    done: dict[tuple[str, int], dict] = {}
    x = explanation.signals
    for entry in explanation.labels:
        if labels is not None and entry.label not in labels:
            continue
        for which in lists:
            for ev in entry.listed(which):
                if ev.kind != "local-2d":
                    continue
                key = (ev.branch, ev.prototype)
                if key not in done:
                    branch = model.branches[ev.branch]
                    found = {m: highlight(branch, x, ev.prototype, m, window=ev.match_window, fs=explanation.fs,
                                          similarity=ev.match_similarity, **options).to_json()
                             for m in ("window", method)}
                    done[key] = found
                ev.highlights = done[key]
                spans = (evidence or {}).get(ev.label)
                ev.evidence_check = check_evidence(done[key][method], spans, basis)
