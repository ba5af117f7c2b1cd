"""Small analysis helpers for looking inside a branch (the book's branch chapters, spec §2).

* :func:`layer_shapes` -- output shape of every layer on a real batch (forward hooks), e.g. the
  1000 -> 500 -> 250 -> 250 -> 125 -> 63 -> 32 time axis of spec §2.1.
* :func:`parameter_counts` -- trainable parameters of a branch by component (spec §2.5).
* :func:`pooled_similarities` -- window similarities ``(N, P, W)`` pooled by mean, max and top-k
  over a whole array of ECGs, batch by batch (spec §2.2, §9.1 A1).
* :func:`class_scores` and :func:`pooled_auroc` -- how well each pooling separates a label's
  positives from its negatives, using only that label's own prototypes (no trained last layer).
* :func:`plot_last_layer` and :func:`plot_window_similarity` -- the last-layer matrix as an image
  (spec §2.3) and one prototype's similarity to every window of one ECG (spec §2.2, §5).

The two figure functions follow the house style of :mod:`protoecg_lib.plotting` (built with
:func:`~protoecg_lib.plotting.new_figure` inside :func:`~protoecg_lib.plotting.house_style`) and
return a Figure.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from ..evaluation.metrics import auroc_per_label
from ..models.prototypes import pool_windows
from ..plotting.style import house_style, new_figure

__all__ = ["layer_shapes", "parameter_counts", "pooled_similarities", "class_scores", "pooled_auroc",
           "plot_last_layer", "plot_window_similarity", "POOLS"]

#: Window poolings compared by :func:`pooled_similarities` (spec §9.1 A1).
POOLS = ("mean", "max", "topk")


def _as_array(x, name: str) -> np.ndarray:
    if isinstance(x, Tensor):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    return arr


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
        first row is the ``input``. The forward runs without gradients; the module's train/eval
        mode is left as it was.
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
    try:
        with torch.no_grad():
            module(x)
    finally:
        for h in handles:
            h.remove()
    return pd.DataFrame(rows, columns=["layer", "module", "output_shape", "parameters"])


def parameter_counts(branch: nn.Module) -> dict[str, int]:
    """Trainable parameters of a :class:`~protoecg_lib.models.ProtoBranch` by component (spec §2.5).

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
    """Window similarities of a branch over many ECGs, pooled in several ways (spec §2.2, §9.1 A1).

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
            x = torch.as_tensor(np.asarray(signals[start:start + batch_size], dtype=np.float32)).to(device)
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
        ``A[j, c] = 1`` iff prototype ``j`` belongs to class ``c`` (spec §2.3).
    reduce : {'max', 'mean'}
        Best prototype of the class, or the mean over the class's prototypes.

    Returns
    -------
    ndarray, shape (N, C)
        NaN for a class without prototypes.
    """
    s = _as_array(similarity, "similarity").astype(np.float64)
    a = _as_array(class_identity, "class_identity") > 0.5
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
    """AUROC per label of each pooling's class score (:func:`class_scores`), spec §8.1 and §9.1 A1.

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
    y = _as_array(targets, "targets")
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


# --------------------------------------------------------------------------- figures

def plot_last_layer(weight, labels: Sequence[str], prototypes_per_class: int | None = None, *,
                    title: str | None = None, figsize: tuple[float, float] | None = None) -> Figure:
    """The last-layer weight matrix ``(C, P)`` as an image, classes down, prototypes across (spec §2.3).

    Parameters
    ----------
    weight : array or Tensor, shape (C, P)
    labels : sequence of str, length C
        Class codes (row labels).
    prototypes_per_class : int, optional
        ``m``: thin lines mark each class's block of prototypes.

    Returns
    -------
    Figure
        Axes 0 holds the image (an AxesImage, diverging colours centred on 0), Axes 1 the colour bar.
    """
    w = _as_array(weight, "weight").astype(np.float64)
    if w.ndim != 2 or w.shape[0] != len(labels):
        raise ValueError(f"weight must have shape (C, P) with C = {len(labels)} labels, got {w.shape}")
    if not np.isfinite(w).all():
        raise ValueError("weight holds NaN/inf values")
    c, p = w.shape
    lim = max(float(np.abs(w).max()), 1e-12)
    with house_style():
        size = figsize or (min(max(5.0, 0.06 * p + 2.5), 12.0), min(max(2.5, 0.2 * c + 1.2), 10.0))
        fig = new_figure(size)
        ax = fig.add_subplot()
        im = ax.imshow(w, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
        ax.set_yticks(range(c))
        ax.set_yticklabels([str(v) for v in labels], fontsize=8 if c <= 20 else 6)
        ax.set_xlabel("prototype index j")
        ax.set_ylabel("class c")
        if prototypes_per_class:
            for k in range(1, c):
                ax.axvline(k * prototypes_per_class - 0.5, color="0.75", lw=0.4)
        fig.colorbar(im, ax=ax, label="weight $W_{cj}$", shrink=0.8)
        ax.set_title(title or f"last layer: {c} classes x {p} prototypes", loc="left")
        fig.tight_layout()
    return fig


def plot_window_similarity(window_similarity, spans, fs: float, *, trace=None, lead: str | None = None,
                           topk: int = 5, title: str | None = None,
                           figsize: tuple[float, float] = (10.0, 4.6)) -> Figure:
    """One prototype's similarity to every window of one ECG, with the mean / max / top-k pools (spec §2.2).

    Parameters
    ----------
    window_similarity : array, shape (W,)
        ``s_w`` for the W windows of one ECG and one prototype.
    spans : array, shape (W, 2)
        ``(start, length)`` in samples of every window (``ProtoBranch.window_spans``).
    fs : float
        Sampling rate of ``spans`` (and of ``trace``).
    trace : array, shape (T,), optional
        One lead of the ECG, drawn above on the same time axis with the best window shaded.
    lead : str, optional
        Name of that lead (for the label).
    topk : int
        ``k`` of the top-k pool line.

    Returns
    -------
    Figure
        The last Axes holds the similarity curve (gid ``"window-similarity"``, x = window centre in
        seconds) and three horizontal lines (gids ``"pool-mean"``, ``"pool-max"``, ``"pool-topk"``).
    """
    s = _as_array(window_similarity, "window_similarity").astype(np.float64).ravel()
    sp = _as_array(spans, "spans").astype(np.float64)
    if sp.shape != (s.size, 2):
        raise ValueError(f"spans must have shape (W, 2) = ({s.size}, 2) for {s.size} windows, got {sp.shape}")
    if not fs or fs <= 0:
        raise ValueError(f"fs must be a positive sampling rate in Hz, got {fs!r}")
    centre = (sp[:, 0] + sp[:, 1] / 2) / fs                      # (W,) seconds
    best = int(np.argmax(s))
    k = min(int(topk), s.size)
    pools = {"mean": s.mean(), "max": s.max(), "topk": np.sort(s)[-k:].mean()}
    with house_style() as style:
        if trace is not None:
            y = _as_array(trace, "trace").astype(np.float64).ravel()
            fig = new_figure(figsize, style)
            ax_ecg, ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1.0, 1.3]})
            t = np.arange(y.size) / fs
            ax_ecg.plot(t, y, color="black", lw=0.8)
            a, b = sp[best, 0] / fs, (sp[best, 0] + sp[best, 1]) / fs
            ax_ecg.axvspan(a, b, color=style.palette[0], alpha=0.25, lw=0, label=f"best window ({a:.2f}-{b:.2f} s)")
            ax_ecg.set_ylabel(f"{lead or 'lead'} (mV)")
            ax_ecg.legend(loc="upper right")
            ax_ecg.set_xlim(0, y.size / fs)
        else:
            fig = new_figure((figsize[0], figsize[1] * 0.6), style)
            ax = fig.add_subplot()
        ax.plot(centre, s, marker="o", ms=3, color=style.palette[0], gid="window-similarity",
                label="similarity to each window")
        ax.plot(centre[best], s[best], marker="*", ms=12, color=style.palette[3], ls="none")
        for (name, value), color, ls in zip(pools.items(), (style.palette[1], style.palette[3], style.palette[2]),
                                            ("--", ":", "-.")):
            label = {"mean": "mean over windows", "max": "max", "topk": f"mean of top {k}"}[name]
            ax.axhline(value, color=color, ls=ls, lw=1.2, gid=f"pool-{name}", label=f"{label}: {value:.2f}")
        ax.set_xlabel("window centre (s)")
        ax.set_ylabel("similarity")
        ax.legend(loc="lower right", ncol=2, fontsize=7)
        if title:
            fig.suptitle(title, x=0.01, ha="left")
        fig.tight_layout()
    return fig
