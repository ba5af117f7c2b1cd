import math

import numpy as np
import pandas as pd
import pytest
import torch

from protoecg_lib.plotting.latent import plot_cosine_vs_jaccard
from protoecg_lib.teaching.contrastive import (ablation_table, first_release_contrastive_loss, paired_auroc_difference,
                                               top_cooccurring_pairs)
from protoecg_lib.teaching.latent_maps import cosine_vs_jaccard
from protoecg_lib.teaching.toy_prototypes import unit_vectors
from protoecg_lib.training.losses import contrastive_loss
from protoecg_lib.runs import Predictions
from protoecg_lib.models import class_identity


def _toy():
    a = class_identity(num_classes=3, prototypes_per_class=2)               # (6, 3)
    j = torch.tensor([[1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 1.0]])   # (3, 3)
    p = unit_vectors([0, 30, 60, 90, 180, 250])                              # (6, 2)
    return p, a, j


def test_first_release_by_hand():
    p, a, j = _toy()
    s = (p @ p.T).clamp(-1 + 1e-6, 1 - 1e-6).double()                        # unit rows: cosines
    m_pos = (a @ j @ a.T).double()
    m_neg = 1 - m_pos
    pos, neg = m_pos / (m_pos.sum() + 1e-6), m_neg / (m_neg.sum() + 1e-6)
    expected = ((s * pos).sum() + (s * neg).sum()) / 2
    assert math.isclose(first_release_contrastive_loss(p, a, j).item(), expected.item(), rel_tol=1e-5)
    corrected = -((s * pos).sum() - (s * neg).sum()) / math.sqrt(6)
    assert math.isclose(contrastive_loss(p, a, j).item(), corrected.item(), rel_tol=1e-5)


def test_first_release_pushes_all_cosines_down():
    p, a, j = _toy()
    q = p.clone().requires_grad_(True)
    first_release_contrastive_loss(q, a, j).backward()
    # a step against the gradient lowers the mean off-diagonal cosine, including co-occurring pairs
    with torch.no_grad():
        stepped = q - 0.05 * q.grad
    cos = lambda x: torch.nn.functional.normalize(x, dim=1) @ torch.nn.functional.normalize(x, dim=1).T
    before, after = cos(p), cos(stepped)
    assert after[0, 2] < before[0, 2]           # prototypes of classes 0 and 1 (J = 0.5) pushed apart too
    assert after.sum() < before.sum()


def test_first_release_shapes_checked():
    p, a, j = _toy()
    with pytest.raises(ValueError, match="rows"):
        first_release_contrastive_loss(p[:5], a, j)


def test_top_cooccurring_pairs():
    y = np.array([[1, 1, 0], [1, 1, 0], [1, 0, 0], [0, 0, 1], [1, 0, 1]])
    df = top_cooccurring_pairs(y, ["SR", "1AVB", "AFIB"], k=5)
    assert list(df.columns) == ["class_a", "class_b", "n_a", "n_b", "n_both", "jaccard"]
    assert (df["class_a"].tolist(), df["class_b"].tolist()) == (["SR", "SR"], ["1AVB", "AFIB"])
    assert df.loc[0, "n_both"] == 2 and df.loc[0, "jaccard"] == pytest.approx(2 / 4)
    assert df.loc[1, "jaccard"] == pytest.approx(1 / 5)
    assert len(top_cooccurring_pairs(y, ["SR", "1AVB", "AFIB"], k=1)) == 1
    with pytest.raises(ValueError, match="shape"):
        top_cooccurring_pairs(y, ["SR", "1AVB"])
    with pytest.raises(ValueError, match="k must"):
        top_cooccurring_pairs(y, ["SR", "1AVB", "AFIB"], k=0)


def _preds(scores, y, ids=None):
    n = len(y)
    ids = np.arange(n) if ids is None else ids
    return Predictions(ecg_id=ids, patient_id=np.arange(n), labels=("A", "B"), y_true=y.astype(np.float32),
                       y_prob=1 / (1 + np.exp(-scores)), y_logit=scores)


def test_paired_auroc_difference():
    rng = np.random.default_rng(0)
    y = (rng.random((60, 2)) < 0.4).astype(float)
    good = _preds(y * 2 + rng.normal(size=y.shape), y)
    noise = _preds(rng.normal(size=y.shape), y)
    d = paired_auroc_difference(noise, good, n_boot=100, seed=1)
    assert d["b"] > d["a"] and math.isclose(d["difference"], d["b"] - d["a"])
    assert d["lo"] <= d["difference"] <= d["hi"] and d["fraction_b_better"] > 0.9
    same = paired_auroc_difference(good, good, n_boot=50)
    assert same["difference"] == 0 and same["lo"] == same["hi"] == 0
    one = paired_auroc_difference(noise, good, labels=["B"], n_boot=20)
    assert 0 <= one["a"] <= 1
    with pytest.raises(ValueError, match="different ECGs"):
        paired_auroc_difference(good, _preds(good.y_logit, y, ids=np.arange(60) + 1))


def _evaluation(point):
    ci = {"point": point, "lo": point - 0.1, "hi": point + 0.1}
    models = {w: {"macro_auroc": ci, "weighted_auroc": ci, "labels_evaluated": 3}
              for w in ("fusion", "rhythm", "morphology", "global")}
    per_branch = {b: {"macro_auroc": ci, "weighted_auroc": ci, "labels_evaluated": 2}
                  for b in ("rhythm", "morphology", "global")}
    return {"models": models, "fusion_per_branch": per_branch}


def test_ablation_table():
    df = ablation_table({"on": _evaluation(0.8), "off": _evaluation(0.7)})
    assert df.shape == (7, 7)
    assert df.loc["fusion, 71 labels", ("on", "point")] == 0.8
    assert df.loc["fusion, rhythm labels", ("off", "lo")] == pytest.approx(0.6)
    assert df.loc["fusion, rhythm labels", ("labels", "evaluated")] == 2
    partial = _evaluation(0.7)
    del partial["models"]["global"]
    assert np.isnan(ablation_table({"x": partial}).loc["global branch (own classifier)", ("x", "point")])
    with pytest.raises(ValueError):
        ablation_table({})
    with pytest.raises(ValueError, match="metric"):
        ablation_table({"on": _evaluation(0.8)}, metric="auroc")


def test_plot_cosine_vs_jaccard():
    p, a, j = _toy()
    df = cosine_vs_jaccard(p, a, j.numpy(), labels=["SR", "1AVB", "AFIB"])
    fig = plot_cosine_vs_jaccard({"run 1": df, "run 2": df, "run 3": df}, title="toy", ncols=2)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 3
    ax = visible[0]
    gids = {c.get_gid() for c in ax.collections}
    assert {"pairs-cooccurring", "pairs-never"} <= gids
    co = next(c for c in ax.collections if c.get_gid() == "pairs-cooccurring")
    assert len(co.get_offsets()) == int(df["cooccur"].sum())
    assert {line.get_gid() for line in ax.lines} >= {"mean-cooccurring", "mean-never"}
    assert ax.get_title(loc="left").startswith("run 1")
    with pytest.raises(ValueError, match="lacks columns"):
        plot_cosine_vs_jaccard({"bad": pd.DataFrame({"x": [1]})})
    with pytest.raises(ValueError):
        plot_cosine_vs_jaccard({})
