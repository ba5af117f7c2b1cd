"""Views of case-based explanations for chapter 10: finding cases, tables and a contribution figure.

:mod:`protoecg_lib.evaluation.explain` computes an :class:`~protoecg_lib.evaluation.explanation.Explanation` of one ECG
(method §7). This module helps to *read* such explanations:

* :func:`prediction_cases` lists the test ECGs and labels that are correct, false alarms or missed,
  most confident first, from a run's saved predictions (predicted at the run's calibrated operating
  point when a calibration is given, else probability >= 0.5 as method §7.1);
* :func:`explain_label` explains one chosen label of one ECG, predicted or not (a missed label
  is below the threshold, so :func:`~protoecg_lib.evaluation.explain.explain_run_ecg` does not list it);
* :func:`logit_decomposition` and :func:`evidence_table` turn one label's explanation into a
  Series / DataFrame;
* :func:`first_shown` finds the first listed prototype that can be drawn (projected, source ECG
  attached), so a figure never asks for a prototype without a source;
* :func:`protoecg_lib.plotting.explanation.plot_contributions` draws the logit as bias + branch sums beside the largest single
  contributions ``W[c, j] * s[j]`` for and against the label (method §6-§7.2).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..labels import BRANCHES, branch_of

__all__ = ["CASE_KINDS", "prediction_cases", "explain_label", "logit_decomposition", "evidence_table", "first_shown"]

#: Kinds of (ECG, label) cases :func:`prediction_cases` lists, and how each is sorted.
CASE_KINDS = {
    "true_positive": "predicted and true, highest logit first",
    "false_positive": "predicted but not true, highest logit first (most confident false alarm)",
    "false_negative": "true but not predicted, lowest logit first (most confidently missed)",
}

_EVIDENCE_COLUMNS = ("branch", "prototype", "label", "kind", "similarity", "weight", "contribution",
                     "rank_by_similarity", "match_start", "match_length", "source_ecg_id", "source_labels")


def prediction_cases(predictions, kind: str, threshold: float = 0.5, labels: Sequence[str] | None = None,
                     calibration=None) -> pd.DataFrame:
    """All (ECG, label) pairs of one kind in a predictions file, most confident first.

    Parameters
    ----------
    predictions : Predictions
        ``Run.predictions(split)``: ``y_true (N, C)``, ``y_prob (N, C)`` and, when saved,
        ``y_logit (N, C)``.
    kind : {'true_positive', 'false_positive', 'false_negative'}
        See :data:`CASE_KINDS`.
    threshold : float
        A label is predicted when its probability is ``>= threshold`` (method §7.1).
    labels : sequence of str, optional
        Keep only these labels.
    calibration : Calibration, optional
        ``Run.calibration()``: a label is predicted when the calibration's operating point lists it
        (:meth:`~protoecg_lib.evaluation.calibration.Calibration.predict` on the saved logits);
        ``threshold`` is then not used.

    Returns
    -------
    DataFrame
        One row per case, columns ``ecg_id, label, branch, probability, logit, true, predicted``,
        sorted as :data:`CASE_KINDS` says (ties by ecg_id, then label order); empty when there is
        no such case.
    """
    if kind not in CASE_KINDS:
        raise ValueError(f"kind must be one of {sorted(CASE_KINDS)}; got {kind!r}")
    if not 0.0 < float(threshold) < 1.0:
        raise ValueError(f"threshold must be a probability in (0, 1); got {threshold!r}")
    y_true = np.asarray(predictions.y_true) > 0.5                                  # (N, C)
    y_prob = np.asarray(predictions.y_prob, dtype=np.float64)                      # (N, C)
    if predictions.y_logit is not None:
        y_logit = np.asarray(predictions.y_logit, dtype=np.float64)
    else:
        with np.errstate(divide="ignore"):
            y_logit = np.log(y_prob) - np.log1p(-y_prob)
    if y_true.shape != y_prob.shape:
        raise ValueError(f"y_true {y_true.shape} and y_prob {y_prob.shape} differ in shape")
    if calibration is not None:
        if predictions.y_logit is None or tuple(calibration.labels) != tuple(predictions.labels):
            raise ValueError("calibration needs predictions with logit_ columns of the same labels (the run's own)")
        predicted = calibration.predict(y_logit)
    else:
        predicted = y_prob >= threshold
    mask = {"true_positive": predicted & y_true, "false_positive": predicted & ~y_true,
            "false_negative": ~predicted & y_true}[kind]
    if labels is not None:
        unknown = [c for c in labels if c not in predictions.labels]
        if unknown:
            raise ValueError(f"unknown label(s) {unknown}; the predictions have {len(predictions.labels)} labels")
        keep = np.isin(np.asarray(predictions.labels), list(labels))
        mask = mask & keep[None, :]
    rows, cols = np.nonzero(mask)
    df = pd.DataFrame({"ecg_id": np.asarray(predictions.ecg_id)[rows].astype(int),
                       "label": [predictions.labels[c] for c in cols],
                       "branch": [branch_of(predictions.labels[c]) for c in cols],
                       "probability": y_prob[rows, cols], "logit": y_logit[rows, cols],
                       "true": y_true[rows, cols], "predicted": predicted[rows, cols],
                       "_col": cols})
    ascending = kind == "false_negative"
    df = df.sort_values(["logit", "ecg_id", "_col"], ascending=[ascending, True, True], kind="stable")
    return df.drop(columns="_col").reset_index(drop=True)


def explain_label(run, ecg_id: int, label: str, data=None, *, model=None, sources=None, top_k: int = 3,
                  threshold: float = 0.5):
    """The explanation of one label of one ECG, whether the label is predicted or not (method §7).

    A thin wrapper over :func:`~protoecg_lib.evaluation.explain.explain_run_ecg` with ``labels=[label]`` and a
    note that says whether the label is predicted: at the run's calibrated operating point when the run
    has a calibration, else at ``threshold``.

    Parameters
    ----------
    run : Run or path
    ecg_id : int
    label : str
        One of the model's 71 labels.
    data, model, sources, top_k
        See :func:`~protoecg_lib.evaluation.explain.explain_run_ecg`.
    threshold : float
        The prediction threshold reported in the result (method §7.1: 0.5).

    Returns
    -------
    Explanation
        ``labels`` holds the one requested label; ``predicted``, ``threshold`` and ``note`` refer to
        ``threshold``; the source ECGs of the listed prototypes are attached.
    """
    from dataclasses import replace

    from ..evaluation.explain import explain_run_ecg

    from ..labels import label_set

    if label not in label_set("all"):
        raise KeyError(f"unknown label {label!r}; the model has the 71 labels of protoecg_lib.labels.label_set('all')")
    ex = explain_run_ecg(run, ecg_id, data, model=model, sources=sources, top_k=top_k,
                         threshold=threshold, labels=[label])
    p = ex.probabilities[label]
    if ex.operating_point is not None:
        note = (f"{label} is predicted (probability {p:.3f}; {ex.operating_point})" if ex.label(label).predicted else
                f"{label} is not predicted (probability {p:.3g}; {ex.operating_point}); explained on request")
    else:
        note = (f"{label} is predicted (probability {p:.3f} >= {threshold:g})" if p >= threshold else
                f"{label} is not predicted (probability {p:.3g} < {threshold:g}); explained on request")
    return replace(ex, note=note)


def logit_decomposition(explanation, label: str) -> pd.Series:
    """One label's logit as bias + the summed contributions of each branch's prototypes (method §6).

    Parameters
    ----------
    explanation : Explanation
    label : str
        An explained label.

    Returns
    -------
    Series
        Index ``bias, rhythm, morphology, global, logit``: the first four add up to ``logit``
        (up to float rounding); the last entry is the model's logit itself.
    """
    entry = explanation.label(label)
    parts = {"bias": entry.bias} | {b: entry.branch_totals[b] for b in BRANCHES}
    return pd.Series(parts | {"logit": entry.logit}, name=f"ECG {explanation.ecg_id}, {label}")


def evidence_table(explanation, label: str, which: str = "for") -> pd.DataFrame:
    """The listed prototypes of one label as a table.

    Parameters
    ----------
    explanation : Explanation
    label : str
        An explained label.
    which : {'for', 'against', 'strongest'}
        The label's own prototypes (ranked by contribution), the most negative contributions of
        any prototype, or the largest positive ones of any prototype.

    Returns
    -------
    DataFrame
        One row per listed prototype (index: its rank, from 1), columns ``branch, prototype, label,
        kind, similarity, weight, contribution, rank_by_similarity, match_start, match_length,
        source_ecg_id, source_labels``.
    """
    rows = [{k: getattr(ev, k) for k in _EVIDENCE_COLUMNS} for ev in explanation.label(label).listed(which)]
    for row in rows:
        row["source_labels"] = " ".join(row["source_labels"] or []) or None
    df = pd.DataFrame(rows, columns=list(_EVIDENCE_COLUMNS))
    df.index = pd.RangeIndex(1, len(df) + 1, name="rank")
    return df


def first_shown(explanation, label: str, which: str = "for", kind: str | None = None) -> int | None:
    """0-based position of the first listed prototype that :func:`explanation_figure` can draw.

    A prototype can be drawn when it was projected and its source ECG is attached to the
    explanation. ``kind`` (``'global-1d'``, ``'local-2d'``, ``'global-2d'``) keeps only
    prototypes of that kind. Returns None when there is none.
    """
    for k, ev in enumerate(explanation.label(label).listed(which)):
        if ev.projected and ev.source_ecg_id in explanation.sources and (kind is None or ev.kind == kind):
            return k
    return None


