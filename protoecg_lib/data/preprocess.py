"""Preprocessing: baseline-wander removal (method §1.2) and optional per-lead standardisation.

The reference preprocessing (method §1.2) is a first-order Butterworth high-pass at 0.5 Hz, applied
zero-phase (forward-backward, SciPy's default odd-extension padding) to every lead of every record.
Standardisation is off by default; when on, it uses per-lead statistics from the training split
only (the official code's 2D reshape normalises per time index instead, method §9.2 B5).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, filtfilt

__all__ = ["highpass", "HIGHPASS_CUTOFF_HZ", "HIGHPASS_ORDER", "LeadStandardizer"]

HIGHPASS_CUTOFF_HZ = 0.5
HIGHPASS_ORDER = 1


def highpass(signals: np.ndarray, fs: float, cutoff_hz: float = HIGHPASS_CUTOFF_HZ,
             order: int = HIGHPASS_ORDER) -> np.ndarray:
    """Zero-phase Butterworth high-pass along the last axis.

    Parameters
    ----------
    signals : ndarray, shape (..., T)
        ECG signals in mV; any leading shape (one lead, one ECG ``(12, T)``, a batch ``(N, 12, T)``).
    fs : float
        Sampling rate in Hz; the filter is designed for it (at 100 Hz the normalised cutoff is 0.5/50).
    cutoff_hz, order : float, int
        The method's values by default: 0.5 Hz, first order.

    Returns
    -------
    ndarray, float32, same shape.
    """
    if not 0 < cutoff_hz < fs / 2:
        raise ValueError(f"cutoff {cutoff_hz} Hz must lie between 0 and the Nyquist frequency {fs / 2} Hz")
    b, a = butter(order, cutoff_hz, btype="highpass", fs=fs)
    return filtfilt(b, a, signals, axis=-1).astype(np.float32, copy=False)


@dataclass
class LeadStandardizer:
    """Per-lead z-scoring with statistics fitted on training signals only.

    ``mean`` and ``std`` have shape ``(12,)``: one value per lead over all time points of all
    training records (method §1.2, done per lead as intended).
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, signals: np.ndarray, chunk: int = 1024) -> "LeadStandardizer":
        """Fit on training signals ``(N, 12, T)`` in chunks (works on a memory map without loading it)."""
        n_leads = signals.shape[1]
        total = np.zeros(n_leads, np.float64)
        total_sq = np.zeros(n_leads, np.float64)
        count = 0
        for start in range(0, len(signals), chunk):
            block = np.asarray(signals[start:start + chunk], dtype=np.float64)  # (n, 12, T)
            total += block.sum(axis=(0, 2))
            total_sq += np.square(block).sum(axis=(0, 2))
            count += block.shape[0] * block.shape[2]
        if count == 0:
            raise ValueError("cannot fit a standardizer on an empty training split")
        mean = total / count
        std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
        return cls(mean.astype(np.float32), np.maximum(std, 1e-6).astype(np.float32))

    def transform(self, signals: np.ndarray) -> np.ndarray:
        """``(x - mean) / std`` per lead; returns a new float32 array."""
        return ((np.asarray(signals, np.float32) - self.mean[:, None]) / self.std[:, None]).astype(np.float32)

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "LeadStandardizer":
        return cls(np.asarray(d["mean"], np.float32), np.asarray(d["std"], np.float32))
