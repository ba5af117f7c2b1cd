"""Views of explanations (chapter 10): cases from predictions, logit decomposition, tables, the figure."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from protoecg_lib.data import load_ptbxl
from protoecg_lib.evaluation.explain import explain_run_ecg
from protoecg_lib.plotting.explanation import explanation_figure, plot_contributions
from protoecg_lib.teaching.explanation import (CASE_KINDS, evidence_table, explain_label, first_shown,
                                               logit_decomposition, prediction_cases)
from protoecg_lib.labels import BRANCHES
from protoecg_lib.runs import Predictions
from conftest import build_tiny_run

torch.set_num_threads(1)


def _predictions(with_logits: bool = True) -> Predictions:
    y_true = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]], dtype=np.float32)
    y_prob = np.array([[0.9, 0.6, 0.2], [0.7, 0.4, 0.1], [0.3, 0.95, 0.55]])
    y_logit = np.log(y_prob / (1 - y_prob)) if with_logits else None
    return Predictions(np.array([11, 12, 13]), np.array([1, 2, 3]), ("NORM", "SR", "IMI"), y_true, y_prob, y_logit)


@pytest.mark.parametrize("with_logits", [True, False])
def test_prediction_cases_by_hand(with_logits):
    pred = _predictions(with_logits)
    tp = prediction_cases(pred, "true_positive")
    assert list(zip(tp.ecg_id, tp.label)) == [(13, "SR"), (11, "NORM")]           # logit descending
    fp = prediction_cases(pred, "false_positive")
    assert list(zip(fp.ecg_id, fp.label)) == [(12, "NORM"), (11, "SR"), (13, "IMI")]
    fn = prediction_cases(pred, "false_negative")
    assert list(zip(fn.ecg_id, fn.label)) == [(11, "IMI"), (13, "NORM"), (12, "SR")]  # logit ascending
    assert fn["true"].all() and not fn["predicted"].any() and fp["predicted"].all() and not fp["true"].any()
    assert list(tp.columns) == ["ecg_id", "label", "branch", "probability", "logit", "true", "predicted"]
    assert set(tp.branch) == {"rhythm", "global"}
    assert np.allclose(tp.logit, np.log(tp.probability / (1 - tp.probability)))
    # every (ECG, label) pair is exactly one of TP, FP, FN or TN
    assert len(tp) + len(fp) + len(fn) + int(((pred.y_prob < 0.5) & (pred.y_true < 0.5)).sum()) == pred.y_true.size


def test_prediction_cases_options_and_errors():
    pred = _predictions()
    assert list(prediction_cases(pred, "false_positive", labels=["SR"]).label) == ["SR"]
    assert len(prediction_cases(pred, "true_positive", threshold=0.92)) == 1
    assert prediction_cases(pred, "true_positive", labels=["IMI"]).empty
    with pytest.raises(ValueError, match="kind"):
        prediction_cases(pred, "wrong")
    with pytest.raises(ValueError, match="threshold"):
        prediction_cases(pred, "true_positive", threshold=1.5)
    with pytest.raises(ValueError, match="unknown label"):
        prediction_cases(pred, "true_positive", labels=["XYZ"])
    assert set(CASE_KINDS) == {"true_positive", "false_positive", "false_negative"}


def test_prediction_cases_at_a_calibrated_operating_point():
    from protoecg_lib.evaluation.calibration import Calibration

    pred = _predictions()
    # logit + 1, then each ECG lists round(sum p) labels: 2 of (0.96, 0.80, 0.40), 2 of (0.86, 0.64, 0.23),
    # 2 of (0.54, 0.98, 0.77); so ECG 12's SR (p 0.4 raw, missed at 0.5) is listed and correct
    cal = Calibration(pred.labels, np.zeros(3), np.ones(3), np.ones(3), np.full(3, 0.5), rule="expected")
    tp = prediction_cases(pred, "true_positive", calibration=cal)
    fp = prediction_cases(pred, "false_positive", calibration=cal)
    assert list(zip(tp.ecg_id, tp.label)) == [(13, "SR"), (11, "NORM"), (12, "SR")]
    assert list(zip(fp.ecg_id, fp.label)) == [(12, "NORM"), (11, "SR"), (13, "IMI")]
    assert prediction_cases(pred, "false_negative", calibration=cal)[["ecg_id", "label"]].values.tolist() == \
        [[11, "IMI"], [13, "NORM"]]
    with pytest.raises(ValueError, match="logit"):
        prediction_cases(_predictions(with_logits=False), "true_positive", calibration=cal)


@pytest.fixture(scope="module")
def tiny(excerpt_root, tmp_path_factory):
    data = load_ptbxl(excerpt_root)
    run = build_tiny_run(tmp_path_factory.mktemp("run"), data)
    ecg_id = int(data.split("test").ecg_id[0])
    return run, data, explain_run_ecg(run, ecg_id, data, top_k=3)


def test_logit_decomposition_adds_up(tiny):
    _, _, ex = tiny
    for entry in ex.labels:
        parts = logit_decomposition(ex, entry.label)
        assert list(parts.index) == ["bias", *BRANCHES, "logit"]
        assert parts["logit"] == pytest.approx(entry.logit)
        assert parts.drop("logit").sum() == pytest.approx(entry.logit, abs=1e-4)


def test_evidence_table_matches_the_lists(tiny):
    _, _, ex = tiny
    entry = ex.labels[0]
    for which, items in (("for", entry.prototypes), ("against", entry.against), ("strongest", entry.strongest)):
        table = evidence_table(ex, entry.label, which)
        assert len(table) == len(items) and list(table.index) == list(range(1, len(items) + 1))
        assert np.allclose(table["contribution"], [ev.contribution for ev in items])
        assert np.allclose(table["contribution"], table["weight"] * table["similarity"], atol=1e-5)
    if len(entry.against):
        assert (evidence_table(ex, entry.label, "against")["contribution"] < 0).all()
    with pytest.raises(ValueError, match="which"):
        evidence_table(ex, entry.label, "sideways")
    with pytest.raises(KeyError):
        evidence_table(ex, "NOT-A-LABEL")


def test_first_shown_can_be_drawn(tiny):
    _, _, ex = tiny
    entry = ex.labels[0]
    k = first_shown(ex, entry.label)
    if k is not None:
        ev = entry.prototypes[k]
        assert ev.projected and ev.source_ecg_id in ex.sources
        fig = explanation_figure(ex, k, entry.label)
        assert len(fig.axes) >= 2
    for kind in ("global-1d", "local-2d", "global-2d"):
        k = first_shown(ex, entry.label, "strongest", kind=kind)
        assert k is None or entry.strongest[k].kind == kind
    with pytest.raises(ValueError, match="which"):
        first_shown(ex, entry.label, "sideways")


def test_plot_contributions_draws_parts_and_contributions(tiny):
    _, _, ex = tiny
    entry = ex.labels[0]
    fig = plot_contributions(ex, entry.label, title="test")
    ax_w, ax_c = fig.axes[:2]
    parts = [p for p in ax_w.patches if p.get_gid() == "logit-part"]
    total = [p for p in ax_w.patches if p.get_gid() == "logit-total"]
    assert len(parts) == 1 + len(BRANCHES) and len(total) == 1
    assert total[0].get_width() == pytest.approx(entry.logit)
    assert sum(p.get_width() for p in parts) == pytest.approx(entry.logit, abs=1e-4)
    bars = [p for p in ax_c.patches if p.get_gid() == "contribution"]
    expected = {ev.index: ev.contribution for ev in entry.prototypes + entry.strongest + entry.against}
    assert sorted(b.get_width() for b in bars) == pytest.approx(sorted(expected.values()))
    widths = [b.get_width() for b in bars]
    assert widths == sorted(widths, reverse=True)                                   # largest first, top down


def test_explain_label_predicted_or_not(tiny):
    run, data, ex = tiny
    ecg_id = ex.ecg_id
    order = sorted(ex.probabilities, key=ex.probabilities.get)
    for code in (order[0], order[-1]):                                              # least and most probable
        one = explain_label(run, ecg_id, code, data)
        assert [e.label for e in one.labels] == [code]
        assert one.threshold == 0.5 and one.predicted == ex.predicted
        direct = explain_run_ecg(run, ecg_id, data, threshold=min(0.5, ex.probabilities[code])).label(code)
        assert one.label(code).logit == pytest.approx(direct.logit)
        assert ("not predicted" in one.note) == (ex.probabilities[code] < 0.5)
        k = first_shown(one, code)
        assert k is None or one.label(code).prototypes[k].source_ecg_id in one.sources
    with pytest.raises(KeyError, match="unknown label"):
        explain_label(run, ecg_id, "XYZ", data)
