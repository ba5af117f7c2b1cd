"""Looking at the contrastive prototype loss (method §3.6, §8.4): chapter 7's helpers.

* :func:`first_release_contrastive_loss` -- the term as the first public release effectively
  computed it (method §3.6 "History", §9.2 B16), to compare with the corrected
  :func:`protoecg_lib.training.losses.contrastive_loss`;
* :func:`top_cooccurring_pairs` -- the label pairs that occur together most (Jaccard, method §1.7);
* :func:`paired_auroc_difference` -- two models scored on the same patient resamples (the
  contrastive ablation compares two runs on one test fold);
* :func:`ablation_table` -- macro AUROC with intervals of several runs side by side.

The figure of prototype cosine against the Jaccard index of their classes is
:func:`protoecg_lib.plotting.latent.plot_cosine_vs_jaccard`.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from torch import Tensor

from ..cooccurrence import jaccard, positive_counts
from ..training.losses import contrastive_masks, prototype_cosines

__all__ = ["first_release_contrastive_loss", "top_cooccurring_pairs", "paired_auroc_difference", "ablation_table"]

_CLAMP = 1e-6


def first_release_contrastive_loss(prototypes: Tensor, class_identity: Tensor, cooccurrence: Tensor) -> Tensor:
    """The contrastive term with the sign error of the first public release (method §3.6, §9.2 B16).

    The bug was described as a term that "effectively pushed *all* prototype similarities down
    and divided by 2 instead of √P". This function is that description written as a formula (not
    the original code): with the cosines ``S`` and the normalised masks of
    :func:`protoecg_lib.training.losses.contrastive_masks`,

        ``L_first = (⟨S, M̃⁺⟩ + ⟨S, M̃⁻⟩) / 2``,

    so the co-occurrence-weighted mean cosine is *lowered* like the unrelated one, where the
    corrected ``L_cnrst = -(⟨S, M̃⁺⟩ - ⟨S, M̃⁻⟩) / √P`` raises it.

    Parameters
    ----------
    prototypes : Tensor, shape (P, D) or (P, D, 1, T)
    class_identity : Tensor, shape (P, C)
    cooccurrence : Tensor, shape (C, C)
        Jaccard matrix of the training targets.

    Returns
    -------
    Tensor, scalar (differentiable in ``prototypes``)
    """
    cosines = prototype_cosines(prototypes)                                    # (P, P)
    if class_identity.shape[0] != cosines.shape[0]:
        raise ValueError(f"class_identity has {class_identity.shape[0]} rows but there are "
                         f"{cosines.shape[0]} prototypes; expected (P, C)")
    pos, neg = contrastive_masks(class_identity.to(cosines), cooccurrence.to(cosines))   # (P, P) each
    s = cosines.clamp(-1.0 + _CLAMP, 1.0 - _CLAMP)                             # (P, P)
    return ((s * pos).sum() + (s * neg).sum()) / 2.0


def top_cooccurring_pairs(targets, labels: Sequence[str], k: int = 10) -> pd.DataFrame:
    """The ``k`` pairs of distinct labels with the highest Jaccard index (method §1.7).

    Parameters
    ----------
    targets : array, shape (N, C)
        Multi-hot targets (the training split, as for the loss).
    labels : sequence of str, length C
    k : int
        Rows kept (>= 1); pairs that never co-occur are never listed.

    Returns
    -------
    DataFrame
        Columns ``class_a``, ``class_b``, ``n_a``, ``n_b`` (positives of each), ``n_both`` (records
        with both) and ``jaccard`` = ``n_both / (n_a + n_b - n_both)``, highest first (ties: label
        order).
    """
    y = (np.asarray(targets, dtype=np.float64) > 0.5).astype(np.float64)     # (N, C)
    if y.ndim != 2 or y.shape[1] != len(labels):
        raise ValueError(f"targets must have shape (N, {len(labels)}) for {len(labels)} labels; got {y.shape}")
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer; got {k!r}")
    j = jaccard(y)                                                            # (C, C)
    n = positive_counts(y)                                                    # (C,)
    both = y.T @ y                                                            # (C, C) intersections
    rows = [{"class_a": labels[a], "class_b": labels[b], "n_a": int(n[a]), "n_b": int(n[b]),
             "n_both": int(both[a, b]), "jaccard": float(j[a, b])}
            for a in range(len(labels)) for b in range(a + 1, len(labels)) if both[a, b] > 0]
    df = pd.DataFrame(rows, columns=["class_a", "class_b", "n_a", "n_b", "n_both", "jaccard"])
    return df.sort_values("jaccard", ascending=False, kind="stable").head(int(k)).reset_index(drop=True)


def paired_auroc_difference(a, b, *, labels: Sequence[str] | None = None, metric: str = "macro",
                            n_boot: int = 200, seed: int = 0, alpha: float = 0.05) -> dict:
    """``b - a`` in macro (or weighted) AUROC with a paired patient-bootstrap interval (method §8.1).

    Both models must have scored the same ECGs in the same order (two runs on one test fold); the
    same seed gives both the same patient resamples, so the interval is the one of the difference.

    Parameters
    ----------
    a, b : Predictions
        From :meth:`protoecg_lib.runs.run.Run.predictions`; ranked by their ``scores`` (logits).
    labels : sequence of str, optional
        Restrict both to these label columns (e.g. one branch's labels of the fused model).
    metric : {"macro", "weighted"}
    n_boot, seed, alpha
        Bootstrap settings (``1 - alpha`` interval).

    Returns
    -------
    dict
        ``a``, ``b`` (point estimates), ``difference`` (b - a), ``lo``, ``hi`` (None when an interval
        cannot be formed: some resample left no label with both classes in one of the models) and
        ``fraction_b_better`` (share of resamples where b wins).
    """
    from ..evaluation.evaluate import paired_difference

    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be >= 1; got {n_boot!r}")
    return paired_difference(a, b, metric, int(n_boot), seed, alpha, labels=labels)


_ROWS = (("fusion", "fusion, 71 labels"), ("fusion:rhythm", "fusion, rhythm labels"),
         ("fusion:morphology", "fusion, morphology labels"), ("fusion:global", "fusion, global labels"),
         ("rhythm", "rhythm branch (own classifier)"), ("morphology", "morphology branch (own classifier)"),
         ("global", "global branch (own classifier)"))


def ablation_table(evaluations: Mapping[str, dict], metric: str = "macro_auroc") -> pd.DataFrame:
    """Macro AUROC (point and interval) of several evaluated runs side by side.

    Parameters
    ----------
    evaluations : mapping of str to dict
        Run name -> :func:`protoecg_lib.evaluation.evaluate.evaluate_run` result.
    metric : {"macro_auroc", "weighted_auroc"}

    Returns
    -------
    DataFrame
        One row per model (the fused model on all labels and on each branch's labels, each branch's
        own classifier), columns ``(run name, "point" | "lo" | "hi")`` and ``("labels", "evaluated")``
        (labels with both classes, from the first run). NaN where a run lacks the model.
    """
    if metric not in ("macro_auroc", "weighted_auroc"):
        raise ValueError(f"metric must be 'macro_auroc' or 'weighted_auroc'; got {metric!r}")
    if not evaluations:
        raise ValueError("pass at least one evaluation (name -> evaluate_run result)")

    def entry(result: dict, key: str) -> dict | None:
        if key.startswith("fusion:"):
            return result.get("fusion_per_branch", {}).get(key.split(":", 1)[1])
        return result.get("models", {}).get(key)

    data, evaluated = {}, []
    first = next(iter(evaluations.values()))
    for key, _ in _ROWS:
        e = entry(first, key)
        evaluated.append(np.nan if e is None else e["labels_evaluated"])
    for name, result in evaluations.items():
        for part in ("point", "lo", "hi"):
            col = []
            for key, _ in _ROWS:
                e = entry(result, key)
                v = None if e is None else e[metric].get(part)
                col.append(np.nan if v is None else float(v))
            data[(name, part)] = col
    data[("labels", "evaluated")] = evaluated
    df = pd.DataFrame(data, index=[row for _, row in _ROWS])
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    return df


