"""Label probabilities from a run's logits: the one function every caller goes through.

A probability is the run's **calibrated** probability when the run stores a calibration (the
pipeline's calibration stage, :mod:`protoecg_lib.training.calibrate`: prior correction for the class
weights and Platt scaling, fitted on the validation fold), and ``sigmoid(logit)`` otherwise (method §6,
the fused model's output; runs written before calibration existed). Every caller --
``explain_ecg``, ``explain_record``, ``protoecg predict`` -- goes through :func:`probabilities`, and
:func:`listed` gives the labels the run lists: its calibration's operating point (each ECG its
expected number of labels), or ``probability >= threshold`` without a calibration.
"""
from __future__ import annotations

import numpy as np

from ..evaluation.auroc import sigmoid
from ..evaluation.calibration import Calibration

__all__ = ["probabilities", "listed", "calibration_of"]


def calibration_of(source) -> Calibration | None:
    """The calibration behind ``source``: a :class:`Calibration` itself, a run's fused-model calibration
    (``Run.calibration()``), or None (None, or a run without one)."""
    if source is None or isinstance(source, Calibration):
        return source
    return source.calibration()


def _logits(logits) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim == 0:
        raise ValueError("logits must have a label axis, shape (..., C); got a scalar")
    return z


def probabilities(run, logits) -> np.ndarray:
    """Probabilities ``(..., C)`` float64 of the run's logits ``(..., C)``: calibrated when the run has a
    calibration, else ``sigmoid``.

    Parameters
    ----------
    run : Run, Calibration or None
        The run the logits come from (or its calibration; None: a model without a run, plain sigmoid).
    logits : array-like, shape (..., C)
        Logits of the fused model, in the run's label order.
    """
    z = _logits(logits)
    cal = calibration_of(run)
    if cal is None:
        return sigmoid(z)
    return cal.apply(z.reshape(-1, z.shape[-1])).reshape(z.shape)


def listed(run, logits, threshold: float = 0.5) -> np.ndarray:
    """Which labels the run lists, boolean ``(..., C)``: its calibration's operating point
    (:meth:`Calibration.predict`), or ``probabilities >= threshold`` without a calibration."""
    z = _logits(logits)
    cal = calibration_of(run)
    if cal is None:
        return sigmoid(z) >= float(threshold)
    return cal.predict(z.reshape(-1, z.shape[-1])).reshape(z.shape)
