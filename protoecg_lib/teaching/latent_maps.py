"""Looking at the latent space: 2D maps, and prototype geometry against label co-occurrence.

Helpers for the book's chapters on the prototype loss (method §3), the contrastive term (§3.6) and
projection (§5). Nothing here trains the model; everything reads latents and prototypes (toy latent
spaces are :mod:`~protoecg_lib.teaching.toy_prototypes`; figures :mod:`protoecg_lib.plotting.latent`):

* :func:`fit_pca_2d` / :func:`pca_2d` -- a 2D PCA map of latents with the prototypes placed in it;
  by default every vector is scaled to unit length first, because the model compares vectors by
  cosine (method §2.1-2.2) and only their directions matter.
* :func:`branch_latents` -- the latent windows of a branch over a set of ECGs (what projection
  compares prototypes with); :func:`primary_labels` -- one colour category per multi-label ECG.
* :func:`class_pair_cosines`, :func:`cosine_vs_jaccard`, :func:`cosine_structure` -- how similar the
  prototypes of two classes are, against how often the classes co-occur (the contrastive term's goal).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from ..training.losses import (prototype_cosines)
from ..arrays import as_matrix, unit_rows

__all__ = ["PCA2D", "fit_pca_2d", "pca_2d", "branch_latents", "primary_labels", "class_pair_cosines", "cosine_vs_jaccard", "cosine_structure"]


# --------------------------------------------------------------------------- 2D maps
@dataclass
class PCA2D:
    """A fitted two-component PCA (see :func:`fit_pca_2d`).

    Attributes
    ----------
    mean : ndarray, shape (K,)
        Mean of the (unit-scaled when ``normalize``) fitting rows.
    components : ndarray, shape (2, K)
        Orthonormal principal directions; each one's largest-magnitude entry is positive (a fixed sign).
    explained_variance_ratio : ndarray, shape (2,)
        Share of the total variance each direction explains.
    normalize : bool
        Whether rows are scaled to unit length before centring (also in :meth:`transform`).
    """

    mean: np.ndarray
    components: np.ndarray
    explained_variance_ratio: np.ndarray
    normalize: bool = True

    def transform(self, x) -> np.ndarray:
        """Map rows ``(N, K)`` (or ``(N, ...)``, flattened) to ``(N, 2)`` map coordinates."""
        a = as_matrix(x, "x")
        if a.shape[1] != self.mean.shape[0]:
            raise ValueError(f"x has {a.shape[1]} features per row but the PCA was fitted on {self.mean.shape[0]}; "
                             "pass vectors from the same latent space (flattened prototypes or latent windows)")
        if self.normalize:
            a = unit_rows(a)
        return (a - self.mean) @ self.components.T                            # (N, 2)


def fit_pca_2d(latents, normalize: bool = True) -> PCA2D:
    """Fit a two-component PCA on latent vectors.

    Parameters
    ----------
    latents : array or Tensor, shape (N, K) or (N, ...)
        One latent vector per row (e.g. 1D add-on outputs ``(N, D)``, or flattened 2D windows).
    normalize : bool
        Scale every row to unit length first (default): the model's similarity is a cosine, so
        the direction of a latent, not its length, decides how similar it is to a prototype.

    Returns
    -------
    PCA2D
    """
    a = as_matrix(latents, "latents")
    if a.shape[0] < 2 or a.shape[1] < 2:
        raise ValueError(f"a 2D PCA needs at least 2 rows and 2 features; got latents of shape {a.shape}")
    if normalize:
        a = unit_rows(a)
    mean = a.mean(axis=0)                                                     # (K,)
    _, sing, vt = np.linalg.svd(a - mean, full_matrices=False)                # vt (r, K)
    comps = vt[:2] if vt.shape[0] >= 2 else np.vstack([vt, np.zeros_like(vt)])
    flip = np.sign(comps[np.arange(2), np.abs(comps).argmax(axis=1)])        # (2,)
    comps = comps * np.where(flip == 0, 1.0, flip)[:, None]                   # (2, K) fixed sign
    var = sing ** 2
    total = var.sum()
    ratio = np.zeros(2) if total == 0 else np.pad(var[:2], (0, max(0, 2 - var[:2].size))) / total
    return PCA2D(mean=mean, components=comps, explained_variance_ratio=ratio, normalize=normalize)


def pca_2d(latents, prototypes=None, normalize: bool = True):
    """Latents (and prototypes) on a 2D PCA map fitted on the latents only.

    Parameters
    ----------
    latents : array or Tensor, shape (N, K) or (N, ...)
    prototypes : array or Tensor, shape (P, K) or (P, ...), optional
        Placed on the same map (they do not influence the fit).
    normalize : bool
        See :func:`fit_pca_2d`.

    Returns
    -------
    points : ndarray, shape (N, 2)
    prototypes_2d : ndarray, shape (P, 2), or None
    pca : PCA2D
        Reuse ``pca.transform`` to place other prototypes (e.g. after projection) on the same map.
    """
    pca = fit_pca_2d(latents, normalize)
    points = pca.transform(latents)
    return points, (None if prototypes is None else pca.transform(prototypes)), pca


@torch.no_grad()
def branch_latents(branch, signals, batch_size: int = 64, device: str = "cpu") -> np.ndarray:
    """The latent windows a branch compares its prototypes with, for a set of ECGs (method §2, §5).

    Parameters
    ----------
    branch : ProtoBranch
        Put in eval mode.
    signals : array or Tensor, shape (N, 12, T)
    batch_size, device
        Forward-pass settings.

    Returns
    -------
    ndarray, shape (N, W, K), float32
        ``W = 1`` and ``K = D`` for global prototypes (the 1D branch: the add-on output); ``K = D*T``
        flattened like the prototypes for 2D branches. ``out[n, w]`` is what projection would copy
        into a prototype that picked window ``w`` of ECG ``n``.
    """
    from ..data.torchdata import as_batch

    if getattr(signals, "ndim", 0) != 3:
        raise ValueError(f"signals must have shape (N, 12, T); got {getattr(signals, 'shape', type(signals).__name__)}")
    if isinstance(signals, Tensor):
        signals = signals.detach().cpu().numpy()
    branch.eval().to(device)
    out = []
    for start in range(0, len(signals), batch_size):
        x = as_batch(signals[start:start + batch_size], device)              # (B, 12, T)
        out.append(branch.latent_windows(branch.encode(x)).float().cpu())    # (B, W, K)
    return torch.cat(out).numpy()


def primary_labels(targets, labels: Sequence[str], counts=None, none: str = "none") -> np.ndarray:
    """One category per multi-label record for colouring a map: its rarest positive label.

    Parameters
    ----------
    targets : array, shape (N, C)
        Multi-hot 0/1.
    labels : sequence of str, length C
    counts : array, shape (C,), optional
        How common each label is (default: the column sums of ``targets``); ties keep label order.
    none : str
        Category of a record without any positive label.

    Returns
    -------
    ndarray, shape (N,), object
        E.g. an ECG with SR and 1AVB gets ``"1AVB"`` when 1AVB is rarer: the label that sets it apart.
    """
    y = as_matrix(targets, "targets")
    if y.shape[1] != len(labels):
        raise ValueError(f"targets has {y.shape[1]} columns but {len(labels)} labels were given")
    n = y.sum(axis=0) if counts is None else np.asarray(counts, dtype=np.float64)
    if n.shape != (y.shape[1],):
        raise ValueError(f"counts must have shape ({y.shape[1]},); got {n.shape}")
    rank = np.where(y > 0, n[None, :], np.inf)                                # (N, C)
    pick = rank.argmin(axis=1)                                                # (N,) first rarest
    out = np.array([labels[k] for k in pick], dtype=object)
    out[~(y > 0).any(axis=1)] = none
    return out


# --------------------------------------------------------------------------- cosine structure
def _identity_matrix(class_identity, num_prototypes: int) -> np.ndarray:
    a = as_matrix(class_identity, "class_identity")
    if a.shape[0] != num_prototypes:
        raise ValueError(f"class_identity has {a.shape[0]} rows but there are {num_prototypes} prototypes; "
                         "expected (P, C)")
    if not np.isin(a, (0.0, 1.0)).all() or (a.sum(axis=1) != 1).any():
        raise ValueError("class_identity must be 0/1 with exactly one class per prototype (single-class prototypes)")
    return a


def class_pair_cosines(prototypes, class_identity) -> np.ndarray:
    """Mean cosine between the prototypes of every pair of classes.

    Parameters
    ----------
    prototypes : array or Tensor, shape (P, D) or (P, D, 1, T)
        Flattened per prototype, as in the diversity and contrastive terms (method §3.5-3.6).
    class_identity : array or Tensor, shape (P, C)
        Single-class prototypes.

    Returns
    -------
    ndarray, shape (C, C), float64
        ``out[c, d]`` = mean of ``cos(p_i, p_j)`` over prototypes ``i`` of class ``c`` and ``j`` of
        class ``d`` with ``i != j`` (so the diagonal averages distinct same-class pairs; NaN for a
        class with a single prototype). Symmetric.
    """
    protos = torch.as_tensor(np.asarray(prototypes) if not isinstance(prototypes, Tensor) else prototypes)
    cos = prototype_cosines(protos.detach().cpu().double()).numpy()           # (P, P), float64 on the CPU (not MPS)
    a = _identity_matrix(class_identity, cos.shape[0])                        # (P, C)
    off = 1.0 - np.eye(cos.shape[0])                                          # (P, P) drop i == j
    sums = a.T @ (cos * off) @ a                                              # (C, C)
    pairs = a.T @ off @ a                                                     # (C, C)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, sums / np.where(pairs > 0, pairs, 1.0), np.nan)


def cosine_vs_jaccard(prototypes, class_identity, cooccurrence, labels: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per pair of distinct classes: their Jaccard index and the mean cosine of their prototypes.

    Only classes with at least one training positive (``J_cc > 0``) are paired: a class without one
    co-occurs with nothing by construction (method §9.2b) and would fill the "never" group with
    prototypes the data never constrained.

    Parameters
    ----------
    prototypes : array or Tensor, shape (P, ...)
    class_identity : array or Tensor, shape (P, C)
    cooccurrence : array, shape (C, C)
        Jaccard matrix of the training labels.
    labels : sequence of str, length C, optional
        Class names (default ``0 .. C-1``).

    Returns
    -------
    DataFrame
        Columns ``class_a``, ``class_b``, ``jaccard``, ``cosine``, ``cooccur`` (``jaccard > 0``), for
        ``a < b`` in label order.
    """
    pair = class_pair_cosines(prototypes, class_identity)                     # (C, C)
    j = as_matrix(cooccurrence, "cooccurrence")
    c = pair.shape[0]
    if j.shape != (c, c):
        raise ValueError(f"cooccurrence has shape {j.shape}; expected (C, C) = ({c}, {c}) from class_identity")
    names = [str(v) for v in (labels if labels is not None else range(c))]
    if len(names) != c:
        raise ValueError(f"{len(names)} labels for {c} classes")
    seen = np.diag(j) > 0
    rows = [{"class_a": names[a], "class_b": names[b], "jaccard": float(j[a, b]), "cosine": float(pair[a, b])}
            for a in range(c) for b in range(a + 1, c) if seen[a] and seen[b]]
    df = pd.DataFrame(rows, columns=["class_a", "class_b", "jaccard", "cosine"])
    df["cooccur"] = df["jaccard"] > 0
    return df


def cosine_structure(prototypes, class_identity, cooccurrence) -> dict:
    """Summary of prototype geometry against label co-occurrence (the contrastive term's target, method §3.6).

    Parameters
    ----------
    prototypes : array or Tensor, shape (P, ...)
    class_identity : array or Tensor, shape (P, C)
    cooccurrence : array, shape (C, C)

    Returns
    -------
    dict
        ``same_class``: mean over classes (with a training positive and >= 2 prototypes) of the mean
        cosine between their distinct prototypes; ``cooccurring`` / ``never``: mean cosine over class
        pairs with ``J > 0`` / ``J = 0`` (each pair counts once, see :func:`cosine_vs_jaccard`);
        ``gap`` = ``cooccurring - never``; ``pairs_cooccurring``, ``pairs_never``: the pair counts;
        ``spearman``: rank correlation of cosine with Jaccard over all pairs (NaN when undefined).
        Means over empty groups are NaN.
    """
    from scipy.stats import spearmanr

    pair = class_pair_cosines(prototypes, class_identity)
    df = cosine_vs_jaccard(prototypes, class_identity, cooccurrence)
    seen = np.diag(as_matrix(cooccurrence, "cooccurrence")) > 0
    same = np.diag(pair)[seen]
    same = same[np.isfinite(same)]

    def mean(v) -> float:
        return float(np.mean(v)) if len(v) else float("nan")

    co, never = df.loc[df["cooccur"], "cosine"], df.loc[~df["cooccur"], "cosine"]
    rho = float("nan")
    if len(df) >= 3 and df["jaccard"].nunique() > 1 and df["cosine"].nunique() > 1:
        rho = float(spearmanr(df["jaccard"], df["cosine"]).statistic)
    return {"same_class": mean(same), "cooccurring": mean(co), "never": mean(never),
            "gap": mean(co) - mean(never), "pairs_cooccurring": int(len(co)), "pairs_never": int(len(never)),
            "spearman": rho}
