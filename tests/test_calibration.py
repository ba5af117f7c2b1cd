"""Calibration: prior correction for pos_weight, Platt scaling, the operating point."""
from __future__ import annotations

import numpy as np
import pytest

from protoecg_lib.evaluation.calibration import (Calibration, calibration_report, expected_calibration_error,
                                      fit_calibration, prior_correction)


def _weighted_model_logits(n=4000, c=6, seed=0):
    """Targets with known probabilities, and the logits a pos_weight-trained model would output."""
    rng = np.random.default_rng(seed)
    true_logit = rng.normal(-2.5, 2.0, size=(n, c))
    y = (rng.random((n, c)) < 1 / (1 + np.exp(-true_logit))).astype(float)
    w = np.array([1.0, 5.0, 20.0, 50.0, 0.5, 0.0])
    shift = np.where(w > 0, np.log(np.where(w > 0, w, 1)), 0)
    return 3.0 * true_logit + shift, y, w          # over-confident (x3) plus the log(w) shift


def test_prior_correction_is_log_weight_and_zero_without_positives():
    np.testing.assert_allclose(prior_correction([1.0, np.e, 0.0]), [0.0, 1.0, 0.0])


def test_platt_recovers_calibrated_probabilities():
    z, y, w = _weighted_model_logits()
    cal = fit_calibration(z[:2000], y[:2000], w, method="platt")
    p = cal.apply(z[2000:])
    raw = 1 / (1 + np.exp(-z[2000:]))
    assert expected_calibration_error(y[2000:], p) < 0.02
    assert expected_calibration_error(y[2000:], p) < expected_calibration_error(y[2000:], raw) / 3
    np.testing.assert_allclose(cal.slope[:5], 1 / 3, atol=0.08)


@pytest.mark.parametrize("method", ["prior", "temperature", "pooled", "platt"])
def test_methods_and_roundtrip(method, tmp_path):
    z, y, w = _weighted_model_logits(n=500)
    cal = fit_calibration(z, y, w, labels=list("abcdef"), method=method, operating_point="f1")
    again = Calibration.load(cal.save(tmp_path / "cal.json"))
    np.testing.assert_allclose(again.apply(z), cal.apply(z))
    assert again.labels == tuple("abcdef") and again.predict(z).shape == z.shape
    rep = calibration_report(cal, z, y)
    assert set(rep) == {"true_median", "true_mean", "raw", "calibrated"}


def test_calibration_is_monotone_per_label():
    z, y, w = _weighted_model_logits(n=800)
    cal = fit_calibration(z, y, w)
    order = np.argsort(z[:, 2])
    assert np.all(np.diff(cal.apply(z)[order, 2]) >= -1e-12)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="same shape"):
        fit_calibration(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="method"):
        fit_calibration(np.zeros((4, 2)), np.zeros((4, 2)), method="isotonic")
    with pytest.raises(ValueError, match="columns"):
        fit_calibration(np.zeros((4, 2)), np.zeros((4, 2))).apply(np.zeros((1, 3)))


def test_expected_rule_lists_the_expected_count():
    z, y, w = _weighted_model_logits(n=300)
    cal = fit_calibration(z, y, w, operating_point="expected")
    assert cal.rule == "expected"
    p, listed = cal.apply(z), cal.predict(z)
    np.testing.assert_array_equal(listed.sum(1), np.maximum(1, np.rint(p.sum(1))))
    top = np.argmax(p, axis=1)
    assert listed[np.arange(len(z)), top].all()
