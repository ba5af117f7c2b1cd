"""Views of an evaluation: batch-averaged AUROC vs dataset level, the model table and figure, fusion weights."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from protoecg_lib.evaluation.evaluate import evaluate_run, models_frame
from protoecg_lib.plotting.evaluation import plot_model_aurocs
from protoecg_lib.teaching.evaluation import batch_auroc_table, batch_averaged_auroc, fusion_weight_split
from protoecg_lib.labels import BRANCHES, LABEL_SETS
from protoecg_lib.evaluation.metrics import macro_auroc
from protoecg_lib.models import ProtoECGNet, get_preset
from protoecg_lib.runs import Run, write_predictions


def _data(n=70, c=5, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, c)) < 0.3).astype(np.float32)
    y[:, 0] = 0
    y[0, 0] = 1                                  # label 0: a single positive, in the first batch only
    s = rng.normal(size=(n, c)) + 1.5 * y
    return y, s


def test_batch_table_scores_each_batch_like_scikit_learn():
    y, s = _data()
    table = batch_auroc_table(y, s, batch_size=32)
    assert list(table["ecgs"]) == [32, 32, 6] and list(table["first"]) == [0, 32, 64]
    for row in table.itertuples():
        yb, sb = y[row.first:row.first + row.ecgs], s[row.first:row.first + row.ecgs]
        ok = [k for k in range(y.shape[1]) if 0 < yb[:, k].sum() < len(yb)]
        assert row.labels_scored == len(ok)
        if ok:
            assert row.macro_auroc == pytest.approx(roc_auc_score(yb[:, ok], sb[:, ok], average="macro"))
    assert table.loc[0, "labels_scored"] == 5 and table.loc[1, "labels_scored"] == 4   # label 0 only in batch 0
    assert batch_averaged_auroc(y, s, 32) == pytest.approx(table["macro_auroc"].dropna().mean())


def test_one_batch_is_the_dataset_level_metric_and_small_batches_differ():
    y, s = _data()
    assert batch_averaged_auroc(y, s, batch_size=len(y)) == pytest.approx(macro_auroc(y, s))
    assert batch_averaged_auroc(y, s, batch_size=1000) == pytest.approx(macro_auroc(y, s))
    assert batch_averaged_auroc(y, s, batch_size=8) != pytest.approx(macro_auroc(y, s), abs=1e-6)


def test_unscorable_batches_are_dropped():
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0], [1, 1]], dtype=np.float32)
    s = np.array([[2.0, 0.1], [0.0, 0.9], [1.5, 0.8], [0.3, 0.2], [0.0, 0.0]])
    table = batch_auroc_table(y, s, batch_size=4)
    assert list(table["ecgs"]) == [4, 1]
    assert table.loc[1, "labels_scored"] == 0 and math.isnan(table.loc[1, "macro_auroc"])
    assert batch_averaged_auroc(y, s, 4) == pytest.approx(table.loc[0, "macro_auroc"])
    assert math.isnan(batch_averaged_auroc(y[:1], s[:1], 4))


def test_batch_table_rejects_bad_input():
    y, s = _data()
    with pytest.raises(ValueError, match="same shape"):
        batch_auroc_table(y, s[:, :2])
    with pytest.raises(ValueError, match="batch_size"):
        batch_auroc_table(y, s, batch_size=0)


def _write_run(path):
    """A run folder with predictions of every model (random but informative logits)."""
    (path / "predictions").mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"pipeline": {"n_boot": 30, "seed": 1}, "data": {}}))
    rng = np.random.default_rng(0)
    for split, n in (("val", 80), ("test", 90)):
        y = (rng.random((n, 71)) < 0.2).astype(np.float32)
        y[:, :5] = 0
        pid = np.arange(n) // 2
        for k, (who, labels) in enumerate([("fusion", LABEL_SETS["all"]), ("baseline", LABEL_SETS["all"])]
                                          + [(b, LABEL_SETS[b]) for b in BRANCHES]):
            cols = [LABEL_SETS["all"].index(c) for c in labels]
            logits = rng.normal(size=(n, 71)) + (1.0 + 0.2 * k) * y
            name = f"{split}.csv" if who == "fusion" else f"{split}_{who}.csv"
            write_predictions(path / "predictions" / name, np.arange(n) + 10, pid, labels, y[:, cols], logits[:, cols])
    return Run(path)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return evaluate_run(_write_run(tmp_path_factory.mktemp("run") / "run"), write=False)


def test_models_frame_matches_the_result(result):
    frame = models_frame(result)
    assert list(frame.index) == ["fusion", "rhythm", "morphology", "global", "baseline"]
    for who, m in result["models"].items():
        assert frame.loc[who, "macro"] == pytest.approx(m["macro_auroc"]["point"])
        assert frame.loc[who, "weighted_hi"] == pytest.approx(m["weighted_auroc"]["hi"])
        assert frame.loc[who, "labels_evaluated"] == m["labels_evaluated"]
        assert frame.loc[who, "f1_at_0.5"] == pytest.approx(m["f1_at_0.5"]["macro"])
        assert frame.loc[who, "macro_lo"] <= frame.loc[who, "macro"] <= frame.loc[who, "macro_hi"]
    with pytest.raises(KeyError, match="models"):
        models_frame({})


def test_plot_model_aurocs_draws_every_model_and_the_fused_branch_scores(result):
    fig = plot_model_aurocs(result, title="test")
    axes = fig.axes
    assert len(axes) == 2
    ax = axes[0]
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert len(ticks) == 5 and ticks[0].startswith("ProtoECGNet")
    filled = [c for c in ax.containers if c.lines[0].get_gid() == "model-auroc"]
    hollow = [c for c in ax.containers if c.lines[0].get_gid() == "fusion-on-branch"]
    assert len(filled) == 5 and len(hollow) == 3
    x = filled[0].lines[0].get_xdata()[0]
    assert x == pytest.approx(result["models"]["fusion"]["macro_auroc"]["point"])
    x = hollow[0].lines[0].get_xdata()[0]
    assert x == pytest.approx(result["fusion_per_branch"]["rhythm"]["macro_auroc"]["point"])


def test_fusion_weight_split_after_masked_init():
    model = ProtoECGNet(get_preset("fast", fusion="masked"), load_pretrained=False)
    split = fusion_weight_split(model.fusion.weight, model.fusion_identity, model.labels)
    assert len(split) == 71 and split["own_prototypes"].sum() == model.fusion.in_features
    assert np.allclose(split["own_mean"], 1.0) and np.allclose(split["other_mean"], -0.5)
    assert np.allclose(split["own_minus_other"], 1.5)


def test_fusion_weight_split_by_hand_and_errors():
    w = torch.tensor([[1.0, 3.0, -1.0], [0.0, 2.0, 4.0]])       # (C=2, P=3)
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0]])        # prototypes 0, 1 -> label a; label b has none
    split = fusion_weight_split(w, a, ["a", "b"])
    assert split.loc["a", "own_mean"] == pytest.approx(2.0) and split.loc["a", "other_mean"] == pytest.approx(-1.0)
    assert split.loc["b", "own_prototypes"] == 0 and math.isnan(split.loc["b", "own_mean"])
    assert split.loc["b", "other_mean"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="identity"):
        fusion_weight_split(w, a.T, ["a", "b"])
    with pytest.raises(ValueError, match="labels"):
        fusion_weight_split(w, a, ["a"])
