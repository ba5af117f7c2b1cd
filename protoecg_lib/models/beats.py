"""Beat-timing encoder of the rhythm branch (an option the paper does not have, see :mod:`protoecg_lib.data.rr`).

:class:`BeatEncoder` turns ``signals (B, 12, T)`` into an embedding ``(B, E)`` of the record's RR
intervals: R peaks on one lead (NeuroKit2 by default), the :data:`~protoecg_lib.data.rr.BEAT_FEATURES`
summary ``(B, K)``, then BatchNorm (learned standardisation, running statistics saved with the
weights) - Linear(K, E) - ReLU - Linear(E, E) - ReLU. The branch concatenates the embedding with the
pooled backbone features before the add-on, so the add-on output -- the latent the prototypes live
in -- carries beat timing, and a projected rhythm prototype inherits its source ECG's RR pattern.

Features are computed without gradient on the CPU and memoised by record content
(:func:`protoecg_lib.data.rr.beat_feature_matrix`): the detector runs once per record however often the
record passes through the model.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from ..data import rr

__all__ = ["BeatEncoder"]


class BeatEncoder(nn.Module):
    """RR-interval features -> embedding.

    Parameters
    ----------
    dim : int
        ``E``, the embedding width.
    fs : float
        Sampling rate of the signals (Hz).
    lead : int
        Lead for R-peak detection (1 = lead II).
    method : {'neurokit', 'gqrs'}
        R-peak detector (:func:`protoecg_lib.data.rr.detect_r_peaks`).
    """

    def __init__(self, dim: int = 32, fs: float = 100.0, lead: int = 1, method: str = "neurokit") -> None:
        super().__init__()
        self.fs, self.lead, self.method = float(fs), int(lead), method
        k = len(rr.BEAT_FEATURES)
        self.net = nn.Sequential(nn.BatchNorm1d(k), nn.Linear(k, dim), nn.ReLU(), nn.Linear(dim, dim), nn.ReLU())
        self.out_features = int(dim)

    @torch.no_grad()
    def features(self, signals: Tensor) -> Tensor:
        """Beat features ``(B, K)`` float32 on ``signals``' device (no gradient; memoised)."""
        x = signals.detach().float().cpu().numpy()
        feats = rr.beat_feature_matrix(x, self.fs, lead=self.lead, method=self.method)   # (B, K)
        return torch.from_numpy(np.ascontiguousarray(feats)).to(signals.device)

    def forward(self, signals: Tensor) -> Tensor:
        """``signals (B, 12, T)`` -> embedding ``(B, E)``."""
        return self.net(self.features(signals))

    def extra_repr(self) -> str:
        return f"fs={self.fs:g}, lead={self.lead}, detector={self.method!r}"
