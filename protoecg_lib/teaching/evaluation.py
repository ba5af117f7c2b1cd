"""Views of an evaluation for the fusion-and-evaluation chapter (spec §6, §8.1, §9.1 A4, §9.2 B3).

* :func:`batch_auroc_table` and :func:`batch_averaged_auroc`: the macro AUROC computed per batch
  of consecutive ECGs and averaged, the way the official code logs ``test_auc`` (§9.2 B3). It is
  here to be *compared* with the dataset-level metric of :mod:`protoecg_lib.evaluation.metrics`, never to be
  reported.
* :func:`models_frame`: one row per model of :func:`protoecg_lib.evaluation.evaluate.evaluate_run`'s result
  (macro and weighted AUROC with their intervals, labels evaluated, F1 tuned and at 0.5).
* :func:`plot_model_aurocs`: those AUROCs with their 95 % intervals as a forest plot, the fused
  model on each branch's labels beside the branch's own classifier.
* :func:`fusion_weight_split`: how much of each fused label's weight reads its own class's
  prototypes (what the masked variant of §9.1 A4 initialises to +1) and how much reads the others.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..evaluation.metrics import auroc_per_label
from ..plotting.style import house_style, new_figure

__all__ = ["batch_auroc_table", "batch_averaged_auroc", "models_frame", "plot_model_aurocs", "fusion_weight_split"]

_MODEL_NAMES = {"fusion": "ProtoECGNet (fusion)", "rhythm": "rhythm branch", "morphology": "morphology branch",
                "global": "global branch", "baseline": "black-box baseline"}


def batch_auroc_table(y_true, y_score, batch_size: int = 32) -> pd.DataFrame:
    """Macro AUROC of every batch of ``batch_size`` consecutive ECGs (spec §9.2 B3).

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
    """The mean of the per-batch macro AUROCs over the batches that can be scored (spec §9.2 B3).

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


def models_frame(result: dict) -> pd.DataFrame:
    """One row per model of an :func:`~protoecg_lib.evaluation.evaluate.evaluate_run` result.

    Parameters
    ----------
    result : dict
        What ``evaluate_run(run, split)`` returned.

    Returns
    -------
    DataFrame indexed by model (``fusion``, the branches, ``baseline``), columns ``labels``,
    ``labels_evaluated``, ``macro``, ``macro_lo``, ``macro_hi``, ``weighted``, ``weighted_lo``,
    ``weighted_hi``, ``f1_tuned`` (macro F1 at thresholds tuned on validation) and ``f1_at_0.5``.
    Missing values are NaN.
    """
    if "models" not in result:
        raise KeyError("not an evaluate_run result: it has no 'models' entry")

    def num(x):
        return math.nan if x is None else float(x)

    rows = {}
    for who, m in result["models"].items():
        rows[who] = {"labels": m["n_labels"], "labels_evaluated": m["labels_evaluated"],
                     **{f"{metric}{suffix}": num(m[f"{metric}_auroc"].get(key))
                        for metric in ("macro", "weighted") for suffix, key in (("", "point"), ("_lo", "lo"), ("_hi", "hi"))},
                     "f1_tuned": num(m.get("f1", {}).get("macro")), "f1_at_0.5": num(m.get("f1_at_0.5", {}).get("macro"))}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "model"
    return frame


def plot_model_aurocs(result: dict, *, title: str | None = None) -> Figure:
    """Macro and weighted AUROC of every model with its 95 % patient-bootstrap interval (spec §8.1).

    Parameters
    ----------
    result : dict
        What :func:`~protoecg_lib.evaluation.evaluate.evaluate_run` returned.
    title : str, optional

    Returns
    -------
    Figure
        Two Axes (macro, weighted), one row per model. Filled markers (gid ``"model-auroc"``) are each
        model on its own labels; on a branch's row a hollow marker (gid ``"fusion-on-branch"``) is the
        fused model scored on that branch's labels only.
    """
    frame = models_frame(result)
    per_branch = result.get("fusion_per_branch", {})
    names = list(frame.index)
    with house_style() as style:
        colors = {"fusion": style.palette[3], "baseline": style.palette[7]}
        fig = new_figure((9.0, 0.45 * len(names) + 1.4), style)
        axes = fig.subplots(1, 2, sharey=True)
        y = np.arange(len(names))
        for ax, metric in zip(axes, ("macro", "weighted")):
            for i, who in enumerate(names):
                row = frame.loc[who]
                color = colors.get(who, style.branch_color(who))
                if math.isfinite(row[metric]):
                    err = None
                    if math.isfinite(row[f"{metric}_lo"]):
                        err = [[max(row[metric] - row[f"{metric}_lo"], 0)], [max(row[f"{metric}_hi"] - row[metric], 0)]]
                    ax.errorbar([row[metric]], [i], xerr=err, fmt="o", color=color, ms=6, capsize=3, gid="model-auroc")
                fused = per_branch.get(who, {}).get(f"{metric}_auroc", {})
                if fused.get("point") is not None:
                    err = None
                    if fused.get("lo") is not None:
                        err = [[max(fused["point"] - fused["lo"], 0)], [max(fused["hi"] - fused["point"], 0)]]
                    ax.errorbar([fused["point"]], [i + 0.25], xerr=err, fmt="o", mfc="white", color=colors["fusion"],
                                ms=5, capsize=2, lw=0.8, gid="fusion-on-branch")
            ax.axvline(0.5, color="0.6", lw=0.8, ls=":")
            ax.set_title(f"{metric} AUROC (95% CI)", loc="left")
            ax.set_xlabel("AUROC")
        axes[0].set_yticks(y, [f"{_MODEL_NAMES.get(w, w)}\n{int(frame.loc[w, 'labels_evaluated'])}/"
                               f"{int(frame.loc[w, 'labels'])} labels" for w in names])
        axes[0].set_ylim(len(names) - 0.5, -0.6)
        if per_branch:
            handle = Line2D([], [], marker="o", mfc="white", color=colors["fusion"], ls="none",
                            label="ProtoECGNet (fusion) on the branch's labels only")
            fig.legend(handles=[handle], loc="upper right", fontsize=8)
        if title:
            fig.suptitle(title, x=0.01, ha="left")
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_size_inches()[1]))
    return fig


def fusion_weight_split(weight, identity, labels: Sequence[str]) -> pd.DataFrame:
    """Mean fusion weight on each label's own-class prototypes and on all the others (spec §6, §9.1 A4).

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
