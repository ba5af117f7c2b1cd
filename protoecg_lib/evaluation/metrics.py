"""Dataset-level evaluation of one model on one split (method §8.1): the evaluation table, and every
metric it is built from.

Every metric here is computed once over a whole split from per-ECG scores (never averaged over
batches, method §9.2 B3), e.g. from a run's ``predictions/<split>.csv``
(:func:`protoecg_lib.runs.read_predictions`):

* :mod:`~protoecg_lib.evaluation.auroc`: AUROC as the Mann-Whitney statistic (the probability that a
  random positive outscores a random negative, ties counting one half; identical to scikit-learn's
  ``roc_auc_score``), macro and support-weighted means, validation-tuned thresholds and F1. A label
  without a positive or without a negative has no AUROC; it is reported as skipped.
* :mod:`~protoecg_lib.evaluation.bootstrap`: percentile intervals of a non-parametric bootstrap that
  resamples **patients** (all ECGs of a drawn patient come along), all resamples at once.
* :func:`evaluation_table` (here) puts them together; this module re-exports the metric functions.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .auroc import (SKIP_NO_NEGATIVE, SKIP_NO_POSITIVE, auroc_columns, auroc_per_label, check_labels, check_scores,
                    f1_scores, group_index, macro_auroc, macro_mean, nan_to_none, sigmoid, support_weighted_mean,
                    tune_thresholds, weighted_auroc)
from .bootstrap import (BootstrapCI, bootstrap_ci, bootstrap_counts, bootstrap_label_aurocs, check_ci_args,
                        label_intervals, make_ci)

__all__ = [
    "evaluation_table", "auroc_per_label", "macro_auroc", "weighted_auroc", "BootstrapCI", "bootstrap_ci",
    "bootstrap_counts", "tune_thresholds", "f1_scores", "sigmoid", "SKIP_NO_POSITIVE", "SKIP_NO_NEGATIVE",
]


# --------------------------------------------------------------------------- the report
def evaluation_table(y_true, y_prob, labels=None, groups=None, thresholds=None, n_boot: int = 1000,
                     seed: int = 0, alpha: float = 0.05) -> dict:
    """Everything ``protoecg evaluate`` reports, as a JSON-able dict (method §8.1, §11 item 9).

    Parameters
    ----------
    y_true : array, shape (N, C)
    y_prob : array, shape (N, C)
    labels : sequence of str, length C, optional
    groups : array, shape (N,), optional
        Patient ids (bootstrap by patient); None bootstraps ECGs.
    thresholds : float or array (C,), optional
        When given (e.g. from :func:`tune_thresholds` on validation), F1 per label, macro and micro.
    n_boot, seed, alpha
        Bootstrap settings (``n_boot=0`` skips the intervals).

    Returns
    -------
    dict
        ``n_ecgs``, ``n_patients``, ``n_labels``, ``resampling`` (``"patient"`` or ``"ecg"``), ``n_boot``,
        ``seed``, ``alpha``, ``macro_auroc`` and ``weighted_auroc`` (``point, lo, hi, ...``),
        ``labels_evaluated``, ``labels_skipped`` (``count`` and ``by_reason: {reason: [codes]}``),
        ``per_label`` (list of ``{label, support, negatives, auroc, lo, hi, skipped[, threshold, f1]}``,
        ``lo``/``hi`` the label's own bootstrap interval over the resamples where it has both classes)
        and, with thresholds, ``f1`` (``macro, micro``). NaN is written as None.
        ``pd.DataFrame(result["per_label"])`` is the table :func:`protoecg_lib.plotting.plot_auroc_bars` draws.
    """
    y, p = check_scores(y_true, y_prob)
    labels = check_labels(labels, y.shape[1])
    check_ci_args("macro", alpha)
    index = group_index(groups, y.shape[0])
    table = auroc_per_label(y, p, labels)
    point_auc, point_support = auroc_columns(y, p, None)
    point_macro, point_weighted = macro_mean(point_auc)[0], support_weighted_mean(point_auc, point_support)[0]
    if n_boot > 0:
        auc, support = bootstrap_label_aurocs(y, p, groups, n_boot, seed)
        macro = make_ci("macro", point_macro, macro_mean(auc), alpha, n_boot).to_dict()
        weighted = make_ci("weighted", point_weighted, support_weighted_mean(auc, support), alpha, n_boot).to_dict()
        label_lo, label_hi = label_intervals(auc, alpha)                      # (C,) each
    else:
        macro = {"point": nan_to_none(point_macro), "lo": None, "hi": None, "alpha": alpha, "n_boot": 0, "n_valid": 0}
        weighted = {**macro, "point": nan_to_none(point_weighted)}
        label_lo = label_hi = np.full(y.shape[1], np.nan)
    skipped = table["skipped"].dropna()
    per_label = [{"label": code, "support": int(row.support), "negatives": int(row.negatives),
                  "auroc": nan_to_none(row.auroc), "lo": nan_to_none(lo), "hi": nan_to_none(hi),
                  "skipped": None if pd.isna(row.skipped) else str(row.skipped)}
                 for (code, row), lo, hi in zip(table.iterrows(), label_lo, label_hi)]
    result = {
        "n_ecgs": int(y.shape[0]),
        "n_patients": int(index.max()) + 1 if groups is not None else None,
        "n_labels": int(y.shape[1]),
        "resampling": "patient" if groups is not None else "ecg",
        "n_boot": int(n_boot), "seed": int(seed), "alpha": float(alpha),
        "macro_auroc": macro,
        "weighted_auroc": weighted,
        "labels_evaluated": int(y.shape[1] - len(skipped)),
        "labels_skipped": {"count": int(len(skipped)),
                           "by_reason": {r: list(skipped.index[skipped == r]) for r in sorted(set(skipped))}},
        "per_label": per_label,
    }
    if thresholds is not None:
        f1, f1_macro, f1_micro = f1_scores(y, p, thresholds)                   # checks the shape
        thr = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (y.shape[1],))
        for entry, t, f in zip(per_label, thr, f1):
            entry["threshold"], entry["f1"] = float(t), nan_to_none(f)
        result["f1"] = {"macro": nan_to_none(f1_macro), "micro": nan_to_none(f1_micro)}
    return result
