"""Tests of protoecg_lib.teaching.latent: PCA maps, toy objectives and optimisation, cosine structure vs Jaccard."""
import math

import numpy as np
import pytest
import torch

from protoecg_lib.cooccurrence import jaccard
from protoecg_lib.plotting.latent import snapshot_panels
from protoecg_lib.teaching.latent_maps import (PCA2D, branch_latents, class_pair_cosines, cosine_structure,
                                               cosine_vs_jaccard, fit_pca_2d, pca_2d, primary_labels)
from protoecg_lib.teaching.toy_prototypes import TOY_TERMS, optimize_prototypes, toy_objective, unit_vectors
from protoecg_lib.training.losses import clustering_loss, contrastive_loss, diversity_loss, separation_loss
from protoecg_lib.models import BranchConfig, ProtoBranch, class_identity

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- PCA
def test_pca_matches_sklearn_up_to_sign():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 6)) @ rng.normal(size=(6, 6))
    pca = fit_pca_2d(x, normalize=False)
    ref = PCA(n_components=2).fit(x)
    for k in range(2):
        assert abs(abs(np.dot(pca.components[k], ref.components_[k])) - 1) < 1e-8
    np.testing.assert_allclose(pca.explained_variance_ratio, ref.explained_variance_ratio_, rtol=1e-8)
    np.testing.assert_allclose(np.abs(pca.transform(x)), np.abs(ref.transform(x)), atol=1e-8)


def test_pca_sign_is_fixed_and_components_orthonormal():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 5))
    pca = fit_pca_2d(x)
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(2), atol=1e-10)
    biggest = pca.components[np.arange(2), np.abs(pca.components).argmax(axis=1)]
    assert (biggest > 0).all()
    # the same data with rows reordered gives the same map
    perm = rng.permutation(40)
    np.testing.assert_allclose(fit_pca_2d(x[perm]).transform(x), pca.transform(x), atol=1e-10)


def test_pca_normalize_ignores_vector_length():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 4))
    scaled = x * rng.uniform(0.1, 10, size=(30, 1))
    a, _, _ = pca_2d(x)
    b, _, _ = pca_2d(scaled)
    np.testing.assert_allclose(a, b, atol=1e-10)


def test_pca_2d_places_prototypes_on_the_latent_map():
    x = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0], [2.0, 0.5, 0.0]])
    points, protos, pca = pca_2d(x, prototypes=x[:2], normalize=False)
    assert points.shape == (4, 2) and protos.shape == (2, 2)
    np.testing.assert_allclose(protos, points[:2])           # a prototype equal to a latent lands on its point
    assert isinstance(pca, PCA2D)
    # data in a plane: the two components explain everything
    assert pca.explained_variance_ratio.sum() == pytest.approx(1.0)


def test_pca_accepts_2d_prototype_shapes_and_checks_width():
    x = torch.rand(10, 4, 1, 3)          # (N, D, 1, T) flattened to 12 features
    _, protos, pca = pca_2d(x.reshape(10, -1), prototypes=x[:3])
    assert protos.shape == (3, 2)
    with pytest.raises(ValueError, match="12"):
        pca.transform(np.ones((2, 5)))


@pytest.mark.parametrize("bad, match", [(np.ones(5), "shape"), (np.ones((1, 3)), "at least 2 rows"),
                                        (np.array([[1.0, np.nan], [0.0, 1.0]]), "NaN")])
def test_pca_rejects_bad_latents(bad, match):
    with pytest.raises(ValueError, match=match):
        fit_pca_2d(bad)


# ----------------------------------------------------------------------------- latents of a branch
def test_branch_latents_are_what_projection_copies():
    torch.manual_seed(0)
    cfg = BranchConfig("global", "2d", prototypes_per_class=2, prototype_length=3, proto_dim=8, base_width=4)
    branch = ProtoBranch(cfg).eval()
    x = torch.randn(3, 12, 1000) * 0.3
    lat = branch_latents(branch, x, batch_size=2)
    w = branch.num_windows(1000)
    assert lat.shape == (3, w, 8 * 3)
    # a prototype set to window k of ECG n has the maximum similarity (the scale) to that window
    branch.set_prototypes(torch.as_tensor(lat[1, 5]), 0)
    with torch.no_grad():
        ws = branch(x).window_similarity
    assert float(ws[1, 0, 5]) == pytest.approx(branch.config.scale, rel=1e-3)


def test_branch_latents_1d_and_shape_error():
    torch.manual_seed(0)
    branch = ProtoBranch(BranchConfig("rhythm", "1d", prototypes_per_class=1, proto_dim=8, base_width=4))
    x = np.random.default_rng(0).normal(size=(2, 12, 1000)).astype(np.float32)
    lat = branch_latents(branch, x)
    assert lat.shape == (2, 1, 8)
    np.testing.assert_allclose(lat[:, 0], branch.encode(torch.from_numpy(x)).detach().numpy(), rtol=1e-5)
    with pytest.raises(ValueError, match=r"\(N, 12, T\)"):
        branch_latents(branch, x[0])


def test_primary_labels_pick_the_rarest_positive():
    y = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0], [0, 1, 1]])
    labels = ["SR", "1AVB", "AFIB"]
    out = primary_labels(y, labels)                     # counts 2, 2, 1: ties keep label order
    assert out.tolist() == ["SR", "SR", "none", "AFIB"]
    out = primary_labels(y, labels, counts=[300, 20, 5])
    assert out.tolist() == ["1AVB", "SR", "none", "AFIB"]
    with pytest.raises(ValueError, match="labels"):
        primary_labels(y, labels[:2])


# ----------------------------------------------------------------------------- toys
def test_unit_vectors():
    v = unit_vectors([0, 90, 180, 45])
    np.testing.assert_allclose(v.numpy(), [[1, 0], [0, 1], [-1, 0], [math.sqrt(0.5)] * 2], atol=1e-7)


A = class_identity(2, 2)                             # p0, p1 -> class 0; p2, p3 -> class 1
SAMPLES = unit_vectors([0, 30, 120, 150])
TARGETS = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
PROTOS = unit_vectors([10, 80, 100, 170]) * torch.tensor([[1.0], [2.0], [0.5], [1.0]])


def test_toy_objective_matches_the_library_terms():
    sim = torch.nn.functional.normalize(SAMPLES, dim=1) @ torch.nn.functional.normalize(PROTOS, dim=1).T
    j = torch.as_tensor(jaccard(TARGETS.numpy()))
    for variant in ("code", "protopnet"):
        assert toy_objective("clst", SAMPLES, TARGETS, A, variant=variant)(PROTOS).item() == pytest.approx(
            clustering_loss(sim, TARGETS, A, variant).item(), abs=1e-6)
        assert toy_objective("sep", SAMPLES, TARGETS, A, variant=variant)(PROTOS).item() == pytest.approx(
            separation_loss(sim, TARGETS, A, variant).item(), abs=1e-6)
    assert toy_objective("div", SAMPLES, TARGETS, A)(PROTOS).item() == pytest.approx(diversity_loss(PROTOS).item())
    assert toy_objective("cnrst", SAMPLES, TARGETS, A, j)(PROTOS).item() == pytest.approx(
        contrastive_loss(PROTOS, A, j).item())
    # by hand: sample 0 (class 0, at 0 deg) is closest to p0 (10 deg): code clustering entry -cos 10
    clst = toy_objective("clst", SAMPLES[:1], TARGETS[:1], A)(PROTOS)
    assert clst.item() == pytest.approx(-math.cos(math.radians(10)) / 2, abs=1e-6)


def test_toy_objective_errors():
    with pytest.raises(ValueError, match="unknown loss term"):
        toy_objective("cls", SAMPLES, TARGETS, A)
    with pytest.raises(ValueError, match="cooccurrence"):
        toy_objective("cnrst", SAMPLES, TARGETS, A)
    with pytest.raises(ValueError, match=r"\(P, 2\)"):
        toy_objective("clst", SAMPLES, TARGETS, A)(torch.ones(4, 3))
    assert set(TOY_TERMS) == {"clst", "sep", "spars", "div", "cnrst"}


def test_optimize_prototypes_reaches_a_known_minimum_and_keeps_the_input():
    start = torch.zeros(3, 2)
    target = torch.tensor([[1.0, -1.0], [0.5, 2.0], [-1.0, 0.0]])
    traj = optimize_prototypes(start, lambda p: (p - target).pow(2).sum(), num_steps=400, lr=0.05,
                               num_snapshots=5)
    assert traj.prototypes.shape == (5, 3, 2)
    assert traj.steps == [0, 100, 200, 300, 400]
    assert torch.equal(traj.start, start) and torch.equal(start, torch.zeros(3, 2))
    torch.testing.assert_close(traj.end, target, atol=1e-2, rtol=0)
    assert traj.losses[0] == pytest.approx(float(target.pow(2).sum()))
    assert traj.losses[-1] < 1e-3


def test_optimize_clustering_pulls_prototypes_towards_own_samples():
    obj = toy_objective("clst", SAMPLES, TARGETS, A)
    traj = optimize_prototypes(PROTOS, obj, num_steps=150, lr=0.05)
    assert traj.losses[-1] < traj.losses[0]
    angle = lambda v: math.degrees(math.atan2(float(v[1]), float(v[0])))
    # p0 (class 0, at 10 deg) moves into the class-0 samples (0..30 deg)
    assert 0 <= angle(traj.end[0]) <= 30
    # p3 (class 1, 170 deg) moves towards the class-1 samples (30..150 deg)
    assert angle(traj.end[3]) < 170


def test_optimize_prototypes_errors():
    f = lambda p: p.sum()
    with pytest.raises(ValueError, match="num_steps"):
        optimize_prototypes(PROTOS, f, num_steps=0)
    with pytest.raises(ValueError, match="num_snapshots"):
        optimize_prototypes(PROTOS, f, num_snapshots=1)
    with pytest.raises(ValueError, match="lr"):
        optimize_prototypes(PROTOS, f, lr=0)
    with pytest.raises(ValueError, match="scalar"):
        optimize_prototypes(PROTOS, lambda p: p, num_steps=1)
    with pytest.raises(ValueError, match="inf"):
        optimize_prototypes(PROTOS, lambda p: p.sum() * float("inf"), num_steps=1)


# ----------------------------------------------------------------------------- cosine structure
def test_class_pair_cosines_by_hand():
    p = unit_vectors([0, 60, 90, 180])                # classes: 0 -> p0, p1; 1 -> p2, p3
    out = class_pair_cosines(p, A)
    c = lambda d: math.cos(math.radians(d))
    assert out[0, 0] == pytest.approx(c(60))
    assert out[1, 1] == pytest.approx(c(90))
    assert out[0, 1] == pytest.approx((c(90) + c(180) + c(30) + c(120)) / 4)
    np.testing.assert_allclose(out, out.T)


def test_class_pair_cosines_single_prototype_diagonal_is_nan_and_shape_checks():
    out = class_pair_cosines(unit_vectors([0, 90]), class_identity(2, 1))
    assert np.isnan(out[0, 0]) and np.isnan(out[1, 1]) and out[0, 1] == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError, match="rows"):
        class_pair_cosines(unit_vectors([0, 90, 45]), class_identity(2, 1))
    with pytest.raises(ValueError, match="one class per prototype"):
        class_pair_cosines(unit_vectors([0, 90]), torch.ones(2, 2))


def test_cosine_vs_jaccard_and_structure_by_hand():
    # three classes, one prototype each, plus a class without training positives
    y = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0]])
    j = jaccard(y)                                      # J01 = 1/2, J02 = J12 = 0, class 3 empty
    p = unit_vectors([0, 30, 100, 10])
    a = class_identity(4, 1)
    df = cosine_vs_jaccard(p, a, j, labels=["SR", "1AVB", "AFIB", "PACE"])
    assert list(zip(df["class_a"], df["class_b"])) == [("SR", "1AVB"), ("SR", "AFIB"), ("1AVB", "AFIB")]
    np.testing.assert_allclose(df["jaccard"], [0.5, 0.0, 0.0])
    c = lambda d: math.cos(math.radians(d))
    np.testing.assert_allclose(df["cosine"], [c(30), c(100), c(70)], atol=1e-7)
    s = cosine_structure(p, a, j)
    assert s["cooccurring"] == pytest.approx(c(30))
    assert s["never"] == pytest.approx((c(100) + c(70)) / 2)
    assert s["gap"] == pytest.approx(s["cooccurring"] - s["never"])
    assert (s["pairs_cooccurring"], s["pairs_never"]) == (1, 2)
    assert math.isnan(s["same_class"])                   # one prototype per class
    # ranks of J (3, 1.5, 1.5) and of the cosines (3, 1, 2): Pearson of the ranks = 1.5 / sqrt(1.5 * 2)
    assert s["spearman"] == pytest.approx(1.5 / math.sqrt(3.0))


def test_cosine_structure_same_class_and_spearman():
    # two classes that co-occur and one that never does, two prototypes each
    y = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0]])
    j = jaccard(y)                                       # J01 = 1/3, J02 = J12 = 0
    a = class_identity(3, 2)
    p = unit_vectors([0, 20, 40, 50, 170, 190])
    s = cosine_structure(p, a, j)
    c = lambda d: math.cos(math.radians(d))
    assert s["same_class"] == pytest.approx((c(20) + c(10) + c(20)) / 3)
    assert s["cooccurring"] > s["never"]
    # pairs: (0,1) J=1/3 highest cosine; (0,2), (1,2) J=0 -> ranks of J (3, 1.5, 1.5) vs cosine
    cos01 = np.mean([c(40), c(50), c(20), c(30)])
    cos02 = np.mean([c(170), c(190), c(150), c(170)])
    cos12 = np.mean([c(130), c(150), c(120), c(140)])
    from scipy.stats import spearmanr
    assert s["spearman"] == pytest.approx(spearmanr([1 / 3, 0, 0], [cos01, cos02, cos12]).statistic)


def test_cosine_vs_jaccard_shape_error():
    with pytest.raises(ValueError, match=r"\(C, C\)"):
        cosine_vs_jaccard(unit_vectors([0, 90]), class_identity(2, 1), np.eye(3))


def test_snapshot_panels_layout():
    from protoecg_lib.teaching.toy_prototypes import Trajectory

    snaps = torch.stack([unit_vectors([0, 90]) * 3, unit_vectors([45, 180])])     # (S=2, P=2, 2), lengths ignored
    traj = Trajectory(prototypes=snaps, steps=[0, 10], losses=[1.0, 0.5])
    panels = snapshot_panels(unit_vectors([30]) * 2, ["SR"], traj, ["SR", "AFIB"], gap=1.0, circle_points=4)
    assert panels["offsets"] == [0.0, 3.0]
    # panel 0: 4 circle dots + 1 sample; panel 1: 4 circle dots + 1 sample + 2 trail dots
    assert len(panels["points"]) == len(panels["labels"]) == 4 + 1 + 4 + 1 + 2
    assert panels["labels"].count("earlier positions") == 2 and panels["labels"].count("SR") == 2
    np.testing.assert_allclose(panels["prototypes_2d"], [[1, 0], [0, 1], [3 + math.sqrt(0.5), math.sqrt(0.5)],
                                                         [2, 0]], atol=1e-7)
    assert panels["prototype_labels"] == ["SR", "AFIB", "SR", "AFIB"]
    sample_rows = [i for i, l in enumerate(panels["labels"]) if l == "SR"]
    np.testing.assert_allclose(panels["points"][sample_rows[1]], [3 + math.cos(math.radians(30)), 0.5], atol=1e-7)
    with pytest.raises(ValueError, match="one label"):
        snapshot_panels(unit_vectors([30]), ["SR", "x"], traj, ["SR", "AFIB"])
