"""The ProtoECGNet loss terms (method §3), each a plain function, and a module that combines them.

Notation (method §3): batch ``b = 1..B``, classes ``c = 1..C`` of the branch label set, prototypes
``j = 1..P``; ``similarity`` is ``s (B, P)`` (for 2D branches already pooled over windows),
``targets`` is ``y (B, C)``, ``class_identity`` is ``A (P, C)`` with ``A_jc = 1`` iff prototype ``j``
belongs to class ``c`` (prototypes of class ``c`` in the block ``c*m .. c*m+m-1``), ``pos_weight`` is
``w (C,)`` from :func:`protoecg_lib.cooccurrence.class_weights` and ``cooccurrence`` is the Jaccard
matrix ``J (C, C)`` from :func:`protoecg_lib.cooccurrence.jaccard`.

Total loss of the ``prototypes`` and ``joint`` stages (method §3)::

    L = L_cls + λ_clst L_clst + λ_sep L_sep + λ_spars L_spars + λ_div L_div + λ_cnrst L_cnrst

and of the ``classifier`` stage ``L_cls + λ_l1 L_l1`` (masked), of the fusion stage
``L_cls + λ_l1 L_l1`` (all weights) (method §3.7).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["weighted_bce", "clustering_loss", "separation_loss", "sparsity_loss", "prototype_cosines", "diversity_loss", "contrastive_masks", "contrastive_loss", "l1_last_layer", "fusion_loss", "VARIANTS"]

#: Accepted clustering/separation variants (method §9.1 A3).
VARIANTS = ("code", "protopnet")

_CLAMP = 1e-6       # method §3.6: S = clamp(P̂P̂ᵀ, -1 + 1e-6, 1 - 1e-6)
_MASK_EPS = 1e-6    # method §3.6: M̃ = M / (ΣM + 1e-6)
_NORM_EPS = 1e-12   # method §2.1: norms clamped below at 1e-12


# --------------------------------------------------------------------------- checks
def check_2d(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}")
    if x.dim() != 2:
        raise ValueError(f"{name} must be 2-D; got shape {tuple(x.shape)}")


def check_batch(similarity: Tensor, targets: Tensor, class_identity: Tensor) -> None:
    check_2d(similarity, "similarity (B, P)")
    check_2d(targets, "targets (B, C)")
    check_2d(class_identity, "class_identity (P, C)")
    if similarity.shape[0] != targets.shape[0]:
        raise ValueError(f"similarity has {similarity.shape[0]} rows but targets has {targets.shape[0]}; "
                         "both must be (B, ...) for the same batch")
    if class_identity.shape != (similarity.shape[1], targets.shape[1]):
        raise ValueError(f"class_identity has shape {tuple(class_identity.shape)}; expected (P, C) = "
                         f"({similarity.shape[1]}, {targets.shape[1]}) from similarity (B, P) and targets (B, C)")


def check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"unknown clustering/separation variant {variant!r}; choose one of {VARIANTS}")


# --------------------------------------------------------------------------- §3.1
def weighted_bce(logits: Tensor, targets: Tensor, pos_weight: Tensor) -> Tensor:
    """Weighted multi-label BCE on logits, mean over all ``B*C`` entries (method §3.1, §9.1 A6).

    ``L_cls = -(1/BC) Σ_{b,c} [ w_c y_bc log σ(z_bc) + (1 - y_bc) log(1 - σ(z_bc)) ]``

    Parameters
    ----------
    logits : Tensor, shape (B, C)
    targets : Tensor, shape (B, C)
        Multi-hot 0/1.
    pos_weight : Tensor, shape (C,)
        Finite, non-negative class weights; ``0`` for a label without training positive
        (its positive term is dropped, method §9.2b).

    Returns
    -------
    Tensor, scalar
    """
    check_2d(logits, "logits (B, C)")
    if targets.shape != logits.shape:
        raise ValueError(f"targets shape {tuple(targets.shape)} differs from logits shape {tuple(logits.shape)}")
    if pos_weight.shape != (logits.shape[1],):
        raise ValueError(f"pos_weight must have shape (C,) = ({logits.shape[1]},); got {tuple(pos_weight.shape)}")
    return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype),
                                              pos_weight=pos_weight.to(logits.dtype), reduction="mean")


# --------------------------------------------------------------------------- §3.2, §3.3
def _per_sample_max(similarity: Tensor, mask: Tensor) -> Tensor:
    """Max of ``similarity`` over the prototypes allowed by ``mask``, for rows with one at least.

    similarity, mask: (B, P); returns (B',) for the B' rows whose mask is not empty.
    """
    rows = mask.any(dim=1)                                                     # (B,)
    masked = similarity[rows].masked_fill(~mask[rows], float("-inf"))          # (B', P)
    return masked.amax(dim=1)                                                  # (B',)


def _mean_or_zero(values: Tensor, like: Tensor) -> Tensor:
    return values.mean() if values.numel() else like.sum() * 0.0


def clustering_loss(similarity: Tensor, targets: Tensor, class_identity: Tensor, variant: str = "code") -> Tensor:
    """Clustering cost: pull each sample towards prototypes of its own classes (method §3.2, §9.1 A3).

    * ``"code"`` (default, the reference semantics the λ's were tuned for):
      ``L_clst = -(1/BC) Σ_{b,c} max_j (s_bj A_jc y_bc)``. Masked entries enter the max as 0, so a
      present class gives ``-max(0, max_{j∈P_c} s_bj)`` and an absent class 0 (still counted in ``BC``).
    * ``"protopnet"`` (clean multi-label ProtoPNet): per sample, ``-max`` over the prototypes of the
      sample's positive classes, averaged over the samples with at least one positive class (0 when
      there is none in the batch).

    Parameters
    ----------
    similarity : Tensor, shape (B, P)
    targets : Tensor, shape (B, C)
    class_identity : Tensor, shape (P, C)
    variant : {"code", "protopnet"}

    Returns
    -------
    Tensor, scalar
    """
    check_variant(variant)
    check_batch(similarity, targets, class_identity)
    y = targets.to(similarity.dtype)
    a = class_identity.to(similarity.dtype)
    if variant == "code":
        masked = similarity[:, :, None] * a[None] * y[:, None, :]              # (B, P, C)
        return -masked.amax(dim=1).mean()                                      # mean over (B, C)
    own = (y @ a.T) > 0                                                        # (B, P) prototype of a positive class
    return -_mean_or_zero(_per_sample_max(similarity, own), similarity)


def separation_loss(similarity: Tensor, targets: Tensor, class_identity: Tensor, variant: str = "code") -> Tensor:
    """Separation cost: push each sample away from prototypes of other classes (method §3.3, §9.1 A3).

    * ``"code"`` (default): ``L_sep = (1/BC) Σ_{b,c} max_j (s_bj (1 - A_jc y_bc))``. A present class
      gives ``max(0, max_{j∉P_c} s_bj)``; an **absent** class gives the max over **all** prototypes,
      including those of the sample's own positive classes (the reference code's quirk).
    * ``"protopnet"``: per sample, ``max`` over the prototypes of the classes the sample does not
      have, averaged over the samples that have such prototypes (0 when none).

    Parameters
    ----------
    similarity : Tensor, shape (B, P)
    targets : Tensor, shape (B, C)
    class_identity : Tensor, shape (P, C)
    variant : {"code", "protopnet"}

    Returns
    -------
    Tensor, scalar
    """
    check_variant(variant)
    check_batch(similarity, targets, class_identity)
    y = targets.to(similarity.dtype)
    a = class_identity.to(similarity.dtype)
    if variant == "code":
        keep = 1.0 - a[None] * y[:, None, :]                                   # (B, P, C)
        return (similarity[:, :, None] * keep).amax(dim=1).mean()              # mean over (B, C)
    other = (y @ a.T) == 0                                                     # (B, P) prototype of no positive class
    return _mean_or_zero(_per_sample_max(similarity, other), similarity)


# --------------------------------------------------------------------------- §3.4
def sparsity_loss(similarity: Tensor) -> Tensor:
    """Sparsity cost ``(1/B) Σ_b Σ_j max(s_bj, 0)`` (method §3.4; λ_spars = 0 in the paper setup).

    Parameters
    ----------
    similarity : Tensor, shape (B, P)

    Returns
    -------
    Tensor, scalar
    """
    check_2d(similarity, "similarity (B, P)")
    return similarity.clamp(min=0).sum(dim=1).mean()


# --------------------------------------------------------------------------- §3.5, §3.6
def prototype_cosines(prototypes: Tensor) -> Tensor:
    """Cosine matrix ``P̂P̂ᵀ`` of the flattened prototypes (method §3, notation).

    Parameters
    ----------
    prototypes : Tensor, shape (P, ...)
        ``(P, D)`` for the 1D branch, ``(P, D, 1, T)`` for 2D branches; flattened to ``(P, D*T)``.

    Returns
    -------
    Tensor, shape (P, P)
        Unclamped cosines; the diagonal is 1 (0 for an all-zero prototype).
    """
    if not isinstance(prototypes, Tensor) or prototypes.dim() < 2:
        raise ValueError("prototypes must be a tensor of shape (P, D) or (P, D, 1, T); got "
                         f"{getattr(prototypes, 'shape', type(prototypes).__name__)}")
    unit = F.normalize(prototypes.reshape(prototypes.shape[0], -1), dim=1, eps=_NORM_EPS)  # (P, D*T)
    return unit @ unit.T                                                       # (P, P)


def diversity_from_cosines(cosines: Tensor) -> Tensor:
    p = cosines.shape[0]
    eye = torch.eye(p, dtype=cosines.dtype, device=cosines.device)             # (P, P)
    return (cosines - eye).pow(2).sum() / p ** 2


def diversity_loss(prototypes: Tensor) -> Tensor:
    """Diversity (orthogonality) cost ``‖P̂P̂ᵀ - I‖_F² / P²`` (method §3.5, §9.1 A5).

    Equals ``(1/P²) Σ_{i≠j} cos²(p_i, p_j)`` for non-zero prototypes; same-class pairs included.
    About ``1/D`` for random N(0, 1) prototypes of flattened size ``D``.

    Parameters
    ----------
    prototypes : Tensor, shape (P, D) or (P, D, 1, T)

    Returns
    -------
    Tensor, scalar
    """
    return diversity_from_cosines(prototype_cosines(prototypes))


def contrastive_masks(class_identity: Tensor, cooccurrence: Tensor) -> tuple[Tensor, Tensor]:
    """Normalised positive and negative masks of the contrastive loss (method §3.6).

    ``M⁺ = A J Aᵀ``, ``M⁻ = 1 - M⁺``, ``M̃ = M / (ΣM + 1e-6)``.

    Parameters
    ----------
    class_identity : Tensor, shape (P, C)
    cooccurrence : Tensor, shape (C, C)
        Jaccard matrix of the training targets.

    Returns
    -------
    (Tensor, Tensor), each shape (P, P)
        ``M̃⁺`` and ``M̃⁻``; each sums to 1 (or to 0 when its mask is empty).
    """
    check_2d(class_identity, "class_identity (P, C)")
    check_2d(cooccurrence, "cooccurrence (C, C)")
    c = class_identity.shape[1]
    if cooccurrence.shape != (c, c):
        raise ValueError(f"cooccurrence has shape {tuple(cooccurrence.shape)}; expected (C, C) = ({c}, {c}) "
                         "from class_identity (P, C)")
    a = class_identity.to(cooccurrence.dtype)
    pos = a @ cooccurrence @ a.T                                               # (P, P) M⁺
    neg = 1.0 - pos                                                            # (P, P) M⁻
    return pos / (pos.sum() + _MASK_EPS), neg / (neg.sum() + _MASK_EPS)


def contrastive_from_cosines(cosines: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
    s = cosines.clamp(-1.0 + _CLAMP, 1.0 - _CLAMP)                             # (P, P)
    pos, neg = pos.to(s.dtype), neg.to(s.dtype)
    return -((s * pos).sum() - (s * neg).sum()) / math.sqrt(s.shape[0])


def contrastive_loss(prototypes: Tensor, class_identity: Tensor, cooccurrence: Tensor) -> Tensor:
    """Contrastive prototype loss with the corrected sign (method §3.6, §9.1 A5).

    ``L_cnrst = -(⟨S, M̃⁺⟩ - ⟨S, M̃⁻⟩) / √P`` with ``S = clamp(P̂P̂ᵀ, -1+1e-6, 1-1e-6)`` and the masks
    of :func:`contrastive_masks`: it raises the co-occurrence-weighted mean cosine between prototypes
    of co-occurring classes and lowers the ``(1 - J)``-weighted mean cosine between prototypes of
    unrelated classes. The clamp leaves the diagonal (self-similarity) without gradient.

    A class with **no training positive** has a zero Jaccard row and column (diagonal included), so
    every pair involving one of its prototypes -- with itself, with its own class-mates and with all
    other prototypes -- lands only in the negative mask: those prototypes are pushed away from every
    other prototype and pulled towards none (like the diversity term does). The loss stays finite
    (the ``+1e-6`` keeps the normalisers non-zero, even when every class is empty).

    Parameters
    ----------
    prototypes : Tensor, shape (P, D) or (P, D, 1, T)
    class_identity : Tensor, shape (P, C)
    cooccurrence : Tensor, shape (C, C)

    Returns
    -------
    Tensor, scalar
    """
    cosines = prototype_cosines(prototypes)                                    # (P, P)
    if class_identity.shape[0] != cosines.shape[0]:
        raise ValueError(f"class_identity has {class_identity.shape[0]} rows but there are "
                         f"{cosines.shape[0]} prototypes; expected (P, C)")
    pos, neg = contrastive_masks(class_identity.to(cosines), cooccurrence.to(cosines))
    return contrastive_from_cosines(cosines, pos, neg)


# --------------------------------------------------------------------------- §3.7
def l1_last_layer(weight: Tensor, class_identity: Tensor | None = None) -> Tensor:
    """L1 penalty on last-layer weights (method §3.7).

    * branch classifier (``class_identity`` given): ``Σ_{c,j} |W_cj| (1 - A_jc)``, only wrong-class
      connections;
    * fusion classifier (``class_identity=None``): ``Σ_{c,j} |W_cj|``, all weights (bias excluded:
      pass the weight only).

    Parameters
    ----------
    weight : Tensor, shape (C, P)
    class_identity : Tensor, shape (P, C), or None

    Returns
    -------
    Tensor, scalar
    """
    check_2d(weight, "weight (C, P)")
    if class_identity is None:
        return weight.abs().sum()
    check_2d(class_identity, "class_identity (P, C)")
    if class_identity.shape != (weight.shape[1], weight.shape[0]):
        raise ValueError(f"class_identity has shape {tuple(class_identity.shape)}; expected (P, C) = "
                         f"({weight.shape[1]}, {weight.shape[0]}) from weight (C, P)")
    return (weight.abs() * (1.0 - class_identity.T.to(weight.dtype))).sum()   # (C, P) masked


def fusion_loss(logits: Tensor, targets: Tensor, pos_weight: Tensor, weight: Tensor,
                masked_identity: Tensor | None = None, l1: float = 1e-4) -> tuple[Tensor, dict[str, Tensor]]:
    """Loss of the fusion stage: weighted BCE over the 71 labels plus L1 on the fusion weights (method §3.7, §6).

    Parameters
    ----------
    logits : Tensor, shape (B, 71)
    targets : Tensor, shape (B, 71)
    pos_weight : Tensor, shape (71,)
        Class weights of the 71-label set (training split).
    weight : Tensor, shape (71, P_total)
        Fusion layer weight (its bias is not penalised).
    masked_identity : Tensor, shape (P_total, 71), optional
        Class identity of the concatenated prototypes for the masked variant (method §9.1 A4);
        default None penalises all weights (reference code).
    l1 : float
        λ_l1.

    Returns
    -------
    total : Tensor, scalar
    terms : dict
        Detached unweighted terms ``{"cls", "l1"}``.
    """
    cls = weighted_bce(logits, targets, pos_weight)
    reg = l1_last_layer(weight, masked_identity)
    return cls + l1 * reg, {"cls": cls.detach(), "l1": reg.detach()}
