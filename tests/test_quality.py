"""Explanation quality: localisation hits by hand on a crafted case, deletion on a crafted model, figures."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from protoecg_lib.data import Split, load_ptbxl
from protoecg_lib.synthetic import EvidenceSpan, load_evidence, write_synthetic_root
from protoecg_lib.labels import BRANCHES, LABEL_SETS
from protoecg_lib.models import BranchOutput, ModelOutput, ProtoECGNet
from protoecg_lib.evaluation.deletion import deletion_check, deletion_summary, neutralize, run_deletion_check
from protoecg_lib.evaluation.localisation import localisation_hits, localisation_summary, run_localisation, window_cover
from protoecg_lib.plotting.quality import plot_deletion, plot_localisation
from conftest import build_tiny_run, tiny_config

torch.set_num_threads(1)
T = 1000
ALL = LABEL_SETS["all"]


# ----------------------------------------------------------------------------- a crafted model
class EnergyModel(ProtoECGNet):
    """Window similarity = mean |x| over the window (all leads); pooled = mean over windows.

    The fusion head reads +gain from every prototype of its own class, bias ``bias``: the label's
    logit grows with the signal energy, and only windows holding the energy matter.
    """

    def __init__(self, gain=20.0, bias=-1.0):
        super().__init__(tiny_config(), load_pretrained=False)
        with torch.no_grad():
            self.fusion.weight.copy_(gain * self.fusion_identity.T)
            self.fusion.bias.fill_(bias)

    def forward(self, signals):
        outs = {}
        for name in BRANCHES:
            b = self.branches[name]
            spans = b.window_spans(signals.shape[-1]).tolist()
            energy = torch.stack([signals[:, :, s:s + n].abs().mean(dim=(1, 2)) for s, n in spans], dim=1)  # (B, W)
            ws = energy[:, None, :].expand(len(signals), b.num_prototypes, len(spans))                    # (B, P, W)
            outs[name] = BranchOutput(torch.zeros(len(signals), b.num_classes), ws.mean(2), ws, torch.zeros(1))
        feats = torch.cat([outs[n].similarity for n in BRANCHES], dim=1)
        return ModelOutput(self.fusion(feats), outs)


def crafted_split(bumps, labels):
    """ECGs that are flat except a 2-mV bump over ``[a, b)`` on every lead; targets from ``labels``."""
    x = np.zeros((len(bumps), 12, T), dtype=np.float32)
    for i, (a, b) in enumerate(bumps):
        x[i, :, a:b] = 2.0
    y = np.zeros((len(bumps), len(ALL)), dtype=np.float32)
    for i, codes in enumerate(labels):
        for c in codes:
            y[i, ALL.index(c)] = 1
    ids = np.arange(1, len(bumps) + 1)
    return Split("test", x, y, ids, ids, ALL, 100)


# ----------------------------------------------------------------------------- localisation
def test_window_cover_by_hand():
    spans = np.array([[int(w * 1000 // 32), 93] for w in range(30)])             # the 100 Hz, T=3 windows
    mask = np.zeros((12, T), bool)
    mask[7, 100:150] = True                                                     # V2, 1.00-1.50 s
    cover = window_cover(mask, spans)
    # window starts 0, 31, 62, 93, 125, 156, ...: [s, s+93) overlaps [100, 150) for s = 31, 62, 93, 125
    assert np.flatnonzero(cover).tolist() == [1, 2, 3, 4]
    assert cover.mean() == pytest.approx(4 / 30)
    assert not window_cover(np.zeros((12, T), bool), spans).any()
    edge = np.zeros((12, T), bool)
    edge[0, 93] = True                                                          # one sample: windows 1, 2, 3
    assert np.flatnonzero(window_cover(edge, spans)).tolist() == [1, 2, 3]


def test_localisation_hit_and_chance_by_hand():
    model = EnergyModel()
    # ECG 1: bump at 5.00-5.20 s, IMI evidence there (hit); ECG 2: same bump, evidence at 1.00-1.50 s (miss);
    # ECG 3: carries IMI but has no evidence entry; ECG 4: flat, IMI true but not predicted
    split = crafted_split([(500, 520), (500, 520), (500, 520), (0, 0)], [["IMI"]] * 4)
    evidence = {1: {"IMI": [EvidenceSpan(("II",), 5.0, 5.2)]}, 2: {"IMI": [EvidenceSpan(("V2",), 1.0, 1.5)]},
                4: {"IMI": [EvidenceSpan(("II",), 5.0, 5.2)]}}
    hits = localisation_hits(model, split, evidence, threshold=0.5)
    b = model.branches["morphology"]
    imi = [j for j in range(b.num_prototypes) if b.labels[int(b.prototype_class[j])] == "IMI"]
    assert sorted(hits["prototype"].unique()) == imi and set(hits["label"]) == {"IMI"}
    assert sorted(hits["ecg_id"].unique()) == [1, 2], "ECG 3 has no evidence, ECG 4 is not predicted"
    assert hits.attrs["no_evidence"] == len(imi)
    # the best window holds the bump: windows starting at 437 .. 500 hold all of 500-520 (w = 14 .. 16)
    assert set(hits["window"]) <= {14, 15, 16}
    assert hits.set_index("ecg_id").loc[1, "hit"].all() and not hits.set_index("ecg_id").loc[2, "hit"].any()
    # chance: windows overlapping 500-520 are those starting in (407, 520): 437, 468, 500 -> 3/30;
    # windows overlapping 100-150: 4/30 (see test_window_cover_by_hand)
    chance = hits.groupby("ecg_id")["chance"].first()
    assert chance[1] == pytest.approx(3 / 30) and chance[2] == pytest.approx(4 / 30)
    summary = localisation_summary(hits)
    assert list(summary.index) == ["IMI", "all"]
    row = summary.loc["all"]
    assert (row["pairs"], row["hits"], row["ecgs"]) == (2 * len(imi), len(imi), 2)
    assert row["hit_rate"] == pytest.approx(0.5)
    assert row["chance_rate"] == pytest.approx((3 / 30 + 4 / 30) / 2)
    assert row["lift"] == pytest.approx(0.5 / row["chance_rate"])
    # all carriers instead of correct predictions brings in ECG 4 (flat: every window ties, argmax 0 misses)
    everyone = localisation_hits(model, split, evidence, threshold=0.5, correct_only=False)
    assert sorted(everyone["ecg_id"].unique()) == [1, 2, 4]
    assert not everyone.set_index("ecg_id").loc[4, "hit"].any()


def test_localisation_refuses_global_branches_and_wrong_labels():
    model = EnergyModel()
    split = crafted_split([(500, 520)], [["IMI"]])
    with pytest.raises(ValueError, match="global prototypes"):
        localisation_hits(model, split, {}, branch="global")
    with pytest.raises(ValueError, match="global prototypes"):
        deletion_check(model, split, branch="rhythm")
    narrow = Split("test", split.signals, split.targets[:, :52], split.ecg_id, split.patient_id,
                   LABEL_SETS["morphology"], 100)
    with pytest.raises(ValueError, match="71-label"):
        localisation_hits(model, narrow, {})


def test_localisation_on_a_synthetic_root(tmp_path):
    root = write_synthetic_root(tmp_path / "synth", 40, seed=3)
    data = load_ptbxl(root)
    run = build_tiny_run(tmp_path / "run", data, num_train=33)
    result = run_localisation(run, data, correct_only=False, threshold=0.5)
    hits, summary = result["hits"], result["summary"]
    evidence = load_evidence(root)
    assert len(hits) > 0 and set(hits["ecg_id"]) <= set(data.split("test").ecg_id.tolist())
    for _, r in hits.iterrows():                                               # every pair has evidence for its label
        assert r["label"] in evidence[r["ecg_id"]]
    assert ((0 <= hits["chance"]) & (hits["chance"] <= 1)).all()
    assert summary.loc["all", "pairs"] == len(hits)
    assert data.source == "synthetic"
    fig = plot_localisation(summary)
    (ax,) = fig.axes
    bars = [p for p in ax.patches if p.get_gid() == "hit-rate"]
    assert len(bars) == len(summary) and bars[0].get_width() == pytest.approx(summary.loc["all", "hit_rate"])
    assert ax.get_legend() is None and len(fig.legends) == 1
    fig.canvas.draw()
    assert fig.legends[0].get_window_extent().y1 <= ax.get_window_extent().y0, "the legend sits under the bars"


@pytest.fixture(scope="module")
def excerpt(excerpt_root):
    return load_ptbxl(excerpt_root)


def test_localisation_needs_synthetic_data(excerpt, tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="synthetic"):
        run_localisation(tmp_path, excerpt)


# ----------------------------------------------------------------------------- deletion
def test_neutral_segments():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 50)).astype(np.float32)
    y = neutralize(x, 10, 5)
    np.testing.assert_array_equal(y[:, :10], x[:, :10])
    np.testing.assert_array_equal(y[:, 15:], x[:, 15:])
    # a straight line from x[:, 9] to x[:, 15], sampled strictly inside
    expected = x[:, 9:10] + (x[:, 15:16] - x[:, 9:10]) * (np.arange(1, 6) / 6)[None]
    np.testing.assert_allclose(y[:, 10:15], expected, rtol=1e-6)
    np.testing.assert_array_equal(x, np.asarray(x)), "the input is not modified"
    m = neutralize(x, 0, 7, "median")
    np.testing.assert_allclose(m[:, :7], np.repeat(np.median(x[:, :7], axis=1, keepdims=True), 7, axis=1))
    end = neutralize(x, 45, 5)                                                  # at the record end: flat at x[:, 44]
    np.testing.assert_allclose(end[:, 45:], x[:, 44:45] + (x[:, 49:50] - x[:, 44:45]) * (np.arange(1, 6) / 6))
    with pytest.raises(ValueError, match="fit"):
        neutralize(x, 48, 5)
    with pytest.raises(ValueError, match="neutral"):
        neutralize(x, 0, 5, "zeros")


def test_deletion_on_a_crafted_model():
    model = EnergyModel()
    split = crafted_split([(500, 520), (120, 140), (800, 830)], [["IMI"], ["LVH"], []])
    df = deletion_check(model, split, labels=["IMI", "LVH"], select="predicted", threshold=0.5, seed=1)
    assert set(zip(df["ecg_id"], df["label"])) == {(e, c) for e in (1, 2, 3) for c in ("IMI", "LVH")}
    spans = model.branches["morphology"].window_spans(T).numpy()
    for _, r in df.iterrows():
        a, n = spans[r["top_window"]]
        bump = {1: (500, 520), 2: (120, 140), 3: (800, 830)}[r["ecg_id"]]
        assert a <= bump[0] and bump[1] <= a + n, "the top window holds the whole bump"
        ra, rn = spans[r["random_window"]]
        assert ra + rn <= a or ra >= a + n, "the random window does not overlap the top one"
        assert r["drop_top"] > 0.05 and r["logit_drop_top"] > 0
        assert r["drop_top"] > r["drop_random"]
        assert r["p"] - r["p_top"] == pytest.approx(r["drop_top"])
    s = deletion_summary(df)
    assert s["pairs"] == 6 and s["fraction_top_greater"] == 1.0 and s["fraction_top_greater_logit"] == 1.0
    assert s["drop_top_mean"] > s["drop_random_mean"] and s["neutral"] == "interpolate"
    fig = plot_deletion(df)
    assert len(fig.axes) == 2 and fig._protoecg_deletion["pairs"] == 6
    tallest = max(p.get_path().get_extents().y1 for p in fig.axes[0].patches)
    assert fig.axes[0].get_ylim()[1] >= 1.4 * tallest, "headroom above the histograms for the legend"
    scatter = [c for c in fig.axes[1].collections if c.get_gid() == "pairs"]
    assert len(scatter) == 1 and len(scatter[0].get_offsets()) == 6
    # selection rules
    correct = deletion_check(model, split, labels=["IMI", "LVH"], select="correct")
    assert set(zip(correct["ecg_id"], correct["label"])) == {(1, "IMI"), (2, "LVH")}
    capped = deletion_check(model, split, labels=["IMI", "LVH"], max_pairs=2, num_random=3)
    assert len(capped) == 2
    none = deletion_check(model, split, labels=["IMI"], threshold=0.999)
    assert none.empty and deletion_summary(none)["pairs"] == 0
    with pytest.raises(ValueError, match="morphology labels"):
        deletion_check(model, split, labels=["SR"])
    with pytest.raises(ValueError, match="select"):
        deletion_check(model, split, select="all")


def test_deletion_on_a_real_run(excerpt, tmp_path):
    run = build_tiny_run(tmp_path / "run", excerpt, num_train=40)
    result = run_deletion_check(run, excerpt, select="true", max_pairs=12, seed=0)
    df, s = result["pairs"], result["summary"]
    assert 0 < len(df) <= 12 and s["pairs"] == len(df)
    assert set(df["label"]) <= set(LABEL_SETS["morphology"])
    assert np.allclose(df["drop_top"], df["p"] - df["p_top"])
    assert 0.0 <= s["fraction_top_greater"] <= 1.0
