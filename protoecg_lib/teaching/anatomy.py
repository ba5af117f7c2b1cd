"""Small analysis helpers for looking inside a branch (the book's branch chapters, method §2).

* :func:`layer_shapes` -- output shape of every layer on a real batch (forward hooks), e.g. the
  1000 -> 500 -> 250 -> 250 -> 125 -> 63 -> 32 time axis of method §2.1.
* :func:`parameter_counts` -- trainable parameters of a branch by component (method §2.5).
* :func:`pooled_similarities` -- window similarities ``(N, P, W)`` pooled by mean, max and top-k
  over a whole array of ECGs, batch by batch (method §2.2, §9.1 A1).
* :func:`class_scores` and :func:`pooled_auroc` -- how well each pooling separates a label's
  positives from its negatives, using only that label's own prototypes (no trained last layer).

The figures that go with them (the last layer as an image, one prototype's similarity to every
window of an ECG) are in :mod:`protoecg_lib.plotting.branches`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from ..evaluation.metrics import auroc_per_label
from ..models.prototypes import pool_windows
from ..models.rows import set_fast_paths
from ..arrays import as_numeric

__all__ = ["layer_shapes", "parameter_counts", "pooled_similarities", "class_scores", "pooled_auroc", "POOLS"]

#: Window poolings compared by :func:`pooled_similarities` (method §9.1 A1).
POOLS = ("mean", "max", "topk")


# --------------------------------------------------------------------------- shapes and sizes

def layer_shapes(module: nn.Module, x: Tensor, names: Sequence[str] | None = None) -> pd.DataFrame:
    """Run ``module(x)`` once and record the output shape of each named sub-module, in call order.

    Parameters
    ----------
    module : nn.Module
        E.g. a :class:`~protoecg_lib.models.ResNet18_1D` backbone.
    x : Tensor
        The input, e.g. a batch of ECGs ``(B, 12, T)``.
    names : sequence of str, optional
        Dotted sub-module names (``"layer2.0.conv1"``); default: the direct children.

    Returns
    -------
    DataFrame
        One row per call (a module called twice appears twice), columns ``layer``, ``module``
        (class name), ``output_shape`` (tuple) and ``parameters`` (trainable, of that module); the
        first row is the ``input``. The forward runs without gradients and with the plain layers
        (the shapes method §2 describes: ``(B, C, L)`` in 1D, the 2D stem as a module call; the
        default fast paths compute the same values on ``(B, C, 1, L)`` maps, see
        :mod:`protoecg_lib.models.rows`); the module's train/eval mode and fast paths are left as
        they were.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"layer_shapes needs an nn.Module, got {type(module).__name__}")
    if names is None:
        targets = list(module.named_children())
        if not targets:
            raise ValueError(f"{type(module).__name__} has no sub-modules; pass names=... explicitly")
    else:
        known = dict(module.named_modules())
        unknown = [n for n in names if n not in known or n == ""]
        if unknown:
            raise ValueError(f"{type(module).__name__} has no sub-module(s) {unknown}; "
                             f"direct children are {[n for n, _ in module.named_children()]}")
        targets = [(n, known[n]) for n in names]
    rows = [{"layer": "input", "module": "", "output_shape": tuple(x.shape), "parameters": 0}]

    def hook_for(name: str):
        def hook(mod, inputs, output):
            out = output[0] if isinstance(output, (tuple, list)) else output
            shape = tuple(out.shape) if isinstance(out, Tensor) else None
            rows.append({"layer": name, "module": type(mod).__name__, "output_shape": shape,
                         "parameters": sum(p.numel() for p in mod.parameters())})
        return hook

    handles = [m.register_forward_hook(hook_for(n)) for n, m in targets]
    flags = {m: (getattr(m, "row_layout", None), getattr(m, "row_shortcut", None)) for m in module.modules()}
    set_fast_paths(module, False)
    try:
        with torch.no_grad():
            module(x)
    finally:
        for h in handles:
            h.remove()
        for m, (layout, shortcut) in flags.items():
            if layout is not None:
                m.row_layout = layout
            if shortcut is not None:
                m.row_shortcut = shortcut
    return pd.DataFrame(rows, columns=["layer", "module", "output_shape", "parameters"])


def parameter_counts(branch: nn.Module) -> dict[str, int]:
    """Trainable parameters of a :class:`~protoecg_lib.models.ProtoBranch` by component (method §2.5).

    Returns
    -------
    dict
        ``backbone``, ``add_on``, ``prototypes``, ``last_layer`` and ``total`` (BatchNorm running
        statistics are buffers, not parameters, and are not counted).
    """
    parts = ("backbone", "add_on", "prototype_layer", "last_layer")
    missing = [p for p in parts if not hasattr(branch, p)]
    if missing:
        raise TypeError(f"parameter_counts needs a ProtoBranch; {type(branch).__name__} lacks {missing}")
    counts = {("prototypes" if p == "prototype_layer" else p):
              sum(t.numel() for t in getattr(branch, p).parameters()) for p in parts}
    counts["total"] = sum(t.numel() for t in branch.parameters())
    return counts


# --------------------------------------------------------------------------- pooling on data

@torch.no_grad()
def pooled_similarities(branch: nn.Module, signals, pools: Sequence[str] = POOLS, topk: int | None = None,
                        batch_size: int = 64, device: str = "cpu") -> dict[str, np.ndarray]:
    """Window similarities of a branch over many ECGs, pooled in several ways (method §2.2, §9.1 A1).

    Parameters
    ----------
    branch : ProtoBranch
        Run in eval mode (its mode is restored afterwards).
    signals : array or Tensor, shape (N, 12, T)
    pools : sequence of {'mean', 'max', 'topk'}
    topk : int, optional
        Windows averaged by ``'topk'``; default the branch config's ``topk`` (5).
    batch_size : int
    device : str

    Returns
    -------
    dict
        pool name -> float32 array ``(N, P)``; also ``'argmax'`` -> int64 ``(N, P)``, the best window
        of every prototype (what projection and explanations use). The ``(N, P, W)`` tensor is never
        held for all ECGs at once.
    """
    bad = [p for p in pools if p not in POOLS]
    if bad or not pools:
        raise ValueError(f"pools must be a non-empty subset of {POOLS}, got {list(pools)}")
    if signals is None or len(signals) == 0:
        raise ValueError("pooled_similarities needs at least one ECG (signals of shape (N, 12, T))")
    if topk is None:
        topk = int(getattr(getattr(branch, "config", None), "topk", 5))
    was_training = branch.training
    branch.eval()
    out: dict[str, list[np.ndarray]] = {p: [] for p in (*pools, "argmax")}
    try:
        for start in range(0, len(signals), batch_size):
            x = torch.from_numpy(np.array(signals[start:start + batch_size], dtype=np.float32)).to(device)
            if x.ndim != 3 or x.shape[1] != 12:
                raise ValueError(f"signals must have shape (N, 12, T), got a batch of shape {tuple(x.shape)}")
            ws = branch(x).window_similarity.float()            # (B, P, W)
            for p in pools:
                out[p].append(pool_windows(ws, p, topk).cpu().numpy())  # (B, P)
            out["argmax"].append(ws.argmax(dim=-1).cpu().numpy())       # (B, P)
    finally:
        branch.train(was_training)
    return {k: np.concatenate(v) for k, v in out.items()}


def class_scores(similarity, class_identity, reduce: str = "max") -> np.ndarray:
    """A score per (ECG, class) from that class's own prototypes only.

    Parameters
    ----------
    similarity : array, shape (N, P)
        Pooled similarities.
    class_identity : array, shape (P, C)
        ``A[j, c] = 1`` iff prototype ``j`` belongs to class ``c`` (method §2.3).
    reduce : {'max', 'mean'}
        Best prototype of the class, or the mean over the class's prototypes.

    Returns
    -------
    ndarray, shape (N, C)
        NaN for a class without prototypes.
    """
    s = as_numeric(similarity, "similarity").astype(np.float64)
    a = as_numeric(class_identity, "class_identity") > 0.5
    if s.ndim != 2 or a.ndim != 2 or s.shape[1] != a.shape[0]:
        raise ValueError(f"similarity (N, P) and class_identity (P, C) do not fit: shapes {s.shape} and {a.shape}")
    if reduce not in ("max", "mean"):
        raise ValueError(f"reduce must be 'max' or 'mean', got {reduce!r}")
    scores = np.full((s.shape[0], a.shape[1]), np.nan)
    for c in range(a.shape[1]):
        cols = s[:, a[:, c]]                                   # (N, m)
        if cols.shape[1]:
            scores[:, c] = cols.max(axis=1) if reduce == "max" else cols.mean(axis=1)
    return scores


def pooled_auroc(pooled: Mapping[str, np.ndarray], targets, class_identity, labels: Sequence[str],
                 reduce: str = "max") -> pd.DataFrame:
    """AUROC per label of each pooling's class score (:func:`class_scores`), method §8.1 and §9.1 A1.

    Parameters
    ----------
    pooled : dict
        pool name -> ``(N, P)`` similarities, e.g. from :func:`pooled_similarities` (an
        ``'argmax'`` entry is ignored).
    targets : array, shape (N, C)
    class_identity : array, shape (P, C)
    labels : sequence of str, length C
    reduce : {'max', 'mean'}
        How a class's prototypes are combined (see :func:`class_scores`).

    Returns
    -------
    DataFrame
        Indexed by label, only labels with both positives and negatives; column ``support`` then one
        AUROC column per pooling. ``df.mean()`` gives the macro AUROC of each pooling.
    """
    y = as_numeric(targets, "targets")
    if y.ndim != 2 or y.shape[1] != len(labels):
        raise ValueError(f"targets must have shape (N, {len(labels)}) for {len(labels)} labels, got {y.shape}")
    names = [k for k in pooled if k != "argmax"]
    if not names:
        raise ValueError("pooled holds no pooled similarities (only 'argmax' or nothing)")
    table = None
    for name in names:
        scores = class_scores(pooled[name], class_identity, reduce)
        if scores.shape[0] != y.shape[0]:
            raise ValueError(f"pooled[{name!r}] has {scores.shape[0]} ECGs but targets has {y.shape[0]}")
        per_label = auroc_per_label(y, np.nan_to_num(scores, nan=0.0), labels)
        if table is None:
            table = per_label[["support"]].copy()
        table[name] = per_label["auroc"]
    keep = (table["support"] > 0) & (table["support"] < y.shape[0])
    return table[keep]
