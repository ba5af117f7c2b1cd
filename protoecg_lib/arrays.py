"""Small array conversions shared by the teaching helpers and the figures: tensors or arrays in,
checked NumPy arrays out, with errors that name the argument."""
from __future__ import annotations

import numpy as np

__all__ = ["as_numeric", "as_matrix", "unit_rows"]

_UNIT_EPS = 1e-12  # norms clamped below, as in the 1D cosine (method §2.1)


def as_numeric(x, name: str) -> np.ndarray:
    """``x`` (tensor or array-like) as a NumPy array of numbers or booleans."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    return arr


def as_matrix(x, name: str) -> np.ndarray:
    """``x`` as a finite float64 ``(N, K)`` array; ``(N, ...)`` inputs are flattened per row."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    a = np.asarray(x, dtype=np.float64)
    if a.ndim < 2:
        raise ValueError(f"{name} must have shape (N, K) (or (N, ...), flattened per row); got shape {a.shape}")
    a = a.reshape(a.shape[0], -1)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} of shape {a.shape} holds NaN or inf values")
    return a


def unit_rows(a: np.ndarray) -> np.ndarray:
    """Rows of ``a`` scaled to unit L2 norm (norms clamped below at 1e-12)."""
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), _UNIT_EPS)
