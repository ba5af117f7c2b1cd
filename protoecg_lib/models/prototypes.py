"""Prototype layer (global and time-localised prototypes), similarities and the class identity.

* 1D branch (method §2.1): ``P`` vectors ``(P, D)``; cosine similarity to the pooled latent, norms
  clamped below at 1e-12; one "window" per record.
* 2D branches (method §2.2): ``P`` patches ``(P, D, 1, T)`` slid over the latent map ``(B, D, 1, L)``
  with stride 1, ``W = L - T + 1`` windows, all at once (a 1D convolution, no Python loop)::

      s_bjw = scale * <u_bw, p_j> / ( sqrt(|u_bw|^2 + eps) * sqrt(|p_j|^2 + eps) ),  eps = 1e-4

  with ``scale = 13`` for T = 3 and ``4`` for T = 32 in the paper (§9.1 A2). Global 2D prototypes
  (T = the latent length of a 1000-sample record) see a single window; a longer record (500 Hz,
  L = 157) is first averaged down to T latent steps (adaptive average pooling), so a global
  prototype always describes the whole record.
* Pooling over windows for the classifier (§9.1 A1): ``mean`` (default, as the released code),
  ``max`` or ``topk`` (mean of the k best windows).
* Class identity ``A (P, C)``: prototype ``j`` belongs to class ``j // m``; the last layer is
  initialised to +1 on own-class connections and -0.5 elsewhere (§2.3).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "PrototypeLayer", "cosine_similarity", "scaled_cosine_similarity", "pool_windows",
    "class_identity", "last_layer_weights", "COSINE_EPS", "SCALED_COSINE_EPS",
]

#: Lower clamp of the norms in the 1D cosine (method §2.1).
COSINE_EPS = 1e-12
#: Epsilon inside the square roots of the 2D scaled cosine (method §2.2).
SCALED_COSINE_EPS = 1e-4


def cosine_similarity(latent: Tensor, prototypes: Tensor, eps: float = COSINE_EPS) -> Tensor:
    """Cosine between pooled latents and prototype vectors (method §2.1).

    Parameters
    ----------
    latent : Tensor, shape (B, D)
    prototypes : Tensor, shape (P, D)
    eps : float
        Norms are clamped below at ``eps``.

    Returns
    -------
    Tensor, shape (B, P), values in [-1, 1].
    """
    z = F.normalize(latent, dim=1, eps=eps)        # (B, D)
    p = F.normalize(prototypes, dim=1, eps=eps)    # (P, D)
    return z @ p.t()                               # (B, P)


def scaled_cosine_similarity(latent: Tensor, prototypes: Tensor, scale: float,
                             eps: float = SCALED_COSINE_EPS) -> Tensor:
    """Scaled cosine of every prototype with every stride-1 window of a latent map (method §2.2).

    Parameters
    ----------
    latent : Tensor, shape (B, D, L)
        The latent map with its height-1 axis removed.
    prototypes : Tensor, shape (P, D, T)
    scale : float
        The constant ``L / T`` of method §2.2 (13 or 4 in the paper).
    eps : float
        Added to both squared norms inside the square roots.

    Returns
    -------
    Tensor, shape (B, P, W) with ``W = L - T + 1``; ``|s| <= scale``.
    """
    length = prototypes.shape[-1]
    if latent.shape[-1] < length:
        raise ValueError(f"latent map of length {latent.shape[-1]} is shorter than the prototypes ({length})")
    dots = F.conv1d(latent, prototypes)                                   # (B, P, W)
    window_sq = latent.pow(2).sum(1, keepdim=True).unfold(2, length, 1).sum(-1)  # (B, 1, W)
    proto_sq = prototypes.pow(2).sum(dim=(1, 2))                          # (P,)
    denom = (window_sq + eps).sqrt() * (proto_sq + eps).sqrt()[None, :, None]  # (B, P, W)
    return scale * dots / denom                                           # (B, P, W)


def pool_windows(window_similarity: Tensor, pool: str = "mean", topk: int = 5) -> Tensor:
    """Pool window similarities ``(B, P, W)`` to ``(B, P)`` by ``mean``, ``max`` or ``topk`` (§9.1 A1).

    ``topk`` averages the ``min(topk, W)`` largest windows of each prototype.
    """
    if pool == "mean":
        return window_similarity.mean(dim=-1)
    if pool == "max":
        return window_similarity.amax(dim=-1)
    if pool == "topk":
        k = min(int(topk), window_similarity.shape[-1])
        return window_similarity.topk(k, dim=-1).values.mean(dim=-1)
    raise ValueError(f"unknown window pooling {pool!r}; choose 'mean', 'max' or 'topk'")


def class_identity(num_classes: int, prototypes_per_class: int) -> Tensor:
    """Class-identity matrix ``A (P, C)``: ``A[j, c] = 1`` iff ``j // m == c`` (method §2.3)."""
    owner = torch.arange(num_classes * prototypes_per_class) // prototypes_per_class  # (P,)
    return F.one_hot(owner, num_classes).to(torch.float32)                        # (P, C)


def last_layer_weights(identity: Tensor, correct: float = 1.0, incorrect: float = -0.5) -> Tensor:
    """ProtoPNet-style last-layer weight ``(C, P)`` from ``A (P, C)``: ``correct`` where
    ``A[j, c] = 1``, ``incorrect`` elsewhere (method §2.3)."""
    a = identity.t()                                  # (C, P)
    return correct * a + incorrect * (1.0 - a)        # (C, P)


class PrototypeLayer(nn.Module):
    """Learnable prototypes and their similarities to a latent (method §2.1-2.2).

    Parameters
    ----------
    num_prototypes : int
        ``P``.
    proto_dim : int
        ``D``, the latent width.
    length : int or None
        ``None`` for 1D prototype vectors ``(P, D)``; ``T`` for 2D prototypes ``(P, D, 1, T)``.
    scale : float
        Scaled-cosine constant (2D only; the 1D cosine has none).
    global_prototypes : bool
        2D only: the prototypes span the whole record, so a latent map longer than ``T`` is
        averaged down to ``T`` steps (one window). False: they slide (``W = L - T + 1``).
    window_pool : {'mean', 'max', 'topk'}
    topk : int
    init : {'normal', 'uniform'}
        Prototypes start i.i.d. N(0, 1) (method §2.1-2.2, ``normal``) or U(0, 1) (``uniform``).
    """

    def __init__(self, num_prototypes: int, proto_dim: int, length: int | None = None, *,
                 scale: float = 1.0, global_prototypes: bool = False,
                 window_pool: str = "mean", topk: int = 5, init: str = "normal") -> None:
        super().__init__()
        pool_windows(torch.zeros(1, 1, 1), window_pool, topk)  # validate the pooling name early
        self.num_prototypes = int(num_prototypes)
        self.proto_dim = int(proto_dim)
        self.length = None if length is None else int(length)
        self.scale = float(scale) if self.length is not None else 1.0
        self.global_prototypes = bool(global_prototypes) or self.length is None
        self.window_pool = window_pool
        self.topk = int(topk)
        shape = (self.num_prototypes, self.proto_dim) if self.length is None else \
            (self.num_prototypes, self.proto_dim, 1, self.length)
        if init == "normal":
            values = torch.randn(shape)
        elif init == "uniform":
            values = torch.rand(shape)
        else:
            raise ValueError(f"prototype init must be 'normal' or 'uniform', got {init!r}")
        self.prototypes = nn.Parameter(values)

    @property
    def prototype_shape(self) -> tuple[int, ...]:
        """``(P, D)`` for 1D prototypes, ``(P, D, 1, T)`` for 2D prototypes."""
        return tuple(self.prototypes.shape)

    @property
    def window_size(self) -> int:
        """Entries of one flattened window / prototype: ``D`` (1D) or ``D * T`` (2D)."""
        return self.prototypes[0].numel()

    def num_windows(self, latent_length: int) -> int:
        """Windows over a latent map of ``latent_length`` steps (1 for global prototypes)."""
        if self.global_prototypes:
            return 1
        windows = latent_length - self.length + 1
        if windows < 1:
            raise ValueError(f"a latent map of {latent_length} steps is shorter than the prototypes "
                             f"({self.length} steps); the input ECG is too short")
        return windows

    def _latent_map(self, latent: Tensor) -> Tensor:
        """2D latent ``(B, D, 1, L)`` -> ``(B, D, L')`` ready to slide over (``L' = T`` when global)."""
        if latent.ndim != 4 or latent.shape[1] != self.proto_dim or latent.shape[2] != 1:
            raise ValueError(f"2D prototypes expect a latent of shape (B, {self.proto_dim}, 1, L), "
                             f"got {tuple(latent.shape)}")
        z = latent[:, :, 0]                                   # (B, D, L)
        if self.global_prototypes and z.shape[-1] != self.length:
            z = F.adaptive_avg_pool1d(z, self.length)          # (B, D, T)
        self.num_windows(z.shape[-1])
        return z

    def windows(self, latent: Tensor) -> Tensor:
        """Flattened latent patch of every window, in the prototypes' flattening order.

        Parameters
        ----------
        latent : Tensor, shape (B, D) for 1D or (B, D, 1, L) for 2D

        Returns
        -------
        Tensor, shape (B, W, K)
            ``K = D`` (1D, ``W = 1``) or ``D * T``; ``windows(latent)[b, w].view(prototype_shape[1:])``
            is the value a projected prototype takes (method §5).
        """
        if self.length is None:
            if latent.ndim != 2 or latent.shape[1] != self.proto_dim:
                raise ValueError(f"1D prototypes expect a latent of shape (B, {self.proto_dim}), "
                                 f"got {tuple(latent.shape)}")
            return latent[:, None, :]                          # (B, 1, D)
        z = self._latent_map(latent)                           # (B, D, L')
        patches = z.unfold(2, self.length, 1)                  # (B, D, W, T)
        return patches.permute(0, 2, 1, 3).reshape(z.shape[0], -1, self.window_size)  # (B, W, D*T)

    def patch_forward(self, patches: Tensor) -> tuple[Tensor, Tensor]:
        """Similarities to latent patches computed window by window (the local-prototype variant).

        Parameters
        ----------
        patches : Tensor, shape (B, D, W, T)
            One ``D x T`` latent patch per window (``ProtoBranch.encode`` with ``local_windows``).

        Returns
        -------
        window_similarity : Tensor, shape (B, P, W)
            The scaled cosine of method §2.2 between each prototype and each patch.
        similarity : Tensor, shape (B, P)
            Pooled by ``window_pool``.
        """
        if self.length is None or patches.ndim != 4 or patches.shape[1] != self.proto_dim \
                or patches.shape[3] != self.length:
            raise ValueError(f"patches must have shape (B, {self.proto_dim}, W, {self.length}), "
                             f"got {tuple(patches.shape)}")
        u = patches.permute(0, 2, 1, 3).reshape(patches.shape[0], patches.shape[2], -1)   # (B, W, K)
        p = self.prototypes.reshape(self.num_prototypes, -1)                               # (P, K)
        dots = torch.einsum("bwk,pk->bpw", u, p)                                            # (B, P, W)
        denom = (u.pow(2).sum(-1) + SCALED_COSINE_EPS).sqrt()[:, None, :] * \
            (p.pow(2).sum(-1) + SCALED_COSINE_EPS).sqrt()[None, :, None]                   # (B, P, W)
        window_sim = self.scale * dots / denom
        return window_sim, pool_windows(window_sim, self.window_pool, self.topk)

    def forward(self, latent: Tensor) -> tuple[Tensor, Tensor]:
        """Similarities of every prototype to every window, and pooled over windows.

        Parameters
        ----------
        latent : Tensor, shape (B, D) for 1D or (B, D, 1, L) for 2D

        Returns
        -------
        window_similarity : Tensor, shape (B, P, W)
        similarity : Tensor, shape (B, P)
            ``window_similarity`` pooled by ``window_pool``.
        """
        if self.length is None:
            if latent.ndim != 2 or latent.shape[1] != self.proto_dim:
                raise ValueError(f"1D prototypes expect a latent of shape (B, {self.proto_dim}), "
                                 f"got {tuple(latent.shape)}")
            sim = cosine_similarity(latent, self.prototypes)   # (B, P)
            return sim[:, :, None], sim                        # (B, P, 1), (B, P)
        z = self._latent_map(latent)                           # (B, D, L')
        window_sim = scaled_cosine_similarity(z, self.prototypes[:, :, 0], self.scale)  # (B, P, W)
        return window_sim, pool_windows(window_sim, self.window_pool, self.topk)

    @torch.no_grad()
    def set_prototypes(self, values: Tensor, index: int | Sequence[int] | Tensor | None = None) -> None:
        """Overwrite all prototypes, or those at ``index`` (used by projection, method §5).

        Parameters
        ----------
        values : Tensor
            All prototypes: ``prototype_shape`` or flattened ``(P, K)``. With ``index``: ``(n, ...)``
            of the same per-prototype shape, or one prototype when ``index`` is an int.
        index : int, sequence of int or LongTensor, optional
        """
        one = self.prototype_shape[1:]
        values = torch.as_tensor(values)
        if index is None:
            n, idx = self.num_prototypes, slice(None)
        else:
            idx = torch.as_tensor(index, dtype=torch.long).reshape(-1)
            if idx.numel() and (idx.min() < 0 or idx.max() >= self.num_prototypes):
                raise IndexError(f"prototype index out of range [0, {self.num_prototypes}): {idx.tolist()}")
            n = idx.numel()
            if isinstance(index, int) and tuple(values.shape) in (one, (self.window_size,)):
                values = values[None]
        if tuple(values.shape) == (n, self.window_size):
            values = values.reshape(n, *one)
        if tuple(values.shape) != (n, *one):
            raise ValueError(f"set_prototypes: expected shape {(n, *one)} (or {(n, self.window_size)}), "
                             f"got {tuple(values.shape)}")
        self.prototypes[idx] = values.to(self.prototypes.device, self.prototypes.dtype)

    def extra_repr(self) -> str:
        kind = "1d cosine" if self.length is None else \
            f"2d scaled cosine x{self.scale:g}, T={self.length}, {'global' if self.global_prototypes else 'sliding'}"
        return f"shape={self.prototype_shape}, {kind}, pool={self.window_pool}"
