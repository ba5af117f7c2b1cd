"""Toy latent spaces for chapter 6: hand-placed unit vectors, one loss term at a time, and gradient
descent on the prototypes alone, so a reader sees what each term of the prototype loss (method §3)
does to prototypes on a circle. The snapshots are drawn by
:func:`protoecg_lib.plotting.latent.snapshot_panels`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from ..training.losses import (clustering_loss, contrastive_loss, diversity_loss, separation_loss,
                     sparsity_loss)
from ..models.prototypes import cosine_similarity

__all__ = ["TOY_TERMS", "unit_vectors", "toy_objective", "Trajectory", "optimize_prototypes"]


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


#: Loss terms :func:`toy_objective` can build (names as in ``PrototypeLoss`` terms, method §3).
TOY_TERMS = ("clst", "sep", "spars", "div", "cnrst")


def toy_objective(term: str, samples: Tensor, targets: Tensor, class_identity: Tensor,
                  cooccurrence: Tensor | None = None, variant: str = "code") -> Callable[[Tensor], Tensor]:
    """One loss term as a function of the prototypes alone, for fixed samples (method §3).

    Similarities are the 1D branch's cosine ``s_bj = cos(z_b, p_j)`` (method §2.1) between the fixed
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
        Clustering/separation semantics (method §9.1 A3).

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
