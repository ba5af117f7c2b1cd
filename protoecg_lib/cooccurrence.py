"""Label statistics from the training targets: Jaccard co-occurrence and BCE class weights.

Both are computed from the **training split only** (method §1.5, §1.7), separately for every label
set, and handed to the model and the losses as plain float32 arrays:

* :func:`jaccard` -- the ``(C, C)`` Jaccard matrix that weights the contrastive loss (method §1.7, §3.6);
* :func:`class_weights` -- the ``(C,)`` positive weights of the weighted BCE (method §1.5, §3.1);
* :func:`positive_counts` -- the ``(C,)`` training positives behind both.

Labels without a single training positive (common on the mini PTB-XL excerpt and on synthetic roots,
method §9.2b) get a zero Jaccard row/column (diagonal included) and a zero class weight; nothing here
ever returns ``inf`` or ``NaN``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["positive_counts", "jaccard", "class_weights", "CLASS_WEIGHT_FORMULAS"]

#: Accepted values of ``formula`` in :func:`class_weights`.
CLASS_WEIGHT_FORMULAS = ("official", "standard", "sqrt", "none")

_UNION_FLOOR = 1e-6  # method §1.7: U_ij = max(n_i + n_j - I_ij, 1e-6)


def _as_targets(targets, name: str = "targets") -> np.ndarray:
    """Check a multi-hot matrix and return it as float64 ``(N, C)``."""
    y = np.asarray(targets)
    if y.ndim != 2:
        raise ValueError(f"{name} must be a 2-D multi-hot matrix (N, C); got shape {y.shape}")
    if y.shape[1] == 0:
        raise ValueError(f"{name} has no label columns (shape {y.shape}); pass at least one label")
    y = y.astype(np.float64, copy=False)
    if not np.isfinite(y).all():
        raise ValueError(f"{name} contains NaN or inf; targets must be 0/1")
    if not np.isin(y, (0.0, 1.0)).all():
        bad = np.unique(y[~np.isin(y, (0.0, 1.0))])[:5]
        raise ValueError(f"{name} must be multi-hot 0/1; found values such as {bad.tolist()}")
    return y


def positive_counts(targets) -> np.ndarray:
    """Number of positive records per label.

    Parameters
    ----------
    targets : array, shape (N, C)
        Multi-hot training targets (0/1).

    Returns
    -------
    ndarray, shape (C,), int64
        ``n_c``, the training positives of every label.
    """
    return _as_targets(targets).sum(axis=0).round().astype(np.int64)  # (C,)


def jaccard(targets) -> np.ndarray:
    """Jaccard label co-occurrence matrix of the training targets (method §1.7).

    With ``Y`` the ``(N, C)`` multi-hot matrix: ``I = YᵀY`` (pairwise intersections),
    ``U_ij = max(n_i + n_j - I_ij, 1e-6)`` (unions, floored) and ``J_ij = I_ij / U_ij``.

    Parameters
    ----------
    targets : array, shape (N, C)
        Multi-hot targets of the **training** split (0/1).

    Returns
    -------
    ndarray, shape (C, C), float32
        Symmetric, values in [0, 1], ``J_cc = 1`` for every label with at least one positive.
        A label with **no positive** has an all-zero row and column, diagonal included
        (``0 / 1e-6 = 0``): it co-occurs with nothing, not even itself, so in the contrastive loss
        its prototypes fall entirely in the negative mask (see :func:`protoecg_lib.training.losses.contrastive_loss`).
    """
    y = _as_targets(targets)                                  # (N, C)
    inter = y.T @ y                                           # (C, C) I_ij
    counts = np.diag(inter)                                   # (C,) n_c
    union = np.maximum(counts[:, None] + counts[None, :] - inter, _UNION_FLOOR)  # (C, C)
    return (inter / union).astype(np.float32)                 # (C, C)


def class_weights(targets, formula: str = "official") -> np.ndarray:
    """Positive weights ``w_c`` for the weighted BCE, from the training targets (method §1.5).

    * ``"official"`` (the reference code, reproduce for fidelity): ``w_c = (S - n_c) / n_c`` with
      ``S = Σ_k n_k`` the **total number of positive labels** (not of records). A dominant label
      (NORM, SR) can get ``w_c < 1``.
    * ``"standard"``: ``w_c = (N - n_c) / n_c`` with ``N`` the number of records.
    * ``"sqrt"``: ``sqrt((N - n_c) / n_c)`` (a milder rebalancing).
    * ``"none"``: ``w_c = 1`` for every label with a training positive (plain BCE).

    Parameters
    ----------
    targets : array, shape (N, C)
        Multi-hot targets of the **training** split (0/1).
    formula : {"official", "standard", "sqrt", "none"}
        Which formula to use.

    Returns
    -------
    ndarray, shape (C,), float32
        Finite, non-negative weights. A label with **no training positive** (``n_c = 0``) gets
        ``w_c = 0`` instead of the official code's ``inf`` (which turns its loss into NaN, method §9.2b).
        In the BCE ``w_c`` only multiplies the positive term ``y log σ(z)``, which is zero for every
        training record of such a label, so the choice changes nothing in training; the label still
        contributes its negative term (pushing its logit down). On data where the label does have
        positives (validation, test), those positives are then not rewarded -- there is no training
        evidence to weight them with.
    """
    if formula not in CLASS_WEIGHT_FORMULAS:
        raise ValueError(f"unknown class-weight formula {formula!r}; choose one of {CLASS_WEIGHT_FORMULAS}")
    y = _as_targets(targets)                                  # (N, C)
    counts = y.sum(axis=0)                                    # (C,) n_c
    total = counts.sum() if formula == "official" else float(y.shape[0])  # S or N
    weights = np.zeros_like(counts)                           # (C,) 0 where n_c = 0
    seen = counts > 0
    weights[seen] = (total - counts[seen]) / counts[seen]
    if formula == "sqrt":
        weights = np.sqrt(np.maximum(weights, 0.0))
    elif formula == "none":
        weights = seen.astype(np.float64)
    return weights.astype(np.float32)
