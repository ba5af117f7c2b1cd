"""Beat timing (protoecg_lib.rr) and the rhythm branch's beat-timing option."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from protoecg_lib.data import rr
from protoecg_lib.models import BranchConfig, ProtoBranch


def _synthetic_lead(rr_s, fs=100, seconds=10.0):
    """A spiky lead with R peaks at the cumulative sums of ``rr_s`` (a narrow Gaussian QRS each)."""
    n = int(seconds * fs)
    t = np.arange(n) / fs
    peaks = np.cumsum(np.r_[0.4, rr_s])
    peaks = peaks[peaks < seconds - 0.2]
    x = np.zeros(n)
    for p in peaks:
        x += 1.2 * np.exp(-0.5 * ((t - p) / 0.012) ** 2) - 0.2 * np.exp(-0.5 * ((t - p - 0.03) / 0.015) ** 2)
        x += 0.25 * np.exp(-0.5 * ((t - p - 0.3) / 0.05) ** 2)           # T wave
    return x.astype(np.float32), np.round(peaks * fs).astype(int)


@pytest.mark.parametrize("method", rr.DETECTORS)
def test_detector_finds_regular_beats(method):
    pytest.importorskip("neurokit2") if method == "neurokit" else None
    x, truth = _synthetic_lead(np.full(20, 0.8))
    peaks = rr.detect_r_peaks(x, 100, method)
    hits = sum(np.min(np.abs(peaks - p)) <= 5 for p in truth)
    assert hits >= len(truth) - 1
    f = rr.beat_features(rr.rr_intervals(peaks, 100), 10.0)
    assert f[rr.BEAT_FEATURES.index("valid")] == 1
    assert abs(f[0]) < 0.1                                              # ~ 75 bpm
    assert f[rr.BEAT_FEATURES.index("cv_rr")] < 0.05


def test_irregular_rhythm_has_higher_variability():
    pytest.importorskip("neurokit2")
    rng = np.random.default_rng(0)
    regular, _ = _synthetic_lead(np.full(20, 0.8))
    irregular, _ = _synthetic_lead(rng.uniform(0.45, 1.2, 20))
    fr = rr.beat_timing(regular, 100).features
    fi = rr.beat_timing(irregular, 100).features
    for name in ("cv_rr", "rmssd_rel", "irregular_frac"):
        k = rr.BEAT_FEATURES.index(name)
        assert fi[k] > fr[k] + 0.05


def test_flat_and_short_inputs_give_invalid_features():
    assert rr.detect_r_peaks(np.zeros(1000), 100).size == 0
    f = rr.beat_features(np.array([0.8, 0.8]), 10.0)
    assert f.shape == (len(rr.BEAT_FEATURES),) and not f.any()
    with pytest.raises(ValueError, match="one lead"):
        rr.detect_r_peaks(np.zeros((2, 3, 10)), 100)
    with pytest.raises(ValueError, match="lead 5"):
        rr.detect_r_peaks(np.zeros((2, 10)), 100, lead=5)
    with pytest.raises(ValueError, match="detector"):
        rr.detect_r_peaks(np.zeros(100), 100, method="magic")


def test_a_record_is_read_on_lead_ii_by_default():
    pytest.importorskip("neurokit2")
    x, _ = _synthetic_lead(np.full(20, 0.8))
    record = np.zeros((12, len(x)), np.float32)
    record[1] = x
    np.testing.assert_array_equal(rr.detect_r_peaks(record, 100), rr.detect_r_peaks(x, 100))
    assert rr.detect_r_peaks(record, 100, lead=0).size == 0            # lead I is flat here


def test_missing_neurokit_falls_back_to_gqrs_with_a_warning(monkeypatch):
    monkeypatch.setattr(rr, "neurokit_available", lambda: False)
    monkeypatch.setattr(rr, "_FALLBACK_WARNED", False)
    with pytest.warns(RuntimeWarning, match="pip install neurokit2"):
        assert rr.resolve_method("neurokit") == "gqrs"
    x, truth = _synthetic_lead(np.full(20, 0.8))
    peaks = rr.detect_r_peaks(x, 100)                                   # GQRS now, no second warning
    assert sum(np.min(np.abs(peaks - p)) <= 5 for p in truth) >= len(truth) - 1


def test_tachogram_holds_intervals_between_beats():
    tach = rr.tachogram(np.array([100, 180, 300]), 100, 400)
    assert tach.shape == (400,)
    assert tach[150] == pytest.approx(0.8) and tach[250] == pytest.approx(1.2)
    assert tach[0] == pytest.approx(0.8) and tach[-1] == pytest.approx(1.2)


def test_feature_matrix_is_memoised_by_content():
    pytest.importorskip("neurokit2")
    x, _ = _synthetic_lead(np.full(20, 0.8))
    batch = np.zeros((3, 12, 1000), np.float32)
    batch[:, 1] = x
    batch[2, 1] *= 0.5
    cache = rr.BeatFeatureCache()
    f1 = rr.beat_feature_matrix(batch, 100, cache=cache)
    assert f1.shape == (3, len(rr.BEAT_FEATURES)) and cache.misses == 2 and len(cache) == 2
    f2 = rr.beat_feature_matrix(batch, 100, cache=cache)
    np.testing.assert_array_equal(f1, f2)
    assert cache.hits >= 3


def test_rhythm_branch_with_beat_timing():
    pytest.importorskip("neurokit2")
    cfg = BranchConfig("rhythm", "1d", prototypes_per_class=2, proto_dim=16, base_width=4,
                       beat_timing="rr", latent_center="running")
    branch = ProtoBranch(cfg).eval()
    x, _ = _synthetic_lead(np.full(20, 0.8))
    signals = torch.zeros(2, 12, 1000)
    signals[:, 1] = torch.from_numpy(x)
    out = branch(signals)
    assert out.logits.shape == (2, 16) and out.latent.shape == (2, 16)
    assert branch.add_on[0].in_features == 8 * 4 + cfg.beat_dim
    with pytest.raises(ValueError, match="1D"):
        BranchConfig("morphology", "2d", prototypes_per_class=1, prototype_length=3, beat_timing="rr")


def test_plot_beat_timing_draws_strip_and_tachogram_per_record():
    pytest.importorskip("neurokit2")
    from protoecg_lib.plotting import plot_beat_timing

    x, _ = _synthetic_lead(np.full(20, 0.8))
    record = np.zeros((12, 1000), np.float32)
    record[1] = x
    fig = plot_beat_timing([record, record], 100, ["a", "b"])
    assert len(fig.axes) == 4
    with pytest.raises(ValueError, match="titles"):
        plot_beat_timing([record], 100, ["a", "b"])
