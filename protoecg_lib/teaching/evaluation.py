"""Views of an evaluation for the fusion-and-evaluation chapter (method §6, §8.1, §9.1 A4, §9.2 B3).

* :func:`batch_auroc_table` and :func:`batch_averaged_auroc`: the macro AUROC computed per batch
  of consecutive ECGs and averaged, the way the official code logs ``test_auc`` (§9.2 B3). It is
  here to be *compared* with the dataset-level metric of :mod:`protoecg_lib.evaluation.metrics`, never to be
  reported.
* :func:`protoecg_lib.evaluation.evaluate.models_frame` (one row per model) and
  :func:`protoecg_lib.plotting.evaluation.plot_model_aurocs` (the AUROCs as a forest plot) show
  the evaluation itself.
* :func:`fusion_weight_split`: how much of each fused label's weight reads its own class's
  prototypes (what the masked variant of §9.1 A4 initialises to +1) and how much reads the others.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from ..evaluation.metrics import auroc_per_label

__all__ = ["batch_auroc_table", "batch_averaged_auroc", "fusion_weight_split"]


def batch_auroc_table(y_true, y_score, batch_size: int = 32) -> pd.DataFrame:
    """Macro AUROC of every batch of ``batch_size`` consecutive ECGs (method §9.2 B3).

    Within a batch a label is scored only when the batch holds a positive and a negative of it; a
    batch in which no label can be scored has no AUROC (NaN).

    Parameters
    ----------
    y_true : array, shape (N, C)
        Multi-hot targets, in the order the (unshuffled) test loader would yield them.
    y_score : array, shape (N, C)
        Scores (logits or probabilities).
    batch_size : int
        32 in the official code.

    Returns
    -------
    DataFrame
        One row per batch: ``batch``, ``first`` (row of its first ECG), ``ecgs``,
        ``labels_scored`` (labels with both classes in the batch) and ``macro_auroc``.
    """
    y = np.asarray(y_true)
    s = np.asarray(y_score, dtype=np.float64)
    if y.ndim != 2 or y.shape != s.shape:
        raise ValueError(f"y_true {y.shape} and y_score {s.shape} must both be (N, C) with the same shape")
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    rows = []
    for k, start in enumerate(range(0, y.shape[0], int(batch_size))):
        table = auroc_per_label(y[start:start + batch_size], s[start:start + batch_size])   # (C,) rows
        scored = table["auroc"].dropna()
        rows.append({"batch": k, "first": start, "ecgs": min(int(batch_size), y.shape[0] - start),
                     "labels_scored": int(scored.size),
                     "macro_auroc": float(scored.mean()) if scored.size else math.nan})
    return pd.DataFrame(rows)


def batch_averaged_auroc(y_true, y_score, batch_size: int = 32) -> float:
    """The mean of the per-batch macro AUROCs over the batches that can be scored (method §9.2 B3).

    This is the kind of number the official code logs as ``test_auc``; it depends on the batch size
    and on the order of the ECGs, and it is *not* the dataset-level macro AUROC
    (:func:`protoecg_lib.evaluation.metrics.macro_auroc`). Batches without any scorable label are dropped.

    Parameters
    ----------
    y_true, y_score : array, shape (N, C)
    batch_size : int

    Returns
    -------
    float
        NaN when no batch can be scored.
    """
    values = batch_auroc_table(y_true, y_score, batch_size)["macro_auroc"].dropna()
    return float(values.mean()) if len(values) else math.nan


def fusion_weight_split(weight, identity, labels: Sequence[str]) -> pd.DataFrame:
    """Mean fusion weight on each label's own-class prototypes and on all the others (method §6, §9.1 A4).

    Parameters
    ----------
    weight : array or Tensor, shape (C, P)
        The fusion layer's weight (71 x 1037 in the paper).
    identity : array or Tensor, shape (P, C)
        Prototype-to-label identity (:attr:`ProtoECGNet.fusion_identity`).
    labels : sequence of str, length C

    Returns
    -------
    DataFrame indexed by label: ``own_prototypes`` (how many prototypes belong to the label),
    ``own_mean`` (mean weight on them, NaN when none), ``other_mean`` (mean weight on the rest) and
    ``own_minus_other``. Right after the masked initialisation these are +1, -0.5 and 1.5.
    """
    w = np.asarray(weight.detach().cpu() if hasattr(weight, "detach") else weight, dtype=np.float64)   # (C, P)
    a = np.asarray(identity.detach().cpu() if hasattr(identity, "detach") else identity, dtype=np.float64)  # (P, C)
    if w.ndim != 2 or a.shape != (w.shape[1], w.shape[0]):
        raise ValueError(f"weight must be (C, P) and identity (P, C); got {w.shape} and {a.shape}")
    if len(labels) != w.shape[0]:
        raise ValueError(f"got {len(labels)} labels for {w.shape[0]} rows of weight")
    own_mask = a.T > 0.5                                                        # (C, P)
    n_own = own_mask.sum(axis=1)                                                # (C,)
    n_other = w.shape[1] - n_own
    own = np.where(n_own > 0, np.where(own_mask, w, 0.0).sum(axis=1) / np.maximum(n_own, 1), np.nan)
    other = np.where(n_other > 0, np.where(own_mask, 0.0, w).sum(axis=1) / np.maximum(n_other, 1), np.nan)
    frame = pd.DataFrame({"own_prototypes": n_own.astype(int), "own_mean": own, "other_mean": other,
                          "own_minus_other": own - other}, index=pd.Index([str(c) for c in labels], name="label"))
    return frame
