"""Tests of protoecg_lib.teaching.anatomy: layer shapes, parameter counts, pooled similarities, pooled AUROC, figures."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.image import AxesImage
from sklearn.metrics import roc_auc_score

from protoecg_lib.plotting.branches import plot_last_layer, plot_window_similarity
from protoecg_lib.teaching.anatomy import class_scores, layer_shapes, parameter_counts, pooled_auroc, pooled_similarities
from protoecg_lib.models import BranchConfig, ProtoBranch, ResNet18_1D, ResNet18_2D, get_preset

torch.set_num_threads(1)


def _signals(n: int, num_samples: int = 1000, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 12, num_samples, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def small_morphology():
    torch.manual_seed(0)
    cfg = BranchConfig("morphology", "2d", prototypes_per_class=2, prototype_length=3, proto_dim=16,
                       base_width=4, similarity_scale=13.0)
    return ProtoBranch(cfg).eval()


# -- layer_shapes ---------------------------------------------------------------------------------

def test_layer_shapes_traces_the_1d_time_axis():
    backbone = ResNet18_1D(base_width=8).train()
    table = layer_shapes(backbone, _signals(2))
    shapes = dict(zip(table["layer"], table["output_shape"]))
    assert list(table["layer"]) == ["input", "conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
    assert shapes["input"] == (2, 12, 1000)
    assert shapes["conv1"] == (2, 8, 500) and shapes["maxpool"] == (2, 8, 250)
    assert [shapes[f"layer{i}"] for i in range(1, 5)] == [(2, 8, 250), (2, 16, 125), (2, 32, 63), (2, 64, 32)]
    assert table["parameters"].sum() == sum(p.numel() for p in backbone.parameters())
    assert backbone.training  # mode left as it was
    assert not any(m._forward_hooks for m in backbone.modules())  # hooks removed


def test_layer_shapes_2d_named_modules_and_dropout_order():
    backbone = ResNet18_2D(base_width=4, dropout=0.5).eval()
    table = layer_shapes(backbone, _signals(1), names=["conv1", "layer3", "dropout", "layer4", "layer2.0.conv1"])
    assert list(table["layer"]) == ["input", "conv1", "layer2.0.conv1", "layer3", "dropout", "layer4"]
    shapes = dict(zip(table["layer"], table["output_shape"]))
    assert shapes["conv1"] == (1, 4, 1, 500)
    assert shapes["layer2.0.conv1"] == (1, 8, 1, 125)
    assert shapes["layer4"] == (1, 32, 1, 32)
    assert not backbone.training


def test_layer_shapes_bad_input():
    with pytest.raises(ValueError, match="no sub-module"):
        layer_shapes(ResNet18_1D(base_width=4), _signals(1), names=["layer9"])
    with pytest.raises(TypeError, match="nn.Module"):
        layer_shapes("not a module", _signals(1))


# -- parameter_counts -----------------------------------------------------------------------------

def test_parameter_counts_match_spec_2_5():
    torch.manual_seed(0)
    counts = parameter_counts(ProtoBranch(get_preset("paper").branches["rhythm"]))
    assert counts == {"backbone": 3_848_832, "add_on": 525_312, "prototypes": 40_960, "last_layer": 1_280,
                      "total": 4_416_384}
    glob = parameter_counts(ProtoBranch(get_preset("paper").branches["global"]))
    assert glob["prototypes"] == 21 * 512 * 32 and glob["last_layer"] == 63 and glob["total"] == 12_041_919


def test_parameter_counts_parts_add_up(small_morphology):
    c = parameter_counts(small_morphology)
    assert c["backbone"] + c["add_on"] + c["prototypes"] + c["last_layer"] == c["total"]
    assert c["prototypes"] == small_morphology.num_prototypes * 16 * 3
    with pytest.raises(TypeError, match="ProtoBranch"):
        parameter_counts(torch.nn.Linear(2, 2))


# -- pooled_similarities --------------------------------------------------------------------------

def test_pooled_similarities_equal_direct_pooling(small_morphology):
    x = _signals(5, seed=3)
    small_morphology.train()
    pooled = pooled_similarities(small_morphology, x.numpy(), batch_size=2, topk=4)
    assert small_morphology.training  # restored
    small_morphology.eval()
    with torch.no_grad():
        ws = small_morphology(x).window_similarity                # (5, P, 30)
    assert ws.shape[-1] == 30
    np.testing.assert_allclose(pooled["mean"], ws.mean(-1).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pooled["max"], ws.amax(-1).numpy(), rtol=1e-5, atol=1e-6)
    top4 = np.sort(ws.numpy(), axis=-1)[..., -4:].mean(-1)
    np.testing.assert_allclose(pooled["topk"], top4, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(pooled["argmax"], ws.argmax(-1).numpy())
    assert (pooled["max"] >= pooled["topk"] - 1e-6).all() and (pooled["topk"] >= pooled["mean"] - 1e-6).all()


def test_pooled_similarities_bad_input(small_morphology):
    with pytest.raises(ValueError, match="subset"):
        pooled_similarities(small_morphology, _signals(1), pools=("median",))
    with pytest.raises(ValueError, match=r"\(N, 12, T\)"):
        pooled_similarities(small_morphology, torch.zeros(2, 8, 1000))
    with pytest.raises(ValueError, match="at least one ECG"):
        pooled_similarities(small_morphology, np.zeros((0, 12, 1000), np.float32))


# -- class_scores and pooled_auroc ------------------------------------------------------------------

def test_class_scores_by_hand():
    s = np.array([[0.1, 0.5, 0.3, 0.2],
                  [0.9, 0.0, 0.4, 0.8]])
    a = np.array([[1, 0], [1, 0], [0, 1], [0, 1]])
    np.testing.assert_allclose(class_scores(s, a, "max"), [[0.5, 0.3], [0.9, 0.8]])
    np.testing.assert_allclose(class_scores(s, a, "mean"), [[0.3, 0.25], [0.45, 0.6]])
    with pytest.raises(ValueError, match="do not fit"):
        class_scores(s, a[:3], "max")
    with pytest.raises(ValueError, match="reduce"):
        class_scores(s, a, "sum")


def test_pooled_auroc_against_sklearn():
    rng = np.random.default_rng(0)
    n, a = 40, np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    y = np.zeros((n, 3))
    y[:15, 0] = 1
    y[10:30, 1] = 1          # label 2 has no positive: dropped
    mean = rng.normal(size=(n, 4))
    mx = rng.normal(size=(n, 4))
    table = pooled_auroc({"mean": mean, "max": mx, "argmax": np.zeros((n, 4), int)}, y, a, ["A", "B", "C"])
    assert list(table.index) == ["A", "B"] and list(table.columns) == ["support", "mean", "max"]
    assert table.loc["A", "support"] == 15 and table.loc["B", "support"] == 20
    assert table.loc["A", "mean"] == pytest.approx(roc_auc_score(y[:, 0], mean[:, :2].max(1)))
    assert table.loc["B", "max"] == pytest.approx(roc_auc_score(y[:, 1], mx[:, 2]))
    with pytest.raises(ValueError, match="targets must have shape"):
        pooled_auroc({"mean": mean}, y[:, :2], a, ["A", "B", "C"])
    with pytest.raises(ValueError, match="no pooled"):
        pooled_auroc({"argmax": mean}, y, a, ["A", "B", "C"])


def test_pooled_auroc_prefers_the_pool_that_separates():
    # a localised finding: positives have one high window among 30, negatives a uniformly higher floor
    rng = np.random.default_rng(1)
    pos = np.full((20, 30), 0.2) + rng.uniform(0, 0.01, (20, 30))
    pos[np.arange(20), rng.integers(0, 30, 20)] = 0.9
    neg = np.full((20, 30), 0.4) + rng.uniform(0, 0.01, (20, 30))
    ws = torch.tensor(np.concatenate([pos, neg])[:, None, :])       # (40, 1, 30)
    y = np.r_[np.ones(20), np.zeros(20)][:, None]
    pooled = {p: ws.mean(-1).numpy() if p == "mean" else ws.amax(-1).numpy() for p in ("mean", "max")}
    table = pooled_auroc(pooled, y, np.ones((1, 1)), ["PVC"])
    assert table.loc["PVC", "max"] == 1.0 and table.loc["PVC", "mean"] == 0.0


# -- figures --------------------------------------------------------------------------------------

def test_plot_last_layer_shows_the_matrix(small_morphology):
    w = small_morphology.last_layer.weight.detach()
    fig = plot_last_layer(w, small_morphology.labels, small_morphology.config.prototypes_per_class)
    images = [a for a in fig.axes[0].get_children() if isinstance(a, AxesImage)]
    assert len(images) == 1
    np.testing.assert_array_equal(images[0].get_array(), w.numpy())
    assert sorted(np.unique(w.numpy())) == [-0.5, 1.0]
    with pytest.raises(ValueError, match=r"\(C, P\)"):
        plot_last_layer(w, small_morphology.labels[:3])


def test_plot_window_similarity_lines_and_band():
    s = np.array([0.1, 0.4, 0.9, 0.3, 0.2])
    spans = np.array([[0, 30], [25, 30], [50, 30], [75, 30], [70, 30]])
    fig = plot_window_similarity(s, spans, 100.0, trace=np.zeros(100), lead="V1", topk=2)
    ax_ecg, ax = fig.axes
    lines = {l.get_gid(): l for l in ax.get_lines() if l.get_gid()}
    np.testing.assert_allclose(lines["window-similarity"].get_ydata(), s)
    np.testing.assert_allclose(lines["window-similarity"].get_xdata(), (spans[:, 0] + 15) / 100)
    assert lines["pool-mean"].get_ydata()[0] == pytest.approx(s.mean())
    assert lines["pool-max"].get_ydata()[0] == pytest.approx(0.9)
    assert lines["pool-topk"].get_ydata()[0] == pytest.approx(0.65)
    xs = np.asarray(ax_ecg.patches[0].get_path().transformed(ax_ecg.patches[0].get_patch_transform()).vertices)[:, 0]
    assert xs.min() == pytest.approx(0.5) and xs.max() == pytest.approx(0.8)  # best window: 50..80 samples
    with pytest.raises(ValueError, match="spans must have shape"):
        plot_window_similarity(s, spans[:4], 100.0)
    with pytest.raises(ValueError, match="sampling rate"):
        plot_window_similarity(s, spans, 0)
