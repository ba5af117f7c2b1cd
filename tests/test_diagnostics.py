"""Collapse diagnostics."""
from __future__ import annotations

import numpy as np
import pytest

from protoecg_lib.evaluation.diagnostics import (latent_cosine, logit_correlation, prediction_diagnostics,
                                      similarity_spread)


def test_collapsed_logits_correlate_and_independent_ones_do_not():
    rng = np.random.default_rng(0)
    common = rng.normal(size=(200, 1))
    assert logit_correlation(common * np.arange(1, 6)) == pytest.approx(1.0)
    assert abs(logit_correlation(rng.normal(size=(200, 5)))) < 0.1
    assert np.isnan(logit_correlation(np.ones((10, 3))))


def test_latent_cosine_and_common_mode():
    rng = np.random.default_rng(1)
    positive = 0.5 + 0.01 * rng.normal(size=(50, 32))
    assert latent_cosine(positive) > 0.99
    assert abs(latent_cosine(rng.normal(size=(50, 32)))) < 0.1
    s = rng.normal(size=(100, 1)) @ np.ones((1, 8)) + 0.01 * rng.normal(size=(100, 8))
    assert similarity_spread(s)["common_mode"] > 0.95


def test_prediction_diagnostics_separates_trained_labels():
    rng = np.random.default_rng(2)
    y = (rng.random((100, 3)) < 0.3).astype(float)
    logits = y + 0.1 * rng.normal(size=y.shape)
    logits[:, 2] = -logits[:, 2]                       # a label ranked backwards...
    d = prediction_diagnostics("x", "test", y, logits, ["A", "B", "C"], [10, 5, 0])  # ...with no training positive
    assert d.auroc("A") > 0.95 and d.auroc("C") < 0.05
    assert d.labels_trained == 2 and d.macro_auroc_trained > d.macro_auroc
    assert set(d.to_dict()) >= {"logit_correlation", "macro_auroc_trained", "labels"}
