"""The prototype objective of the ``prototypes`` and ``joint`` stages (method §3): the weighted sum of
the loss terms of :mod:`~protoecg_lib.training.losses` with the official coefficients, and the
classifier stage's BCE + masked L1.

:class:`LossWeights` holds the coefficients (λ_clst 0.004, λ_sep 0.0004, λ_spars 0, λ_div 250,
λ_cnrst 300, λ_l1 1e-4; method §3); :class:`PrototypeLoss` returns ``(total, terms)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .losses import (check_variant, clustering_loss, contrastive_from_cosines, contrastive_masks, diversity_from_cosines,
                     l1_last_layer, prototype_cosines, separation_loss, sparsity_loss, weighted_bce)

__all__ = ["LossWeights", "PrototypeLoss"]


@dataclass
class LossWeights:
    """Coefficients of the loss terms (method §3 defaults; §9.1 A3 for ``variant``).

    Attributes
    ----------
    clst, sep, spars, div, cnrst : float
        λ of clustering, separation, sparsity, diversity and contrastive terms.
    l1 : float
        λ of the last-layer L1 (classifier and fusion stages only).
    use_contrastive : bool
        Ablation switch for the contrastive term (off: the term is neither computed nor added).
    variant : {"code", "protopnet"}
        Clustering/separation semantics.
    """

    clst: float = 0.004
    sep: float = 0.0004
    spars: float = 0.0
    div: float = 250.0
    cnrst: float = 300.0
    l1: float = 1e-4
    use_contrastive: bool = True
    variant: str = "code"

    def __post_init__(self) -> None:
        check_variant(self.variant)
        for name in ("clst", "sep", "spars", "div", "cnrst", "l1"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"LossWeights.{name} = {value!r}; coefficients must be finite and >= 0")


def _as_float_tensor(x, name: str) -> Tensor:
    t = torch.as_tensor(x, dtype=torch.float32).detach().clone()
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or inf; compute it with protoecg_lib.cooccurrence "
                         "(which gives 0, not inf, for labels without training positives)")
    return t


class PrototypeLoss(nn.Module):
    """The combined loss of one branch (method §3).

    Parameters
    ----------
    pos_weight : array or Tensor, shape (C,)
        Class weights of the branch label set (training split).
    class_identity : array or Tensor, shape (P, C)
        Prototype-to-class matrix ``A``.
    cooccurrence : array or Tensor, shape (C, C)
        Jaccard matrix of the training targets.
    weights : LossWeights, optional
        Coefficients; the paper's defaults when omitted.

    All three arrays are registered as buffers (they follow ``.to(device)`` and are saved with the
    module's state dict), as are the normalised contrastive masks (not saved, recomputed).
    """

    def __init__(self, pos_weight, class_identity, cooccurrence, weights: LossWeights | None = None) -> None:
        super().__init__()
        pos_weight = _as_float_tensor(pos_weight, "pos_weight")
        class_identity = _as_float_tensor(class_identity, "class_identity")
        cooccurrence = _as_float_tensor(cooccurrence, "cooccurrence")
        if class_identity.dim() != 2:
            raise ValueError(f"class_identity must be (P, C); got shape {tuple(class_identity.shape)}")
        num_classes = class_identity.shape[1]
        if pos_weight.shape != (num_classes,):
            raise ValueError(f"pos_weight has shape {tuple(pos_weight.shape)}; expected (C,) = ({num_classes},)")
        if (pos_weight < 0).any():
            raise ValueError("pos_weight has negative entries; class weights must be >= 0")
        if not torch.isin(class_identity, torch.tensor([0.0, 1.0])).all():
            raise ValueError("class_identity must be 0/1 (A_jc = 1 iff prototype j belongs to class c)")
        self.weights = weights if weights is not None else LossWeights()
        self.register_buffer("pos_weight", pos_weight)
        self.register_buffer("class_identity", class_identity)
        self.register_buffer("cooccurrence", cooccurrence)
        pos, neg = contrastive_masks(class_identity, cooccurrence)             # (P, P) each
        self.register_buffer("mask_pos", pos, persistent=False)
        self.register_buffer("mask_neg", neg, persistent=False)

    @property
    def num_prototypes(self) -> int:
        return self.class_identity.shape[0]

    def forward(self, logits: Tensor, similarity: Tensor, prototypes: Tensor,
                targets: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Loss of the ``prototypes`` and ``joint`` stages.

        Parameters
        ----------
        logits : Tensor, shape (B, C)
        similarity : Tensor, shape (B, P)
            Pooled over windows for 2D branches.
        prototypes : Tensor, shape (P, D) or (P, D, 1, T)
        targets : Tensor, shape (B, C)

        Returns
        -------
        total : Tensor, scalar
            ``L_cls + Σ λ_k L_k`` (contrastive only when ``use_contrastive``).
        terms : dict
            Detached, **unweighted** values of ``"cls", "clst", "sep", "spars", "div", "cnrst"``
            (``cnrst`` is 0 when the contrastive term is off).
        """
        w = self.weights
        if prototypes.shape[0] != self.num_prototypes:
            raise ValueError(f"got {prototypes.shape[0]} prototypes but class_identity has {self.num_prototypes} rows")
        cls = weighted_bce(logits, targets, self.pos_weight)
        clst = clustering_loss(similarity, targets, self.class_identity, w.variant)
        sep = separation_loss(similarity, targets, self.class_identity, w.variant)
        spars = sparsity_loss(similarity)
        cosines = prototype_cosines(prototypes)                                # (P, P) shared by div and cnrst
        div = diversity_from_cosines(cosines)
        total = cls + w.clst * clst + w.sep * sep + w.spars * spars + w.div * div
        if w.use_contrastive:
            cnrst = contrastive_from_cosines(cosines, self.mask_pos, self.mask_neg)
            total = total + w.cnrst * cnrst
        else:
            cnrst = cosines.new_zeros(())
        terms = {"cls": cls, "clst": clst, "sep": sep, "spars": spars, "div": div, "cnrst": cnrst}
        return total, {k: v.detach() for k, v in terms.items()}

    def classifier_loss(self, logits: Tensor, targets: Tensor,
                        last_layer_weight: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Loss of the ``classifier`` stage: ``L_cls + λ_l1 Σ |W_cj| (1 - A_jc)`` (method §3.7).

        Parameters
        ----------
        logits : Tensor, shape (B, C)
        targets : Tensor, shape (B, C)
        last_layer_weight : Tensor, shape (C, P)

        Returns
        -------
        total : Tensor, scalar
        terms : dict
            Detached unweighted ``{"cls", "l1"}``.
        """
        cls = weighted_bce(logits, targets, self.pos_weight)
        reg = l1_last_layer(last_layer_weight, self.class_identity)
        return cls + self.weights.l1 * reg, {"cls": cls.detach(), "l1": reg.detach()}
