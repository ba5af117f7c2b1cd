"""Tests of protoecg_lib.evaluation.metrics against scikit-learn and crafted examples (method §8.1)."""
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from protoecg_lib.evaluation.metrics import (
    SKIP_NO_NEGATIVE, SKIP_NO_POSITIVE, auroc_per_label, bootstrap_ci, bootstrap_counts,
    evaluation_table, f1_scores, macro_auroc, tune_thresholds, weighted_auroc,
)
from protoecg_lib.runs import read_predictions


def random_task(n=400, c=6, seed=0, ties=True):
    """Multi-label targets with label-dependent prevalence and informative, optionally tied, scores."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n, c)) < rng.uniform(0.05, 0.4, c)).astype(np.float32)
    p = rng.random((n, c)) + 0.6 * y
    if ties:
        p = np.round(p, 1)  # few distinct values -> many ties across classes
    return y, p


# ----------------------------------------------------------------------------- AUROC
@pytest.mark.parametrize("ties", [False, True])
def test_auroc_matches_sklearn(ties):
    y, p = random_task(ties=ties)
    table = auroc_per_label(y, p, [f"L{i}" for i in range(6)])
    expected = [roc_auc_score(y[:, k], p[:, k]) for k in range(6)]
    np.testing.assert_allclose(table["auroc"].to_numpy(), expected, rtol=1e-12)
    assert macro_auroc(y, p) == pytest.approx(roc_auc_score(y, p, average="macro"), rel=1e-12)
    assert weighted_auroc(y, p) == pytest.approx(roc_auc_score(y, p, average="weighted"), rel=1e-12)
    assert table["support"].tolist() == y.sum(0).astype(int).tolist()
    assert (table["support"] + table["negatives"] == 400).all()
    assert table["skipped"].isna().all()


def test_auroc_by_hand_with_a_tie():
    y = np.array([1, 0, 1, 0], dtype=float)
    p = np.array([0.8, 0.8, 0.6, 0.1])
    # pairs (pos, neg): (0.8,0.8) tie 1/2, (0.8,0.1) 1, (0.6,0.8) 0, (0.6,0.1) 1 -> 2.5 / 4
    assert macro_auroc(y, p) == pytest.approx(0.625)


def test_labels_without_both_classes_are_skipped_and_reported():
    y, p = random_task(c=5, seed=1)
    y[:, 1] = 0
    y[:, 3] = 1
    table = auroc_per_label(y, p, list("abcde"))
    assert table.loc["b", "skipped"] == SKIP_NO_POSITIVE and np.isnan(table.loc["b", "auroc"])
    assert table.loc["d", "skipped"] == SKIP_NO_NEGATIVE and np.isnan(table.loc["d", "auroc"])
    keep = [0, 2, 4]
    assert macro_auroc(y, p) == pytest.approx(roc_auc_score(y[:, keep], p[:, keep], average="macro"))
    assert weighted_auroc(y, p) == pytest.approx(roc_auc_score(y[:, keep], p[:, keep], average="weighted"))
    assert np.isnan(macro_auroc(np.zeros((4, 2)), np.random.rand(4, 2)))


@pytest.mark.parametrize("y, p, match", [
    (np.zeros((3, 2)), np.zeros((3, 3)), "same shape"),
    (np.array([[0, 2]]), np.zeros((1, 2)), "0/1"),
    (np.zeros((2, 2)), np.array([[0.1, np.nan], [0.2, 0.3]]), "NaN"),
])
def test_bad_inputs_raise(y, p, match):
    with pytest.raises(ValueError, match=match):
        auroc_per_label(y, p)


def test_label_name_errors():
    y, p = random_task(c=3)
    with pytest.raises(ValueError, match="label names"):
        auroc_per_label(y, p, ["a", "b"])
    with pytest.raises(ValueError, match="unique"):
        auroc_per_label(y, p, ["a", "a", "b"])


# ----------------------------------------------------------------------------- bootstrap
def test_bootstrap_counts_take_whole_patients():
    groups = np.array([7, 7, 7, 3, 3, 9, 1, 1, 1, 1])
    counts = bootstrap_counts(groups, n_boot=200, seed=3)
    assert counts.shape == (200, 10)
    for pid in np.unique(groups):
        member = counts[:, groups == pid]
        assert (member == member[:, :1]).all()  # all ECGs of a patient share one multiplicity
    first = counts[:, [0, 3, 5, 6]]  # one ECG per patient -> patient multiplicities
    assert (first.sum(axis=1) == 4).all()  # 4 patients drawn per resample
    assert (counts == 0).any() and (counts >= 2).any()


def test_bootstrap_values_equal_sklearn_on_explicit_resamples():
    y, p = random_task(n=60, c=3, seed=4)
    y[:, 2] = 0
    y[5, 2] = 1  # a rare label: lost in some resamples, then skipped there only
    groups = np.repeat(np.arange(30), 2)
    ci = bootstrap_ci(y, p, groups, "macro", n_boot=40, seed=11)
    counts = bootstrap_counts(groups, n_boot=40, seed=11)
    lost = 0
    for r in range(40):
        rows = np.repeat(np.arange(60), counts[r])
        ys, ps = y[rows], p[rows]
        aucs = [roc_auc_score(ys[:, k], ps[:, k]) for k in range(3) if 0 < ys[:, k].sum() < len(rows)]
        lost += len(aucs) < 3
        assert ci.samples[r] == pytest.approx(np.mean(aucs), rel=1e-12)
    assert lost > 0 and ci.n_valid == 40


def test_weighted_bootstrap_uses_resample_support():
    y, p = random_task(n=80, c=4, seed=5)
    ci = bootstrap_ci(y, p, None, "weighted", n_boot=10, seed=2)
    counts = bootstrap_counts(None, n_boot=10, seed=2, num_ecgs=80)
    rows = np.repeat(np.arange(80), counts[7])
    assert ci.samples[7] == pytest.approx(roc_auc_score(y[rows], p[rows], average="weighted"), rel=1e-12)
    assert ci.point == pytest.approx(roc_auc_score(y, p, average="weighted"))


def test_ci_contains_point_and_shrinks_with_more_data():
    small_y, small_p = random_task(n=300, c=5, seed=6, ties=False)
    big_y, big_p = random_task(n=3000, c=5, seed=6, ties=False)
    small = bootstrap_ci(small_y, small_p, n_boot=300, seed=0)
    big = bootstrap_ci(big_y, big_p, n_boot=300, seed=0)
    for ci in (small, big):
        assert ci.lo <= ci.point <= ci.hi
        assert ci.n_boot == ci.n_valid == 300
    assert (big.hi - big.lo) < 0.6 * (small.hi - small.lo)  # ~ 1/sqrt(10) = 0.32 expected


def test_patient_bootstrap_is_wider_when_patients_repeat_their_ecgs():
    # 40 patients, each with 10 identical ECGs: the effective sample is 40, not 400.
    y, p = random_task(n=40, c=3, seed=7, ties=False)
    y_rep, p_rep = np.repeat(y, 10, axis=0), np.repeat(p, 10, axis=0)
    groups = np.repeat(np.arange(40), 10)
    by_patient = bootstrap_ci(y_rep, p_rep, groups, n_boot=400, seed=1)
    by_ecg = bootstrap_ci(y_rep, p_rep, None, n_boot=400, seed=1)
    assert by_patient.point == by_ecg.point
    assert (by_patient.hi - by_patient.lo) > 2 * (by_ecg.hi - by_ecg.lo)


def test_bootstrap_argument_errors():
    y, p = random_task(n=20, c=2)
    with pytest.raises(ValueError, match="metric"):
        bootstrap_ci(y, p, metric="micro")
    with pytest.raises(ValueError, match="alpha"):
        bootstrap_ci(y, p, alpha=1.5)
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_ci(y, p, n_boot=0)
    with pytest.raises(ValueError, match="groups"):
        bootstrap_ci(y, p, groups=np.arange(5))


# ----------------------------------------------------------------------------- thresholds, F1
def test_threshold_tuning_on_separable_labels_gives_f1_one():
    rng = np.random.default_rng(8)
    y = (rng.random((100, 3)) < 0.3).astype(float)
    p = np.where(y == 1, rng.uniform(0.55, 0.9, y.shape), rng.uniform(0.1, 0.5, y.shape))
    thr = tune_thresholds(y, p)
    per_label, macro, micro = f1_scores(y, p, thr)
    np.testing.assert_array_equal(per_label, 1.0)
    assert macro == micro == 1.0
    for k in range(3):
        assert p[y[:, k] == 0, k].max() < thr[k] <= p[y[:, k] == 1, k].min()


def test_tuned_thresholds_reach_the_best_f1_over_all_cut_points():
    y, p = random_task(n=200, c=4, seed=9)
    thr = tune_thresholds(y, p)
    tuned, _, _ = f1_scores(y, p, thr)
    for k in range(4):
        best = max(f1_score(y[:, k], p[:, k] >= t) for t in np.unique(p[:, k]))
        assert tuned[k] == pytest.approx(best)


def test_threshold_default_for_label_without_positive():
    y, p = random_task(n=50, c=2, seed=10)
    y[:, 1] = 0
    assert tune_thresholds(y, p, default=0.7)[1] == 0.7


def test_f1_scores_match_sklearn():
    y, p = random_task(n=300, c=5, seed=11)
    y[:, 4] = 0
    thr = np.array([0.5, 0.6, 0.7, 0.8, 5.0])  # label 4: no positive and none predicted -> undefined
    per_label, macro, micro = f1_scores(y, p, thr)
    pred = (p >= thr).astype(int)
    np.testing.assert_allclose(per_label, f1_score(y, pred, average=None, zero_division=np.nan))
    assert np.isnan(per_label[4])
    assert macro == pytest.approx(f1_score(y, pred, average="macro", zero_division=np.nan))
    assert micro == pytest.approx(f1_score(y, pred, average="micro"))
    assert f1_scores(y, p, 0.5)[2] == pytest.approx(f1_score(y, (p >= 0.5).astype(int), average="micro"))
    with pytest.raises(ValueError, match="thresholds"):
        f1_scores(y, p, np.ones(3))


# ----------------------------------------------------------------------------- report and file
def test_evaluation_table_is_json_and_reports_skips():
    y, p = random_task(n=120, c=4, seed=12)
    y[:, 2] = 0
    labels = ["SR", "AFIB", "PACE", "STACH"]
    groups = np.repeat(np.arange(60), 2)
    report = evaluation_table(y, p, labels, groups, thresholds=0.5, n_boot=50, seed=0)
    text = json.dumps(report, allow_nan=False)  # strict JSON: no NaN anywhere
    assert json.loads(text) == report
    assert report["n_ecgs"] == 120 and report["n_patients"] == 60 and report["n_labels"] == 4
    assert report["resampling"] == "patient"
    assert report["labels_evaluated"] == 3
    assert report["labels_skipped"] == {"count": 1, "by_reason": {SKIP_NO_POSITIVE: ["PACE"]}}
    macro = report["macro_auroc"]
    assert macro["lo"] <= macro["point"] <= macro["hi"]
    assert macro["point"] == pytest.approx(macro_auroc(y, p))
    assert report["weighted_auroc"]["point"] == pytest.approx(weighted_auroc(y, p))
    entry = report["per_label"][2]
    assert entry["label"] == "PACE" and entry["auroc"] is None and entry["skipped"] == SKIP_NO_POSITIVE
    assert entry["threshold"] == 0.5 and "f1" in report
    for e in report["per_label"]:
        if e["auroc"] is not None:
            assert e["lo"] <= e["hi"] and e["lo"] - 0.05 < e["auroc"] < e["hi"] + 0.05
    # label 0's own interval comes from the same resamples: recompute it explicitly
    counts = bootstrap_counts(groups, n_boot=50, seed=0)
    own = [roc_auc_score(y[rows, 0], p[rows, 0]) for rows in (np.repeat(np.arange(120), c) for c in counts)
           if 0 < y[rows, 0].sum() < len(rows)]
    assert report["per_label"][0]["lo"] == pytest.approx(np.percentile(own, 2.5))
    # same resamples as bootstrap_ci with the same seed
    assert macro["lo"] == pytest.approx(bootstrap_ci(y, p, groups, n_boot=50, seed=0).lo)


def test_evaluation_table_without_bootstrap_or_groups():
    y, p = random_task(n=50, c=2, seed=13)
    report = evaluation_table(y, p, n_boot=0)
    assert report["macro_auroc"]["lo"] is None and report["n_patients"] is None
    assert report["resampling"] == "ecg" and "f1" not in report
    assert [e["label"] for e in report["per_label"]] == ["0", "1"]


def test_read_predictions_round_trip_and_errors(tmp_path):
    y, p = random_task(n=10, c=2, seed=14)
    frame = pd.DataFrame({"ecg_id": np.arange(10) + 100, "patient_id": np.arange(10) // 2,
                          "true_SR": y[:, 0], "prob_SR": p[:, 0], "true_AFIB": y[:, 1], "prob_AFIB": p[:, 1]})
    path = tmp_path / "test.csv"
    frame.to_csv(path, index=False)
    pred = read_predictions(path)
    assert pred.labels == ("SR", "AFIB")
    np.testing.assert_array_equal(pred.y_true, y)
    np.testing.assert_allclose(pred.y_prob, p)
    assert pred.patient_id.tolist() == (np.arange(10) // 2).tolist()
    frame.drop(columns="prob_AFIB").to_csv(path, index=False)
    with pytest.raises(ValueError, match="AFIB"):
        read_predictions(path)
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        read_predictions(tmp_path / "missing.csv")
