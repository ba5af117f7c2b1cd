"""Tests of protoecg_lib.cooccurrence: Jaccard matrix (method §1.7) and class weights (method §1.5)."""
import numpy as np
import pytest

from protoecg_lib.cooccurrence import class_weights, jaccard, positive_counts
from protoecg_lib.labels import label_set

# Category-3 (morphology) training positives from the spec's Appendix A, in label-set order.
MORPHOLOGY_TRAIN_POSITIVES = [
    1461, 615, 94, 2143, 1887, 1708, 1298, 1019, 894, 527, 432, 428, 383, 341, 282, 232, 175, 171,
    161, 143, 141, 135, 116, 113, 102, 84, 79, 64, 62, 41, 35, 26, 24, 14, 13, 13, 11, 2683, 915,
    807, 701, 438, 350, 340, 318, 272, 235, 145, 49, 28, 22, 8,
]


def _targets_with_counts(counts, num_records=None):
    """A multi-hot matrix whose column c has exactly counts[c] positives (the first rows)."""
    n = num_records or max(counts)
    y = np.zeros((n, len(counts)), dtype=np.float32)
    for c, k in enumerate(counts):
        y[:k, c] = 1
    return y


def test_jaccard_by_hand():
    # 4 records, 3 labels: a = rows 0,1,2; b = rows 1,2,3; c = row 3
    y = np.array([[1, 0, 0], [1, 1, 0], [1, 1, 0], [0, 1, 1]], dtype=np.float32)
    j = jaccard(y)
    expected = np.array([
        [1.0, 2 / 4, 0.0],    # |a∩b| = 2, |a∪b| = 4
        [2 / 4, 1.0, 1 / 3],  # |b∩c| = 1, |b∪c| = 3
        [0.0, 1 / 3, 1.0],
    ])
    assert j.dtype == np.float32 and j.shape == (3, 3)
    np.testing.assert_allclose(j, expected, rtol=1e-6)


def test_jaccard_invariants_on_random_targets():
    rng = np.random.default_rng(0)
    y = (rng.random((300, 16)) < rng.uniform(0.02, 0.5, 16)).astype(np.float32)
    j = jaccard(y)
    np.testing.assert_array_equal(j, j.T)
    np.testing.assert_array_equal(np.diag(j), 1.0)
    assert (j >= 0).all() and (j <= 1).all()
    # second method: explicit set operations for one pair
    a, b = y[:, 3].astype(bool), y[:, 7].astype(bool)
    assert j[3, 7] == pytest.approx((a & b).sum() / (a | b).sum(), rel=1e-6)


def test_jaccard_label_without_positive_is_all_zero():
    y = np.array([[1, 0, 1], [1, 0, 0], [0, 0, 1]], dtype=np.float32)  # label 1 never positive
    j = jaccard(y)
    assert np.isfinite(j).all()
    np.testing.assert_array_equal(j[1], 0.0)
    np.testing.assert_array_equal(j[:, 1], 0.0)
    assert j[0, 0] == 1.0 and j[2, 2] == 1.0


def test_official_class_weights_match_spec_example():
    counts = MORPHOLOGY_TRAIN_POSITIVES
    assert len(counts) == len(label_set("morphology")) == 52
    y = _targets_with_counts(counts)
    assert y.sum() == 22_778  # S of the spec, category 3
    np.testing.assert_array_equal(positive_counts(y), counts)
    w = class_weights(y, "official")
    assert w.dtype == np.float32 and w.shape == (52,)
    np.testing.assert_allclose(w[:3], [14.59, 36.04, 241.32], atol=0.005)
    assert w[-1] == pytest.approx(2846.25)  # PRC(S), 8 positives
    np.testing.assert_allclose(w, (22_778 - np.array(counts)) / np.array(counts), rtol=1e-6)


def test_standard_class_weights_use_number_of_records():
    y = _targets_with_counts([2, 5, 1], num_records=10)
    np.testing.assert_allclose(class_weights(y, "standard"), [8 / 2, 5 / 5, 9 / 1])
    np.testing.assert_allclose(class_weights(y, "official"), [6 / 2, 3 / 5, 7 / 1])


def test_dominant_label_gets_weight_below_one():
    y = _targets_with_counts([90, 5, 5], num_records=100)  # like NORM in the global branch
    w = class_weights(y)
    assert w[0] == pytest.approx(10 / 90) and w[0] < 1


def test_label_without_positive_gets_zero_weight_not_inf():
    y = _targets_with_counts([3, 0, 1], num_records=5)
    for formula in ("official", "standard"):
        w = class_weights(y, formula)
        assert np.isfinite(w).all()
        assert w[1] == 0.0
    assert class_weights(np.zeros((4, 2)), "official").tolist() == [0.0, 0.0]


@pytest.mark.parametrize("bad, match", [
    (np.ones(5), "2-D"),
    (np.array([[0, 2], [1, 0]]), "0/1"),
    (np.array([[0, np.nan]]), "NaN"),
    (np.zeros((3, 0)), "no label columns"),
])
def test_bad_targets_raise_clear_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        jaccard(bad)
    with pytest.raises(ValueError, match=match):
        class_weights(bad)


def test_unknown_formula_raises():
    with pytest.raises(ValueError, match="official"):
        class_weights(np.eye(3), "inverse")
