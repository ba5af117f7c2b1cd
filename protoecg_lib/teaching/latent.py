"""Looking at the latent space: 2D maps, toy loss landscapes, and prototype geometry vs label co-occurrence.

Helpers for the book's chapters on the prototype loss (spec §3), the contrastive term (§3.6) and
projection (§5). Nothing here trains the model; everything reads latents and prototypes:

* :func:`fit_pca_2d` / :func:`pca_2d` -- a 2D PCA map of latents with the prototypes placed in it;
  by default every vector is scaled to unit length first, because the model compares vectors by
  cosine (spec §2.1-2.2) and only their directions matter.
* :func:`branch_latents` -- the latent windows of a branch over a set of ECGs (what projection
  compares prototypes with); :func:`primary_labels` -- one colour category per multi-label ECG.
* :func:`unit_vectors`, :func:`toy_objective`, :func:`optimize_prototypes` -- hand-placed toy
  latent spaces and gradient descent on prototypes under one loss term at a time.
* :func:`class_pair_cosines`, :func:`cosine_vs_jaccard`, :func:`cosine_structure` -- how similar the
  prototypes of two classes are, against how often the classes co-occur (the contrastive term's goal).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from ..training.losses import (clustering_loss, contrastive_loss, diversity_loss, prototype_cosines, separation_loss,
                     sparsity_loss)
from ..models.prototypes import cosine_similarity

__all__ = [
    "PCA2D", "fit_pca_2d", "pca_2d", "branch_latents", "primary_labels",
    "unit_vectors", "TOY_TERMS", "toy_objective", "Trajectory", "optimize_prototypes", "snapshot_panels",
    "class_pair_cosines", "cosine_vs_jaccard", "cosine_structure",
]

_UNIT_EPS = 1e-12  # norms clamped below, as in the 1D cosine (spec §2.1)


# --------------------------------------------------------------------------- helpers
def _as_matrix(x, name: str) -> np.ndarray:
    """``x`` as a finite float64 ``(N, K)`` array; ``(N, ...)`` inputs are flattened per row."""
    if isinstance(x, Tensor):
        x = x.detach().cpu().numpy()
    a = np.asarray(x, dtype=np.float64)
    if a.ndim < 2:
        raise ValueError(f"{name} must have shape (N, K) (or (N, ...), flattened per row); got shape {a.shape}")
    a = a.reshape(a.shape[0], -1)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} of shape {a.shape} holds NaN or inf values")
    return a


def _unit_rows(a: np.ndarray) -> np.ndarray:
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), _UNIT_EPS)


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
        a = _as_matrix(x, "x")
        if a.shape[1] != self.mean.shape[0]:
            raise ValueError(f"x has {a.shape[1]} features per row but the PCA was fitted on {self.mean.shape[0]}; "
                             "pass vectors from the same latent space (flattened prototypes or latent windows)")
        if self.normalize:
            a = _unit_rows(a)
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
    a = _as_matrix(latents, "latents")
    if a.shape[0] < 2 or a.shape[1] < 2:
        raise ValueError(f"a 2D PCA needs at least 2 rows and 2 features; got latents of shape {a.shape}")
    if normalize:
        a = _unit_rows(a)
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
    """The latent windows a branch compares its prototypes with, for a set of ECGs (spec §2, §5).

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
    y = _as_matrix(targets, "targets")
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


# --------------------------------------------------------------------------- toys
def unit_vectors(degrees) -> Tensor:
    """Unit vectors of a 2D toy latent space at the given angles.

    Parameters
    ----------
    degrees : sequence of float, length N

    Returns
    -------
    Tensor, shape (N, 2), float32: ``(cos θ, sin θ)`` per angle.
    """
    theta = torch.deg2rad(torch.as_tensor(degrees, dtype=torch.float64).reshape(-1))   # (N,)
    return torch.stack([theta.cos(), theta.sin()], dim=1).float()                     # (N, 2)


#: Loss terms :func:`toy_objective` can build (names as in ``PrototypeLoss`` terms, spec §3).
TOY_TERMS = ("clst", "sep", "spars", "div", "cnrst")


def toy_objective(term: str, samples: Tensor, targets: Tensor, class_identity: Tensor,
                  cooccurrence: Tensor | None = None, variant: str = "code") -> Callable[[Tensor], Tensor]:
    """One loss term as a function of the prototypes alone, for fixed samples (spec §3).

    Similarities are the 1D branch's cosine ``s_bj = cos(z_b, p_j)`` (spec §2.1) between the fixed
    latent ``samples`` and the prototypes, then the library's term is applied unchanged.

    Parameters
    ----------
    term : {"clst", "sep", "spars", "div", "cnrst"}
    samples : Tensor, shape (B, D)
        Latent vectors of the toy samples.
    targets : Tensor, shape (B, C)
        Their multi-hot labels.
    class_identity : Tensor, shape (P, C)
    cooccurrence : Tensor, shape (C, C), optional
        Jaccard matrix; required for ``"cnrst"``.
    variant : {"code", "protopnet"}
        Clustering/separation semantics (spec §9.1 A3).

    Returns
    -------
    callable
        ``objective(prototypes (P, D)) -> scalar Tensor`` (differentiable).
    """
    if term not in TOY_TERMS:
        raise ValueError(f"unknown loss term {term!r}; choose one of {TOY_TERMS}")
    if term == "cnrst" and cooccurrence is None:
        raise ValueError("the contrastive term needs the Jaccard matrix: pass cooccurrence=(C, C)")
    samples, targets = torch.as_tensor(samples).float(), torch.as_tensor(targets).float()
    a = torch.as_tensor(class_identity).float()
    if samples.dim() != 2:
        raise ValueError(f"samples must have shape (B, D); got {tuple(samples.shape)}")

    def objective(prototypes: Tensor) -> Tensor:
        if prototypes.dim() != 2 or prototypes.shape[1] != samples.shape[1]:
            raise ValueError(f"prototypes must have shape (P, {samples.shape[1]}); got {tuple(prototypes.shape)}")
        if term == "div":
            return diversity_loss(prototypes)
        if term == "cnrst":
            return contrastive_loss(prototypes, a, torch.as_tensor(cooccurrence).float())
        sim = cosine_similarity(samples, prototypes)                          # (B, P)
        if term == "clst":
            return clustering_loss(sim, targets, a, variant)
        if term == "sep":
            return separation_loss(sim, targets, a, variant)
        return sparsity_loss(sim)

    return objective


@dataclass
class Trajectory:
    """Prototypes along a gradient-descent run (see :func:`optimize_prototypes`).

    Attributes
    ----------
    prototypes : Tensor, shape (S, P, ...)
        Snapshots; ``prototypes[0]`` is the start and ``prototypes[-1]`` the end.
    steps : list of int, length S
        The optimisation step of each snapshot.
    losses : list of float, length S
        The objective at each snapshot.
    """

    prototypes: Tensor
    steps: list[int]
    losses: list[float]

    @property
    def start(self) -> Tensor:
        return self.prototypes[0]

    @property
    def end(self) -> Tensor:
        return self.prototypes[-1]


def optimize_prototypes(prototypes: Tensor, objective: Callable[[Tensor], Tensor], num_steps: int = 100,
                        lr: float = 0.05, num_snapshots: int = 5) -> Trajectory:
    """Minimise ``objective`` over the prototypes alone with Adam, keeping a few snapshots.

    Adam's per-coordinate step size makes terms of very different magnitude (the clustering term
    is ~100x smaller than the diversity term) move the prototypes at comparable speeds, which is
    what a side-by-side picture of the terms needs. The input tensor is not modified.

    Parameters
    ----------
    prototypes : Tensor, shape (P, ...)
        Starting point.
    objective : callable
        ``objective(prototypes) -> scalar Tensor``, e.g. from :func:`toy_objective`.
    num_steps : int
        Optimisation steps (>= 1).
    lr : float
        Adam learning rate (> 0).
    num_snapshots : int
        Snapshots kept, evenly spaced from step 0 to ``num_steps`` (>= 2).

    Returns
    -------
    Trajectory
    """
    if int(num_steps) != num_steps or num_steps < 1:
        raise ValueError(f"num_steps must be a positive integer; got {num_steps!r}")
    if int(num_snapshots) != num_snapshots or num_snapshots < 2:
        raise ValueError(f"num_snapshots must be an integer >= 2 (start and end); got {num_snapshots!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0; got {lr!r}")
    p = torch.as_tensor(prototypes).detach().clone().float().requires_grad_(True)
    keep = sorted(set(np.linspace(0, num_steps, int(num_snapshots)).round().astype(int).tolist()))
    opt = torch.optim.Adam([p], lr=lr)
    snaps, steps, losses = [], [], []
    for step in range(int(num_steps) + 1):
        loss = objective(p)
        if not isinstance(loss, Tensor) or loss.dim() != 0:
            raise ValueError(f"objective must return a scalar Tensor; got {getattr(loss, 'shape', type(loss).__name__)}")
        if not torch.isfinite(loss):
            raise ValueError(f"objective returned {float(loss)} at step {step}; check the toy inputs")
        if step in keep:
            snaps.append(p.detach().clone())
            steps.append(step)
            losses.append(float(loss.detach()))
        if step == num_steps:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    return Trajectory(prototypes=torch.stack(snaps), steps=steps, losses=losses)


def snapshot_panels(samples, sample_labels: Sequence[str], trajectory: Trajectory,
                    prototype_labels: Sequence[str], *, gap: float = 0.6, circle_points: int = 72,
                    circle_label: str = "unit circle", trail_label: str = "earlier positions") -> dict:
    """A 2D toy run as side-by-side panels, one per snapshot, ready for ``plot_latent_2d(**panels)``.

    Every vector is drawn scaled to unit length (with cosine similarity only directions matter).
    Panel ``k`` is shifted right by ``k * (2 + gap)`` and shows the samples, a dotted unit circle,
    the prototypes of snapshot ``k`` (stars) and their positions at earlier snapshots (trail).

    Parameters
    ----------
    samples : array or Tensor, shape (B, 2)
    sample_labels : sequence of str, length B
        Category of each sample (its colour).
    trajectory : Trajectory
        From :func:`optimize_prototypes` on 2D prototypes ``(S, P, 2)``.
    prototype_labels : sequence of str, length P
    gap : float
        Space between panels, in units of the circle's radius.
    circle_points : int
        Dots drawing each unit circle (0: none).
    circle_label, trail_label : str
        Categories of the circle dots and of the trail.

    Returns
    -------
    dict
        ``points (N, 2)``, ``labels (N,)``, ``prototypes_2d (S*P, 2)``, ``prototype_labels (S*P,)``
        and ``offsets`` (the x shift of each panel).
    """
    z = _unit_rows(_as_matrix(samples, "samples"))                            # (B, 2)
    snaps = trajectory.prototypes.detach().double().cpu().numpy()             # (S, P, 2)
    if z.shape[1] != 2 or snaps.ndim != 3 or snaps.shape[2] != 2:
        raise ValueError(f"snapshot_panels draws 2D toys: samples (B, 2) and prototypes (S, P, 2); got "
                         f"{z.shape} and {snaps.shape}")
    if len(sample_labels) != len(z) or len(prototype_labels) != snaps.shape[1]:
        raise ValueError(f"need one label per sample ({len(z)}) and per prototype ({snaps.shape[1]}); got "
                         f"{len(sample_labels)} and {len(prototype_labels)}")
    step = 2.0 + float(gap)
    angle = np.linspace(0, 2 * np.pi, int(circle_points), endpoint=False)
    ring = np.stack([np.cos(angle), np.sin(angle)], axis=1)                   # (K, 2)
    points, labels, protos, plabels, offsets = [], [], [], [], []
    for k in range(snaps.shape[0]):
        shift = np.array([k * step, 0.0])
        offsets.append(k * step)
        points += [ring + shift, z + shift]
        labels += [circle_label] * len(ring) + list(sample_labels)
        for earlier in range(k):
            points.append(_unit_rows(snaps[earlier]) + shift)
            labels += [trail_label] * snaps.shape[1]
        protos.append(_unit_rows(snaps[k]) + shift)
        plabels += list(prototype_labels)
    return {"points": np.concatenate(points), "labels": labels, "prototypes_2d": np.concatenate(protos),
            "prototype_labels": plabels, "offsets": offsets}


# --------------------------------------------------------------------------- cosine structure
def _identity_matrix(class_identity, num_prototypes: int) -> np.ndarray:
    a = _as_matrix(class_identity, "class_identity")
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
        Flattened per prototype, as in the diversity and contrastive terms (spec §3.5-3.6).
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
    cos = prototype_cosines(protos.detach().double()).cpu().numpy()           # (P, P)
    a = _identity_matrix(class_identity, cos.shape[0])                        # (P, C)
    off = 1.0 - np.eye(cos.shape[0])                                          # (P, P) drop i == j
    sums = a.T @ (cos * off) @ a                                              # (C, C)
    pairs = a.T @ off @ a                                                     # (C, C)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, sums / np.where(pairs > 0, pairs, 1.0), np.nan)


def cosine_vs_jaccard(prototypes, class_identity, cooccurrence, labels: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per pair of distinct classes: their Jaccard index and the mean cosine of their prototypes.

    Only classes with at least one training positive (``J_cc > 0``) are paired: a class without one
    co-occurs with nothing by construction (spec §9.2b) and would fill the "never" group with
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
    j = _as_matrix(cooccurrence, "cooccurrence")
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
    """Summary of prototype geometry against label co-occurrence (the contrastive term's target, spec §3.6).

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
    seen = np.diag(_as_matrix(cooccurrence, "cooccurrence")) > 0
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
