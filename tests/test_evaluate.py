"""Evaluation from saved predictions: tables against scikit-learn, CIs, thresholds, the run report, the CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from protoecg_lib.cli import main
from protoecg_lib.evaluation.evaluate import (comparison_frame, evaluate_predictions, evaluate_run, format_evaluation,
                                   per_label_frame)
from protoecg_lib.labels import BRANCHES, LABEL_SETS
from protoecg_lib.runs import Predictions, Run, read_predictions, write_predictions


def _random(n, labels, seed, signal=1.0, patients=None):
    """Multi-hot targets and logits that carry some signal; a few labels without positives."""
    rng = np.random.default_rng(seed)
    c = len(labels)
    prevalence = rng.uniform(0.05, 0.4, size=c)
    y = (rng.random((n, c)) < prevalence).astype(np.float32)
    y[:, :3] = 0                                # no positive
    y[:, 3] = 1                                 # no negative
    logits = rng.normal(size=(n, c)) + signal * (2 * y - 1)
    pid = np.arange(n) // 2 if patients is None else patients       # two ECGs per patient
    return y, logits, np.arange(1000, 1000 + n), pid


def _preds(y, logits, ecg_id, pid, labels):
    return Predictions(ecg_id, pid, tuple(labels), y, 1 / (1 + np.exp(-logits)), logits)


LABELS = [f"L{k}" for k in range(12)]


@pytest.fixture(scope="module")
def pair():
    test = _preds(*_random(160, LABELS, 0), LABELS)
    val = _preds(*_random(120, LABELS, 1), LABELS)
    return test, val


def test_tables_match_scikit_learn(pair):
    test, val = pair
    r = evaluate_predictions(test, val, n_boot=50, seed=3)
    evaluated = [k for k in range(len(LABELS)) if 0 < test.y_true[:, k].sum() < len(test.y_true)]
    for k, entry in enumerate(r["per_label"]):
        assert entry["label"] == LABELS[k] and entry["support"] == int(test.y_true[:, k].sum())
        if k in evaluated:
            assert entry["auroc"] == pytest.approx(roc_auc_score(test.y_true[:, k], test.y_logit[:, k]))
            assert entry["skipped"] is None
        else:
            assert entry["auroc"] is None
    assert [e["skipped"] for e in r["per_label"][:4]] == ["no positive"] * 3 + ["no negative"]
    assert r["labels_skipped"]["count"] == 4
    assert r["labels_skipped"]["by_reason"] == {"no negative": ["L3"], "no positive": ["L0", "L1", "L2"]}
    y, s = test.y_true[:, evaluated], test.y_logit[:, evaluated]
    assert r["macro_auroc"]["point"] == pytest.approx(roc_auc_score(y, s, average="macro"))
    assert r["weighted_auroc"]["point"] == pytest.approx(roc_auc_score(y, s, average="weighted"))
    # F1 at the validation-tuned thresholds equals scikit-learn's at those thresholds
    for k, entry in enumerate(r["per_label"]):
        pred = test.y_logit[:, k] >= entry["threshold"]
        if test.y_true[:, k].sum() or pred.sum():
            assert entry["f1"] == pytest.approx(f1_score(test.y_true[:, k], pred))
        assert entry["threshold_prob"] == pytest.approx(1 / (1 + np.exp(-entry["threshold"])))
    assert r["scores"] == "logits"


def test_thresholds_maximise_validation_f1(pair):
    test, val = pair
    r = evaluate_predictions(test, val, n_boot=0)
    for k, entry in enumerate(r["per_label"]):
        if val.y_true[:, k].sum() == 0:
            assert entry["threshold_source"].startswith("default") and entry["threshold"] == 0.0
            continue
        best = max(f1_score(val.y_true[:, k], val.y_logit[:, k] >= t) for t in np.unique(val.y_logit[:, k]))
        got = f1_score(val.y_true[:, k], val.y_logit[:, k] >= entry["threshold"])
        assert got == pytest.approx(best)


def test_confidence_intervals_are_ordered(pair):
    test, val = pair
    r = evaluate_predictions(test, val, n_boot=100, seed=0)
    for m in ("macro_auroc", "weighted_auroc"):
        assert r[m]["lo"] <= r[m]["point"] <= r[m]["hi"] and r[m]["lo"] < r[m]["hi"]
        assert r[m]["n_boot"] == 100
    for e in r["per_label"]:
        if e["auroc"] is not None:
            assert e["lo"] <= e["hi"]
    assert r["resampling"] == "patient" and r["n_patients"] == 80


MODEL_SEEDS = {"fusion": 0, "rhythm": 1, "morphology": 2, "global": 3, "baseline": 4}


def _write_run(path, with_baseline=True):
    """A run directory with random predictions for fusion, the three branches and the baseline."""
    (path / "predictions").mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"pipeline": {"n_boot": 40, "seed": 5}, "data": {}}))
    for split, seed in (("val", 10), ("test", 20)):
        n = 90 if split == "val" else 110
        for who, labels in [("fusion", LABEL_SETS["all"])] + [(b, LABEL_SETS[b]) for b in BRANCHES] + \
                           ([("baseline", LABEL_SETS["all"])] if with_baseline else []):
            offset = MODEL_SEEDS[who]
            y, logits, ecg_id, pid = _random(n, LABEL_SETS["all"], seed)      # same truth for every model
            rng = np.random.default_rng(seed + offset)
            logits = logits + rng.normal(scale=0.5, size=logits.shape) * (who != "fusion")
            cols = [LABEL_SETS["all"].index(c) for c in labels]
            name = f"{split}.csv" if who == "fusion" else f"{split}_{who}.csv"
            write_predictions(path / "predictions" / name, ecg_id, pid, labels, y[:, cols], logits[:, cols])
    return Run(path)


def test_evaluate_run_report_and_file(tmp_path):
    run = _write_run(tmp_path / "run")
    r = evaluate_run(run)
    assert (tmp_path / "run" / "evaluation_test.json").is_file()
    on_disk = json.loads((tmp_path / "run" / "evaluation_test.json").read_text())
    assert on_disk["models"]["fusion"]["macro_auroc"] == r["models"]["fusion"]["macro_auroc"]
    assert list(r["models"]) == ["fusion", "rhythm", "morphology", "global", "baseline"] and r["missing"] == []
    assert r["n_boot"] == 40 and r["seed"] == 5                     # the run's settings by default
    # fusion AUROC restricted to a branch's labels == macro AUROC over those columns, by scikit-learn
    fus = read_predictions(tmp_path / "run" / "predictions" / "test.csv")
    for b in BRANCHES:
        cols = [fus.labels.index(c) for c in LABEL_SETS[b]]
        y, s = fus.y_true[:, cols], fus.y_logit[:, cols]
        ok = [k for k in range(len(cols)) if 0 < y[:, k].sum() < len(y)]
        expected = np.mean([roc_auc_score(y[:, k], s[:, k]) for k in ok])
        entry = r["fusion_per_branch"][b]
        assert entry["macro_auroc"]["point"] == pytest.approx(expected)
        assert entry["labels"] == len(LABEL_SETS[b]) and entry["labels_evaluated"] == len(ok)
        assert entry["own_classifier_macro_auroc"] == r["models"][b]["macro_auroc"]
    price = r["interpretability_price"]
    for m in ("macro", "weighted"):
        p = price[m]
        assert p["difference"] == pytest.approx(p["baseline"] - p["protoecgnet"])
        assert p["protoecgnet"] == r["models"]["fusion"][f"{m}_auroc"]["point"]
        assert p["lo"] <= p["difference"] <= p["hi"]
    table = comparison_frame(r)
    assert len(table) == 71 and set(table["branch"]) == set(BRANCHES)
    row = table.dropna(subset=["difference"]).iloc[0]
    assert row["difference"] == pytest.approx(row["baseline"] - row["protoecgnet"])
    frame = per_label_frame(r)
    assert list(frame.index) == list(LABEL_SETS["all"]) and {"auroc", "lo", "hi", "f1", "threshold"} <= set(frame)
    text = format_evaluation(r, per_label=True)
    assert "interpretability price" in text and "ProtoECGNet (fusion, 71 labels)" in text and "NORM" in text


def test_identical_models_cost_nothing(tmp_path):
    run = _write_run(tmp_path / "run")
    fus = (tmp_path / "run" / "predictions" / "test.csv").read_text()
    (tmp_path / "run" / "predictions" / "test_baseline.csv").write_text(fus)
    r = evaluate_run(run, write=False)
    p = r["interpretability_price"]["macro"]
    assert p["difference"] == 0 and p["lo"] == 0 and p["hi"] == 0
    assert not (tmp_path / "run" / "evaluation_test.json").exists()


def test_missing_baseline_and_errors(tmp_path):
    run = _write_run(tmp_path / "run", with_baseline=False)
    r = evaluate_run(run, "val", n_boot=0)
    assert r["missing"] == ["baseline"] and "interpretability_price" not in r
    assert r["models"]["fusion"]["macro_auroc"]["lo"] is None
    assert (tmp_path / "run" / "evaluation_val.json").is_file()
    with pytest.raises(KeyError, match="baseline"):
        comparison_frame(r)
    with pytest.raises(ValueError, match="split"):
        evaluate_run(run, "train")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="no test.csv"):
        evaluate_run(empty)


def test_cli_evaluate(tmp_path, capsys):
    run = _write_run(tmp_path / "run")
    assert main(["evaluate", "--run", str(run.path), "--n-boot", "10"]) == 0
    out = capsys.readouterr().out
    assert "macro AUROC" in out and "black-box baseline" in out and "evaluation_test.json" in out
    assert main(["evaluate", "--run", str(run.path), "--json", "--n-boot", "0"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["n_boot"] == 0 and set(d["models"]) == {"fusion", "rhythm", "morphology", "global", "baseline"}
    assert main(["evaluate", "--run", str(tmp_path / "nope")]) == 2


def test_paired_difference_matches_two_separate_scores_and_restricts_labels():
    from protoecg_lib.evaluation.evaluate import paired_difference
    from protoecg_lib.evaluation.metrics import macro_auroc

    y, logits, ecg_id, pid = _random(120, LABELS, 3, signal=1.5)
    strong = _preds(y, logits, ecg_id, pid, LABELS)
    weak = _preds(y, logits + np.random.default_rng(4).normal(scale=3.0, size=logits.shape), ecg_id, pid, LABELS)
    d = paired_difference(weak, strong, "macro", n_boot=0)
    assert d["a"] == pytest.approx(macro_auroc(y, weak.scores)) and d["b"] == pytest.approx(macro_auroc(y, logits))
    assert d["difference"] == pytest.approx(d["b"] - d["a"]) and d["lo"] is None
    boot = paired_difference(weak, strong, "macro", n_boot=100, seed=0)
    assert boot["lo"] <= boot["difference"] <= boot["hi"] and boot["fraction_b_better"] > 0.9
    some = LABELS[4:7]
    sub = paired_difference(weak, strong, "macro", n_boot=0, labels=some)
    idx = [LABELS.index(c) for c in some]
    assert sub["b"] == pytest.approx(macro_auroc(y[:, idx], logits[:, idx]))
    with pytest.raises(ValueError, match="n_boot"):
        paired_difference(weak, strong, n_boot=-1)
