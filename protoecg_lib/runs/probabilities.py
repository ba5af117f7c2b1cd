"""Label probabilities from a run's logits: the one function every caller goes through.

Today a probability is ``sigmoid(logit)`` (spec §6, the fused model's output). A run may later
store a calibration (issue #16); it then applies here, and every caller -- ``explain_ecg``,
``explain_record``, ``protoecg predict`` -- gets calibrated probabilities without changing.
"""
from __future__ import annotations

import numpy as np

from ..evaluation.auroc import sigmoid

__all__ = ["probabilities"]


def probabilities(run, logits) -> np.ndarray:
    """Probabilities ``(..., C)`` float64 of the run's logits ``(..., C)`` (``sigmoid`` without a calibration).

    Parameters
    ----------
    run : Run or None
        The run the logits come from (None: a model without a run, plain sigmoid).
    logits : array-like, shape (..., C)
        Logits of the fused model, in the run's label order.
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim == 0:
        raise ValueError("logits must have a label axis, shape (..., C); got a scalar")
    return sigmoid(z)
