"""Patient-clustered bootstrap intervals for AUROCs (method §8.1).

Percentile intervals of a non-parametric bootstrap that resamples **patients**: all ECGs of a drawn
patient come along, because a patient's ECGs are not independent. Written here rather than taken
from a library because the clustering must be by patient and all resamples are computed at once
from per-patient counts (a ``(n_boot, patients)`` matrix), in chunks of 250 to bound memory.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .auroc import (METRICS, auroc_columns, check_scores, group_index, macro_mean, nan_to_none,
                    support_weighted_mean)

__all__ = ["BootstrapCI", "bootstrap_ci", "bootstrap_counts", "bootstrap_label_aurocs", "make_ci", "check_ci_args", "label_intervals"]


_CHUNK = 250  # bootstrap resamples processed together (bounds memory to a few (chunk, N) arrays)


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
    index = group_index(groups, n)                                            # (N,) in 0..G-1
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


def bootstrap_label_aurocs(y, p, groups, n_boot: int, seed: int):
    """Per-resample, per-label AUROC and positive support: two (n_boot, C) arrays."""
    index = group_index(groups, y.shape[0])                                   # (N,)
    draws = _draw_patients(index, n_boot, seed)                                # (R, G)
    aucs, supports = [], []
    for start in range(0, n_boot, _CHUNK):
        counts = _patient_counts(draws[start:start + _CHUNK]).T[index]         # (N, r)
        auc, support = auroc_columns(y, p, counts)                           # (r, C) each
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
        return {"point": nan_to_none(self.point), "lo": nan_to_none(self.lo), "hi": nan_to_none(self.hi),
                "alpha": self.alpha, "n_boot": self.n_boot, "n_valid": self.n_valid}


def make_ci(metric: str, point: float, values: np.ndarray, alpha: float, n_boot: int) -> BootstrapCI:
    values = values[~np.isnan(values)]
    if values.size:
        lo, hi = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    else:
        lo = hi = float("nan")
    return BootstrapCI(metric, float(point), float(lo), float(hi), alpha, n_boot, int(values.size), values)


def check_ci_args(metric: str, alpha: float) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {METRICS}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha}")


def bootstrap_ci(y_true, y_prob, groups=None, metric: str = "macro", n_boot: int = 1000,
                 seed: int = 0, alpha: float = 0.05) -> BootstrapCI:
    """Percentile bootstrap CI of the macro or weighted AUROC, resampling patients (method §8.1).

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
    check_ci_args(metric, alpha)
    y, p = check_scores(y_true, y_prob)
    point_auc, point_support = auroc_columns(y, p, None)
    auc, support = bootstrap_label_aurocs(y, p, groups, n_boot, seed)
    if metric == "macro":
        return make_ci(metric, macro_mean(point_auc)[0], macro_mean(auc), alpha, n_boot)
    return make_ci(metric, support_weighted_mean(point_auc, point_support)[0], support_weighted_mean(auc, support), alpha, n_boot)


def label_intervals(auc: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-label percentile bounds over the resamples where the label has both classes. (R, C) -> (C,), (C,)."""
    lo, hi = np.full(auc.shape[1], np.nan), np.full(auc.shape[1], np.nan)
    for k in range(auc.shape[1]):
        values = auc[:, k][~np.isnan(auc[:, k])]
        if values.size:
            lo[k], hi[k] = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return lo, hi
