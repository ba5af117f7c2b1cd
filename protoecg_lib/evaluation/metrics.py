"""Dataset-level evaluation: AUROC per label, macro/weighted AUROC, patient bootstrap CIs, F1 (spec §8.1).

Every metric here is computed once over a whole split from per-ECG probabilities (never averaged
over batches, spec §9.2 B3), e.g. from a run's ``predictions/<split>.csv`` read with
:func:`read_predictions`.

* AUROC is the Mann-Whitney statistic: the probability that a random positive outscores a random
  negative, ties counting one half (identical to scikit-learn's ``roc_auc_score``). A label without a
  positive or without a negative has no AUROC; it is reported as skipped and left out of the means.
* Confidence intervals are percentile intervals of a non-parametric bootstrap that resamples
  **patients** (all ECGs of a drawn patient come along), computed for all resamples at once.
* F1 needs thresholds: :func:`tune_thresholds` picks, per label, the one maximising F1 on validation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "auroc_per_label", "macro_auroc", "weighted_auroc", "BootstrapCI", "bootstrap_ci",
    "bootstrap_counts", "tune_thresholds", "f1_scores", "evaluation_table", "Predictions",
    "read_predictions", "sigmoid", "SKIP_NO_POSITIVE", "SKIP_NO_NEGATIVE",
]

#: Reasons a label is left out of the AUROC.
SKIP_NO_POSITIVE = "no positive"
SKIP_NO_NEGATIVE = "no negative"

_METRICS = ("macro", "weighted")
_CHUNK = 250  # bootstrap resamples processed together (bounds memory to a few (chunk, N) arrays)


# --------------------------------------------------------------------------- input checks
def sigmoid(logits) -> np.ndarray:
    """Probabilities from logits, float64 (numerically stable: no overflow for logits of any size)."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(logits, dtype=np.float64)))


def _check_pair(y_true, y_prob) -> tuple[np.ndarray, np.ndarray]:
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


def _check_labels(labels, num_labels: int) -> list[str]:
    if labels is None:
        return [str(i) for i in range(num_labels)]
    labels = [str(x) for x in labels]
    if len(labels) != num_labels:
        raise ValueError(f"got {len(labels)} label names for {num_labels} label columns")
    if len(set(labels)) != len(labels):
        raise ValueError("label names must be unique")
    return labels


def _group_index(groups, num_ecgs: int) -> np.ndarray:
    """Map patient ids to 0..G-1 per ECG (each ECG its own group when ``groups`` is None)."""
    if groups is None:
        return np.arange(num_ecgs)
    groups = np.asarray(groups)
    if groups.shape != (num_ecgs,):
        raise ValueError(f"groups (patient ids) must have shape ({num_ecgs},), one per ECG; got {groups.shape}")
    if pd.isna(groups).any():
        raise ValueError("groups (patient ids) contain missing values; every ECG needs a patient id")
    return np.unique(groups, return_inverse=True)[1].reshape(-1)


def _nan_to_none(x):
    x = float(x)
    return None if math.isnan(x) else x


# --------------------------------------------------------------------------- AUROC core
def _weighted_auroc(y: np.ndarray, p: np.ndarray, weights: np.ndarray | None):
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


def _macro(auc: np.ndarray) -> np.ndarray:
    """Mean over the defined labels of each row; NaN for a row with none. auc: (R, C) -> (R,)."""
    ok = ~np.isnan(auc)
    count = ok.sum(axis=1)
    total = np.where(ok, auc, 0.0).sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _weighted(auc: np.ndarray, support: np.ndarray) -> np.ndarray:
    """Positive-support weighted mean over the defined labels of each row. (R, C), (R, C) -> (R,)."""
    ok = ~np.isnan(auc)
    wsum = np.where(ok, support, 0.0).sum(axis=1)
    total = np.where(ok, auc * support, 0.0).sum(axis=1)
    return np.where(wsum > 0, total / np.where(wsum > 0, wsum, 1.0), np.nan)


def auroc_per_label(y_true, y_prob, labels=None) -> pd.DataFrame:
    """AUROC of every label over the whole split (spec §8.1).

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
    y, p = _check_pair(y_true, y_prob)
    labels = _check_labels(labels, y.shape[1])
    auc, _ = _weighted_auroc(y, p, None)
    support = y.sum(axis=0)
    negatives = y.shape[0] - support
    skipped = [SKIP_NO_POSITIVE if s == 0 else SKIP_NO_NEGATIVE if n == 0 else None
               for s, n in zip(support, negatives)]
    table = pd.DataFrame({"support": support.astype(int), "negatives": negatives.astype(int),
                          "auroc": auc[0], "skipped": skipped}, index=pd.Index(labels, name="label"))
    return table


def macro_auroc(y_true, y_prob) -> float:
    """Unweighted mean AUROC over the labels with both classes (spec §8.1); NaN if there is none."""
    y, p = _check_pair(y_true, y_prob)
    return float(_macro(_weighted_auroc(y, p, None)[0])[0])


def weighted_auroc(y_true, y_prob) -> float:
    """Mean AUROC over the labels with both classes, weighted by positive support (spec §8.1).

    Equal to scikit-learn's ``roc_auc_score(..., average="weighted")`` when every label has both
    classes. NaN if no label has both.
    """
    y, p = _check_pair(y_true, y_prob)
    auc, support = _weighted_auroc(y, p, None)
    return float(_weighted(auc, support)[0])


# --------------------------------------------------------------------------- bootstrap
def bootstrap_counts(groups, n_boot: int = 1000, seed: int = 0, num_ecgs: int | None = None) -> np.ndarray:
    """How many times each ECG enters each bootstrap resample, drawing whole patients.

    Each resample draws ``G`` patients (the number of distinct ids) with replacement and takes all
    ECGs of every drawn patient, so all ECGs of a patient share the same count. With the same
    ``groups``, ``n_boot`` and ``seed`` these are exactly the resamples :func:`bootstrap_ci` and
    :func:`evaluation_table` use.

    Parameters
    ----------
    groups : array, shape (N,), or None
        Patient id per ECG; None treats every ECG as its own patient (then pass ``num_ecgs``).
    n_boot : int
    seed : int
    num_ecgs : int, optional
        Needed only when ``groups`` is None.

    Returns
    -------
    ndarray, shape (n_boot, N), int64
    """
    if groups is None and num_ecgs is None:
        raise ValueError("bootstrap_counts needs groups (patient ids) or num_ecgs")
    n = len(groups) if groups is not None else int(num_ecgs)
    index = _group_index(groups, n)                                            # (N,) in 0..G-1
    draws = _draw_patients(index, n_boot, seed)                                # (R, G)
    return _patient_counts(draws)[:, index]                                    # (R, N)


def _draw_patients(index: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(R, G) patient ids drawn with replacement, G per resample (int32 keeps 1000 x 20k at 80 MB)."""
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1; got {n_boot}")
    num_groups = int(index.max()) + 1
    return np.random.default_rng(seed).integers(0, num_groups, size=(n_boot, num_groups), dtype=np.int32)


def _patient_counts(draws: np.ndarray) -> np.ndarray:
    """(R, G) multiplicity of every patient in each row of draws (R, G)."""
    n_boot, num_groups = draws.shape
    flat = (draws + num_groups * np.arange(n_boot)[:, None]).ravel()           # offset per resample
    return np.bincount(flat, minlength=n_boot * num_groups).reshape(n_boot, num_groups)


def _bootstrap_label_aurocs(y, p, groups, n_boot: int, seed: int):
    """Per-resample, per-label AUROC and positive support: two (n_boot, C) arrays."""
    index = _group_index(groups, y.shape[0])                                   # (N,)
    draws = _draw_patients(index, n_boot, seed)                                # (R, G)
    aucs, supports = [], []
    for start in range(0, n_boot, _CHUNK):
        counts = _patient_counts(draws[start:start + _CHUNK]).T[index]         # (N, r)
        auc, support = _weighted_auroc(y, p, counts)                           # (r, C) each
        aucs.append(auc)
        supports.append(support)
    return np.concatenate(aucs), np.concatenate(supports)


@dataclass(frozen=True)
class BootstrapCI:
    """A point estimate with its percentile bootstrap interval.

    Attributes
    ----------
    metric : str
        ``"macro"`` or ``"weighted"`` AUROC.
    point : float
        The metric on the full data.
    lo, hi : float
        Percentile bounds of the ``1 - alpha`` interval (NaN if no resample gave a value).
    alpha : float
    n_boot : int
        Resamples drawn.
    n_valid : int
        Resamples in which at least one label kept both classes (the others are dropped).
    samples : ndarray, shape (n_valid,)
        The bootstrap values (left out of :meth:`to_dict`).
    """

    metric: str
    point: float
    lo: float
    hi: float
    alpha: float
    n_boot: int
    n_valid: int
    samples: np.ndarray = field(repr=False, compare=False)

    def to_dict(self) -> dict:
        """JSON-able summary (NaN written as None)."""
        return {"point": _nan_to_none(self.point), "lo": _nan_to_none(self.lo), "hi": _nan_to_none(self.hi),
                "alpha": self.alpha, "n_boot": self.n_boot, "n_valid": self.n_valid}


def _make_ci(metric: str, point: float, values: np.ndarray, alpha: float, n_boot: int) -> BootstrapCI:
    values = values[~np.isnan(values)]
    if values.size:
        lo, hi = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    else:
        lo = hi = float("nan")
    return BootstrapCI(metric, float(point), float(lo), float(hi), alpha, n_boot, int(values.size), values)


def _check_ci_args(metric: str, alpha: float) -> None:
    if metric not in _METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {_METRICS}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha}")


def bootstrap_ci(y_true, y_prob, groups=None, metric: str = "macro", n_boot: int = 1000,
                 seed: int = 0, alpha: float = 0.05) -> BootstrapCI:
    """Percentile bootstrap CI of the macro or weighted AUROC, resampling patients (spec §8.1).

    Each resample draws patients with replacement (as many as there are distinct patients) and takes
    all their ECGs; a label that loses its positives or its negatives in a resample is skipped in that
    resample only. All resamples are evaluated together (a weighted rank statistic over resample
    multiplicities), so 1000 resamples of ~2,200 ECGs x 71 labels take seconds.

    Parameters
    ----------
    y_true : array, shape (N, C)
    y_prob : array, shape (N, C)
    groups : array, shape (N,), optional
        Patient id of every ECG; None resamples ECGs independently.
    metric : {"macro", "weighted"}
    n_boot : int
    seed : int
    alpha : float
        ``0.05`` gives the 95 % interval.

    Returns
    -------
    BootstrapCI
    """
    _check_ci_args(metric, alpha)
    y, p = _check_pair(y_true, y_prob)
    point_auc, point_support = _weighted_auroc(y, p, None)
    auc, support = _bootstrap_label_aurocs(y, p, groups, n_boot, seed)
    if metric == "macro":
        return _make_ci(metric, _macro(point_auc)[0], _macro(auc), alpha, n_boot)
    return _make_ci(metric, _weighted(point_auc, point_support)[0], _weighted(auc, support), alpha, n_boot)


def _label_intervals(auc: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-label percentile bounds over the resamples where the label has both classes. (R, C) -> (C,), (C,)."""
    lo, hi = np.full(auc.shape[1], np.nan), np.full(auc.shape[1], np.nan)
    for k in range(auc.shape[1]):
        values = auc[:, k][~np.isnan(auc[:, k])]
        if values.size:
            lo[k], hi[k] = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return lo, hi


# --------------------------------------------------------------------------- thresholds and F1
def tune_thresholds(y_true_val, y_prob_val, default: float = 0.5) -> np.ndarray:
    """Per-label threshold maximising F1 on validation data (spec §8.1: F1 needs tuned thresholds).

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
    y, p = _check_pair(y_true_val, y_prob_val)
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
    y, p = _check_pair(y_true, y_prob)
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


# --------------------------------------------------------------------------- the report
def evaluation_table(y_true, y_prob, labels=None, groups=None, thresholds=None, n_boot: int = 1000,
                     seed: int = 0, alpha: float = 0.05) -> dict:
    """Everything ``protoecg evaluate`` reports, as a JSON-able dict (spec §8.1, §11 item 9).

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
    y, p = _check_pair(y_true, y_prob)
    labels = _check_labels(labels, y.shape[1])
    _check_ci_args("macro", alpha)
    index = _group_index(groups, y.shape[0])
    table = auroc_per_label(y, p, labels)
    point_auc, point_support = _weighted_auroc(y, p, None)
    point_macro, point_weighted = _macro(point_auc)[0], _weighted(point_auc, point_support)[0]
    if n_boot > 0:
        auc, support = _bootstrap_label_aurocs(y, p, groups, n_boot, seed)
        macro = _make_ci("macro", point_macro, _macro(auc), alpha, n_boot).to_dict()
        weighted = _make_ci("weighted", point_weighted, _weighted(auc, support), alpha, n_boot).to_dict()
        label_lo, label_hi = _label_intervals(auc, alpha)                      # (C,) each
    else:
        macro = {"point": _nan_to_none(point_macro), "lo": None, "hi": None, "alpha": alpha, "n_boot": 0, "n_valid": 0}
        weighted = {**macro, "point": _nan_to_none(point_weighted)}
        label_lo = label_hi = np.full(y.shape[1], np.nan)
    skipped = table["skipped"].dropna()
    per_label = [{"label": code, "support": int(row.support), "negatives": int(row.negatives),
                  "auroc": _nan_to_none(row.auroc), "lo": _nan_to_none(lo), "hi": _nan_to_none(hi),
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
            entry["threshold"], entry["f1"] = float(t), _nan_to_none(f)
        result["f1"] = {"macro": _nan_to_none(f1_macro), "micro": _nan_to_none(f1_micro)}
    return result


# --------------------------------------------------------------------------- predictions file
@dataclass(frozen=True)
class Predictions:
    """Per-ECG predictions of one split, as saved in ``RUN/predictions/<split>.csv``."""

    ecg_id: np.ndarray       # (N,)
    patient_id: np.ndarray   # (N,)
    labels: tuple[str, ...]  # (C,)
    y_true: np.ndarray       # (N, C) float32
    y_prob: np.ndarray       # (N, C) float64
    y_logit: np.ndarray | None = None   # (N, C) float64 when the file has logit_<code> columns

    @property
    def scores(self) -> np.ndarray:
        """What rank-based metrics should use: logits when present (no saturation ties), else probabilities."""
        return self.y_logit if self.y_logit is not None else self.y_prob


def read_predictions(path: str | Path) -> Predictions:
    """Read a predictions CSV: ``ecg_id, patient_id``, then ``true_<code>`` and ``prob_<code>`` per label
    (and ``logit_<code>`` when the writer stored them).

    Raises a ValueError naming the file when a column is missing or unpaired.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"predictions file {path} not found; run `protoecg train` (or evaluate) first")
    frame = pd.read_csv(path)
    missing = [c for c in ("ecg_id", "patient_id") if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected ecg_id, patient_id, true_<code>, prob_<code>")
    labels = tuple(c[len("true_"):] for c in frame.columns if c.startswith("true_"))
    unpaired = [c for c in labels if f"prob_{c}" not in frame.columns]
    unpaired += [c[len("prob_"):] for c in frame.columns
                 if c.startswith("prob_") and c[len("prob_"):] not in labels]
    if not labels or unpaired:
        raise ValueError(f"{path}: every label needs a true_<code> and a prob_<code> column "
                         f"(unpaired: {unpaired or 'no true_ columns'})")
    y_true = frame[[f"true_{c}" for c in labels]].to_numpy(np.float32)
    y_prob = frame[[f"prob_{c}" for c in labels]].to_numpy(np.float64)
    logit_cols = [f"logit_{c}" for c in labels]
    y_logit = frame[logit_cols].to_numpy(np.float64) if all(c in frame.columns for c in logit_cols) else None
    return Predictions(frame["ecg_id"].to_numpy(), frame["patient_id"].to_numpy(), labels, y_true, y_prob, y_logit)
