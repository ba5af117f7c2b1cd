"""AUROC per label and its macro and support-weighted means, thresholds tuned for F1, and F1 (method §8.1).

AUROC is the Mann-Whitney statistic: the probability that a random positive outscores a random
negative, ties counting one half (identical to scikit-learn's ``roc_auc_score``). A label without a
positive or without a negative has no AUROC; it is reported as skipped and left out of the means.
Scores may be logits or probabilities: only their order matters. F1 needs thresholds:
:func:`tune_thresholds` picks, per label, the one maximising F1 on validation.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["sigmoid", "auroc_per_label", "macro_auroc", "weighted_auroc", "tune_thresholds", "f1_scores", "SKIP_NO_POSITIVE", "SKIP_NO_NEGATIVE", "METRICS", "check_scores", "check_labels", "group_index", "auroc_columns", "macro_mean", "support_weighted_mean", "nan_to_none"]


#: Reasons a label is left out of the AUROC.
SKIP_NO_POSITIVE = "no positive"


SKIP_NO_NEGATIVE = "no negative"


METRICS = ("macro", "weighted")


def sigmoid(logits) -> np.ndarray:
    """Probabilities from logits, float64 (numerically stable: no overflow for logits of any size)."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(logits, dtype=np.float64)))


def check_scores(y_true, y_prob) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``(N, C)`` 0/1 targets and finite scores of the same shape."""
    y = np.asarray(y_true)
    p = np.asarray(y_prob, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if p.ndim == 1:
        p = p[:, None]
    if y.ndim != 2 or y.shape != p.shape:
        raise ValueError(f"y_true {y.shape} and y_prob {p.shape} must both be (N, C) with the same shape")
    if y.shape[0] == 0 or y.shape[1] == 0:
        raise ValueError(f"y_true has shape {y.shape}; need at least one ECG and one label")
    y = y.astype(np.float64, copy=False)
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y_true must be multi-hot 0/1 (NaN or other values found)")
    if not np.isfinite(p).all():
        bad = int((~np.isfinite(p)).sum())
        raise ValueError(f"y_prob contains {bad} NaN/inf values; check the model outputs or the predictions file")
    return y.astype(bool), p


def check_labels(labels, num_labels: int) -> list[str]:
    if labels is None:
        return [str(i) for i in range(num_labels)]
    labels = [str(x) for x in labels]
    if len(labels) != num_labels:
        raise ValueError(f"got {len(labels)} label names for {num_labels} label columns")
    if len(set(labels)) != len(labels):
        raise ValueError("label names must be unique")
    return labels


def group_index(groups, num_ecgs: int) -> np.ndarray:
    """Map patient ids to 0..G-1 per ECG (each ECG its own group when ``groups`` is None)."""
    if groups is None:
        return np.arange(num_ecgs)
    groups = np.asarray(groups)
    if groups.shape != (num_ecgs,):
        raise ValueError(f"groups (patient ids) must have shape ({num_ecgs},), one per ECG; got {groups.shape}")
    if pd.isna(groups).any():
        raise ValueError("groups (patient ids) contain missing values; every ECG needs a patient id")
    return np.unique(groups, return_inverse=True)[1].reshape(-1)


def nan_to_none(x):
    x = float(x)
    return None if math.isnan(x) else x


def auroc_columns(y: np.ndarray, p: np.ndarray, weights: np.ndarray | None):
    """AUROC of every label under every column of ECG weights (integer weights = bootstrap multiplicities).

    y : (N, C) bool, p : (N, C) float, weights : (N, R) or None (one column of ones).
    Returns auc (R, C) with NaN where a label lacks a positive or a negative, and the positive
    weight (R, C) of each label.

    For every positive ECG, the negative weight scoring strictly lower plus half the negative weight
    scoring equal is read from prefix sums over the score-sorted negatives (the Mann-Whitney count
    with ties as 1/2), for all R weightings at once.
    """
    n, c = y.shape
    w = np.ones((n, 1)) if weights is None else np.asarray(weights, dtype=np.float64)  # (N, R)
    r = w.shape[1]
    auc = np.full((r, c), np.nan)
    pos_total = np.zeros((r, c))
    for k in range(c):
        neg = np.flatnonzero(~y[:, k])                                         # (N-,)
        neg = neg[np.argsort(p[neg, k], kind="stable")]                        # by ascending score
        pos = np.flatnonzero(y[:, k])                                          # (N+,)
        cum = np.zeros((neg.size + 1, r))                                      # (N-+1, R) prefix sums
        np.cumsum(w[neg], axis=0, out=cum[1:])
        neg_scores, pos_scores = p[neg, k], p[pos, k]
        lower = cum[np.searchsorted(neg_scores, pos_scores, side="left")]      # (N+, R) strictly lower
        upto = cum[np.searchsorted(neg_scores, pos_scores, side="right")]      # (N+, R) lower or equal
        w_pos = w[pos]                                                         # (N+, R)
        pairs = (w_pos * (lower + upto)).sum(axis=0) * 0.5                     # (R,) concordant + ties/2
        n_pos, n_neg = w_pos.sum(axis=0), cum[-1]                              # (R,)
        ok = (n_pos > 0) & (n_neg > 0)
        auc[ok, k] = pairs[ok] / (n_pos[ok] * n_neg[ok])
        pos_total[:, k] = n_pos
    return auc, pos_total


def macro_mean(auc: np.ndarray) -> np.ndarray:
    """Mean over the defined labels of each row; NaN for a row with none. auc: (R, C) -> (R,)."""
    ok = ~np.isnan(auc)
    count = ok.sum(axis=1)
    total = np.where(ok, auc, 0.0).sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def support_weighted_mean(auc: np.ndarray, support: np.ndarray) -> np.ndarray:
    """Positive-support weighted mean over the defined labels of each row. (R, C), (R, C) -> (R,)."""
    ok = ~np.isnan(auc)
    wsum = np.where(ok, support, 0.0).sum(axis=1)
    total = np.where(ok, auc * support, 0.0).sum(axis=1)
    return np.where(wsum > 0, total / np.where(wsum > 0, wsum, 1.0), np.nan)


def auroc_per_label(y_true, y_prob, labels=None) -> pd.DataFrame:
    """AUROC of every label over the whole split (method §8.1).

    Parameters
    ----------
    y_true : array, shape (N, C)
        Multi-hot targets.
    y_prob : array, shape (N, C)
        Scores (probabilities or logits; only their order matters).
    labels : sequence of str, length C, optional
        Label codes (default ``"0".."C-1"``).

    Returns
    -------
    DataFrame indexed by label, columns ``support`` (positives), ``negatives``, ``auroc`` (NaN when
    skipped) and ``skipped`` (``"no positive"``, ``"no negative"``, or missing -- test it with
    ``table["skipped"].isna()`` -- for an evaluated label).
    """
    y, p = check_scores(y_true, y_prob)
    labels = check_labels(labels, y.shape[1])
    auc, _ = auroc_columns(y, p, None)
    support = y.sum(axis=0)
    negatives = y.shape[0] - support
    skipped = [SKIP_NO_POSITIVE if s == 0 else SKIP_NO_NEGATIVE if n == 0 else None
               for s, n in zip(support, negatives)]
    table = pd.DataFrame({"support": support.astype(int), "negatives": negatives.astype(int),
                          "auroc": auc[0], "skipped": skipped}, index=pd.Index(labels, name="label"))
    return table


def macro_auroc(y_true, y_prob) -> float:
    """Unweighted mean AUROC over the labels with both classes (method §8.1); NaN if there is none."""
    y, p = check_scores(y_true, y_prob)
    return float(macro_mean(auroc_columns(y, p, None)[0])[0])


def weighted_auroc(y_true, y_prob) -> float:
    """Mean AUROC over the labels with both classes, weighted by positive support (method §8.1).

    Equal to scikit-learn's ``roc_auc_score(..., average="weighted")`` when every label has both
    classes. NaN if no label has both.
    """
    y, p = check_scores(y_true, y_prob)
    auc, support = auroc_columns(y, p, None)
    return float(support_weighted_mean(auc, support)[0])


def tune_thresholds(y_true_val, y_prob_val, default: float = 0.5) -> np.ndarray:
    """Per-label threshold maximising F1 on validation data (method §8.1: F1 needs tuned thresholds).

    A label is predicted positive when ``y_prob >= threshold``. Every distinct score is tried as the
    lowest positive score; the returned threshold lies halfway between the best one and the next lower
    distinct score (the best score itself when it is the lowest). Ties in F1 go to the higher
    threshold. A label with no validation positive gets ``default``.

    Parameters
    ----------
    y_true_val : array, shape (N, C)
    y_prob_val : array, shape (N, C)
    default : float

    Returns
    -------
    ndarray, shape (C,), float64
    """
    y, p = check_scores(y_true_val, y_prob_val)
    thresholds = np.full(y.shape[1], float(default))
    for k in range(y.shape[1]):
        n_pos = y[:, k].sum()
        if n_pos == 0:
            continue
        order = np.argsort(-p[:, k], kind="stable")                            # descending scores
        scores, is_pos = p[order, k], y[order, k]                              # (N,)
        last = np.flatnonzero(np.r_[scores[1:] != scores[:-1], True])          # end of each tie group
        tp = np.cumsum(is_pos)[last]                                           # positives predicted
        f1 = 2.0 * tp / (last + 1 + n_pos)                                     # 2TP / (#predicted + #positives)
        i = last[int(np.argmax(f1))]
        cut = scores[i]
        if i + 1 < len(scores):
            mid = 0.5 * (cut + scores[i + 1])
            cut = mid if mid > scores[i + 1] else cut
        thresholds[k] = cut
    return thresholds


def f1_scores(y_true, y_prob, thresholds) -> tuple[np.ndarray, float, float]:
    """F1 per label, macro F1 and micro F1 at the given thresholds.

    A label with no positive and no predicted positive has an undefined F1 (NaN) and is left out
    of the macro mean (scikit-learn's ``zero_division=np.nan``).

    Parameters
    ----------
    y_true : array, shape (N, C)
    y_prob : array, shape (N, C)
    thresholds : float or array, shape (C,)
        Predict positive when ``y_prob >= threshold``.

    Returns
    -------
    per_label : ndarray, shape (C,)
    macro : float
    micro : float
    """
    y, p = check_scores(y_true, y_prob)
    thr = np.asarray(thresholds, dtype=np.float64)
    if thr.ndim > 1 or (thr.ndim == 1 and thr.shape[0] != y.shape[1]):
        raise ValueError(f"thresholds must be a scalar or have shape ({y.shape[1]},); got {thr.shape}")
    pred = p >= thr                                                            # (N, C)
    tp = (pred & y).sum(axis=0)                                                # (C,)
    fp = (pred & ~y).sum(axis=0)
    fn = (~pred & y).sum(axis=0)
    denom = 2 * tp + fp + fn
    per_label = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), np.nan)
    macro = float(np.nanmean(per_label)) if (~np.isnan(per_label)).any() else float("nan")
    total = denom.sum()
    micro = float(2 * tp.sum() / total) if total > 0 else float("nan")
    return per_label, macro, micro
