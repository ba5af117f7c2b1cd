"""Tests of the synthetic PTB-XL generator (protoecg_lib.synthetic).

Physiology is measured from the signals (R peaks, QRS width, P-wave energy), never read back from
the generator's parameters.
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.signal import find_peaks

from protoecg_lib import synthetic as syn
from protoecg_lib.synthetic import (GENERATOR_VERSION, MARKER, TIERS, EvidenceSpan, SyntheticConfig, evidence_mask,
                                         generate_record,
                                         load_evidence, read_marker, record_rng, sample_labels, synthetic_root,
                                         write_synthetic_root)
from protoecg_lib.synthetic.findings import label_conflicts
from protoecg_lib.labels import LABEL_SETS, LEADS, check_statements_csv

torch.set_num_threads(1)
CLEAN = SyntheticConfig(noise=False)


# ---- measurement helpers (independent of the generator) --------------------------------------------

def r_peaks(signals: np.ndarray, fs: int) -> np.ndarray:
    """R-peak sample indices: peaks of the summed absolute slope of all leads."""
    slope = np.abs(np.diff(signals, axis=1)).sum(axis=0)
    peaks, _ = find_peaks(slope, distance=int(0.25 * fs), height=0.4 * np.percentile(slope, 99))
    return peaks


def qrs_width_ms(signals: np.ndarray, fs: int) -> float:
    """QRS duration of the R-aligned average beat: where the summed slope exceeds 15 % of its peak."""
    slope = np.abs(np.diff(signals, axis=1)).sum(axis=0)
    peaks = [p for p in r_peaks(signals, fs) if int(0.2 * fs) < p < slope.size - int(0.3 * fs)]
    avg = np.mean([slope[p - int(0.2 * fs):p + int(0.3 * fs)] for p in peaks], axis=0)
    above = np.nonzero(avg > 0.15 * avg.max())[0]
    centre = int(np.argmax(avg))
    # contiguous region around the peak (gaps shorter than 20 ms bridged: notches)
    gap = int(0.02 * fs)
    lo = hi = centre
    for i in above[above < centre][::-1]:
        if lo - i > gap:
            break
        lo = i
    for i in above[above > centre]:
        if i - hi > gap:
            break
        hi = i
    return 1000 * (hi - lo + 1) / fs


def p_wave_coherence(signals: np.ndarray, fs: int, lead: int = 1) -> tuple[float, float]:
    """P-wave presence in the 300-70 ms before each QRS of one lead.

    Returns (coherence, amplitude): the energy of the R-aligned average window over the mean
    energy of the single (detrended) windows -- near 1 when a P wave repeats before every QRS,
    near 1/number of beats for activity unrelated to the QRS (f waves) -- and the peak-to-peak
    amplitude of the average window.
    """
    x = signals[lead]
    a, b = int(0.3 * fs), int(0.07 * fs)
    segs = []
    for p in r_peaks(signals, fs):
        if p > a:
            seg = x[p - a:p - b]
            segs.append(seg - np.linspace(seg[0], seg[-1], seg.size))
    segs = np.array(segs)
    avg = segs.mean(axis=0)
    return float((avg ** 2).sum() / (segs ** 2).sum(axis=1).mean()), float(avg.max() - avg.min())


# ---- generation ---------------------------------------------------------------------------------

def test_shapes_dtype_and_determinism():
    a, ev_a = generate_record(["SR", "IMI"], 100, rng=7)
    b, ev_b = generate_record(["IMI", "SR"], 100, rng=np.random.default_rng(7))
    c, _ = generate_record(["SR", "IMI"], 100, rng=8)
    assert a.shape == (12, 1000) and a.dtype == np.float32
    assert np.array_equal(a, b) and ev_a == ev_b          # label order and seed type do not matter
    assert not np.array_equal(a, c)
    hi, _ = generate_record(["SR"], 500, rng=1)
    assert hi.shape == (12, 5000)
    assert np.isfinite(a).all() and np.abs(a).max() < 10


def test_noise_switch_keeps_the_record():
    noisy, ev_noisy = generate_record(["SR", "LVH"], 100, rng=2)
    clean, ev_clean = generate_record(["SR", "LVH"], 100, rng=2, config=CLEAN)
    assert ev_noisy == ev_clean
    residual = noisy - clean
    assert 0.005 < residual.std() < 0.3 and np.corrcoef(noisy[1], clean[1])[0, 1] > 0.7


def test_einthoven_and_goldberger_hold_exactly():
    for labels in (["SR", "LVH"], ["AFIB", "PVC"], ["PACE"], ["AFLT"]):
        s, _ = generate_record(labels, 100, rng=3)
        lead_i, lead_ii = s[0], s[1]
        assert np.array_equal(s[2], lead_ii - lead_i)
        assert np.array_equal(s[3], -(lead_i + lead_ii) / np.float32(2))
        assert np.array_equal(s[4], lead_i - lead_ii / np.float32(2))
        assert np.array_equal(s[5], lead_ii - lead_i / np.float32(2))
        assert np.allclose(s[4] + s[5] + s[3], 0, atol=1e-5)          # aVR + aVL + aVF = 0


def test_precordial_r_wave_progression():
    ratios = []
    for seed in range(6):
        s, _ = generate_record(["NORM", "SR"], 500, rng=seed, config=CLEAN)
        r = s[6:].max(axis=1)                     # R height V1..V6
        sdepth = -s[6:].min(axis=1)               # S depth
        ratios.append(r / sdepth)
    ratios = np.median(ratios, axis=0)
    assert ratios[0] < 0.5                        # rS in V1
    assert ratios[4] > 1.5 and ratios[5] > 1.5    # qR / Rs in V5, V6
    assert ratios[0] < ratios[2] < ratios[4]


@pytest.mark.parametrize("labels,rate", [(["SBRAD"], 48.0), (["STACH"], 125.0), (["SR"], 75.0)])
def test_heart_rate_measured_from_r_peaks(labels, rate):
    for seed in range(3):
        s, _ = generate_record(labels, 100, rng=seed, heart_rate=rate)
        rr = np.diff(r_peaks(s, 100)) / 100
        assert abs(60 / np.median(rr) - rate) < 0.05 * rate


def test_heart_rate_must_match_rhythm():
    with pytest.raises(ValueError, match="SBRAD"):
        generate_record(["SBRAD"], 100, rng=0, heart_rate=80)
    with pytest.raises(ValueError, match="AFLT"):
        generate_record(["AFLT"], 100, rng=0, heart_rate=40)


def test_afib_is_irregular_without_p_waves():
    cv_af, cv_sr, p_af, p_sr = [], [], [], []
    for seed in range(4):
        af, _ = generate_record(["AFIB"], 100, rng=seed, heart_rate=70, config=CLEAN)
        sr, _ = generate_record(["SR"], 100, rng=seed, heart_rate=70, config=CLEAN)
        for sig, cv, pw in ((af, cv_af, p_af), (sr, cv_sr, p_sr)):
            rr = np.diff(r_peaks(sig, 100))
            cv.append(rr.std() / rr.mean())
            pw.append(p_wave_coherence(sig, 100))
    assert min(cv_af) > 0.1 and max(cv_sr) < 0.06
    assert max(c for c, _ in p_af) < 0.5 < min(c for c, _ in p_sr)       # nothing repeats before the QRS
    assert max(a for _, a in p_af) < 0.6 * min(a for _, a in p_sr)
    assert min(a for _, a in p_sr) > 0.06                                 # the measurement does see P waves


def test_clbbb_qrs_is_wide_normal_is_narrow():
    for seed in range(3):
        lbbb, _ = generate_record(["CLBBB", "SR"], 500, rng=seed, config=CLEAN)
        norm, _ = generate_record(["NORM", "SR"], 500, rng=seed, config=CLEAN)
        assert qrs_width_ms(lbbb, 500) > 120
        assert qrs_width_ms(norm, 500) < 110
    crbbb, _ = generate_record(["CRBBB", "SR"], 500, rng=0, config=CLEAN)
    assert qrs_width_ms(crbbb, 500) > 120


def test_pacing_spikes_and_flutter_waves_are_present():
    paced, ev = generate_record(["PACE"], 500, rng=2, config=CLEAN)
    slope = np.abs(np.diff(paced, axis=1)).max(axis=0)          # spikes: steepest slopes of the record
    spans = ev["PACE"]
    top = np.argsort(slope)[-5:] / 500
    assert all(any(s.start <= t <= s.end for s in spans) for t in top)
    fl, _ = generate_record(["AFLT"], 100, rng=1, config=CLEAN)
    spec = np.abs(np.fft.rfft(fl[5] - fl[5].mean()))
    freqs = np.fft.rfftfreq(fl.shape[1], 1 / 100)
    band = (freqs > 3.5) & (freqs < 6.0)
    assert spec[band].max() > 3 * np.median(spec[(freqs > 0.5) & (freqs < 40)])


def test_mains_only_where_the_sampling_rate_keeps_it():
    cfg = SyntheticConfig(mains_probability=1.0, mains_mv=0.1, emg_mv=0.0, baseline_wander_mv=0.0)
    hi, _ = generate_record(["SR"], 500, rng=4, config=cfg)
    lo, _ = generate_record(["SR"], 100, rng=4, config=cfg)
    no_mains = SyntheticConfig(mains_mv=0.0, emg_mv=0.0, baseline_wander_mv=0.0)
    clean_hi, _ = generate_record(["SR"], 500, rng=4, config=no_mains)
    assert np.abs(hi - clean_hi).max() > 0.02
    spec = np.abs(np.fft.rfft(hi[6]))
    f = np.fft.rfftfreq(5000, 1 / 500)
    assert spec[np.argmin(abs(f - 50))] > 10 * np.median(spec[(f > 45) & (f < 55)])
    x = lo[6] - lo[6].mean()
    alternating = np.abs(np.mean(x * (-1.0) ** np.arange(x.size)))   # the 50 Hz (Nyquist) component
    assert alternating < 1e-3


def test_100_and_500_hz_render_the_same_record():
    rng_a, rng_b = record_rng(0, 3), record_rng(0, 3)
    labels = sample_labels(rng_a)
    assert sample_labels(rng_b) == labels
    lo, ev_lo = generate_record(labels, 100, rng_a, config=CLEAN)
    hi, ev_hi = generate_record(labels, 500, rng_b, config=CLEAN)
    assert ev_lo == ev_hi
    corr = [np.corrcoef(lo[k], hi[k, ::5])[0, 1] for k in range(12)]
    assert min(corr) > 0.95


def test_label_errors_are_clear():
    with pytest.raises(ValueError, match="XYZ"):
        generate_record(["XYZ"], 100, rng=0)
    with pytest.raises(ValueError, match="not simulated"):
        generate_record(["SR", "TAB_"], 100, rng=0)
    with pytest.raises(ValueError, match="mutually exclusive"):
        generate_record(["SR", "AFIB"], 100, rng=0)
    with pytest.raises(ValueError, match="NORM"):
        generate_record(["NORM", "SR", "IMI"], 100, rng=0)
    with pytest.raises(ValueError, match="sampling rate"):
        generate_record(["SR"], 0, rng=0)
    with pytest.raises(TypeError):
        generate_record("SR", 100, rng=0)


# ---- labels and co-occurrence -------------------------------------------------------------------

def test_sampled_label_sets_are_consistent_and_cover_the_simulated_labels():
    rng = np.random.default_rng(0)
    sets = [sample_labels(rng) for _ in range(4000)]
    seen = set()
    for ls in sets:
        s = set(ls)
        seen |= s
        assert len(ls) == len(s) and s <= set(syn.SIMULATED_LABELS)
        assert not label_conflicts(ls)
        assert not ({"SR", "AFIB"} <= s)
        if "NORM" in s:
            assert len(s) == 2 and s & {"SR", "SBRAD", "STACH", "SARRH"}
        if s & {"BIGU", "TRIGU"}:
            assert s & {"PVC", "PAC"}
        assert sum(c in s for c in ("SR", "SBRAD", "STACH", "SARRH", "AFIB", "AFLT", "SVTAC", "PSVT", "PACE", "3AVB")) == 1
    assert seen == set(syn.SIMULATED_LABELS)
    assert not seen & set(syn.NOT_SIMULATED)
    # structure: IMI co-occurs with QWAVE far more than chance
    y = np.array([[c in ls for c in ("IMI", "QWAVE", "CLBBB", "ABQRS")] for ls in sets], dtype=float)
    p = y.mean(0)
    assert y[:, 0] @ y[:, 1] / len(sets) > 5 * p[0] * p[1]
    assert y[:, 2] @ y[:, 3] / len(sets) > 5 * p[2] * p[3]
    assert 0.25 < np.mean(["NORM" in ls for ls in sets]) < 0.35


def test_label_table_covers_all_71_statements():
    assert set(syn.LABEL_PHYSIOLOGY) | set(syn.NOT_SIMULATED) == set(LABEL_SETS["all"])
    assert len(syn.SIMULATED_LABELS) == 69


def test_every_simulated_label_renders_with_evidence():
    for code in syn.SIMULATED_LABELS:
        if code == "NORM":
            labels = ["NORM", "SR"]
        elif code in ("AFIB", "AFLT", "SVTAC", "PSVT", "PACE", "3AVB", "SR", "SBRAD", "STACH", "SARRH"):
            labels = [code]                       # a base rhythm on its own
        else:
            labels = [code, "SR"]
        if code in ("BIGU", "TRIGU"):
            labels.append("PVC")
        s, ev = generate_record(labels, 100, rng=11)
        assert set(ev) == set(labels), code
        for label, spans in ev.items():
            assert spans, (code, label)
            for sp in spans:
                assert 0 <= sp.start < sp.end <= 10.0
                assert set(sp.leads) <= set(LEADS) and sp.leads


def test_sampled_records_have_evidence_for_every_label():
    rng = np.random.default_rng(5)
    for _ in range(300):
        labels = sample_labels(rng)
        _, ev = generate_record(labels, 100, rng)
        assert set(ev) == set(labels)
        assert all(ev[c] for c in labels), labels


# ---- evidence ------------------------------------------------------------------------------------

def test_evidence_lies_where_the_finding_is():
    s, ev = generate_record(["SR", "IMI"], 500, rng=5, config=CLEAN)
    assert all(sp.leads == ("II", "III", "aVF") for sp in ev["IMI"])
    mask = evidence_mask(ev["IMI"], 500, s.shape[1])
    assert mask[[1, 2, 5]].any(axis=1).all() and not mask[[0, 3, 4, 6, 7, 8, 9, 10, 11]].any()
    assert s[5][mask[5]].min() < -0.15                          # a Q wave in aVF inside the spans
    s, ev = generate_record(["SR", "PVC"], 500, rng=5, config=CLEAN)
    mask = evidence_mask(ev["PVC"], 500, s.shape[1])
    biggest = np.unravel_index(np.argmax(np.abs(s)), s.shape)
    assert mask[biggest]                                         # the PVC is the largest deflection
    s, ev = generate_record(["SR", "STE_"], 500, rng=5, config=CLEAN)
    (lead, *_), = {sp.leads for sp in ev["STE_"]}
    k = LEADS.index(lead)
    inside = np.mean([s[k, int(sp.start * 500):int(sp.end * 500)].mean() for sp in ev["STE_"]])
    assert inside > 0.05                                         # ST raised above the baseline (0 mV)


def test_evidence_mask_by_hand():
    spans = [EvidenceSpan(("II", "V1"), 0.105, 0.2), {"leads": ["AVR"], "start": 9.95, "end": 12.0}]
    m = evidence_mask(spans, 100, 1000)
    assert m.shape == (12, 1000) and m.dtype == bool
    assert m[1, 10:20].all() and m[6, 10:20].all() and not m[1, 20] and not m[1, 9]
    assert m[3, 995:].all() and m.sum() == 2 * 10 + 5
    with pytest.raises(ValueError, match="lead"):
        evidence_mask([EvidenceSpan(("V7",), 0, 1)], 100, 1000)


# ---- the root -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return write_synthetic_root(tmp_path_factory.mktemp("syn") / "ptbxl", 60, seed=3, sampling_rates=(100, 500))


def test_same_seed_same_bytes(root, tmp_path):
    again = write_synthetic_root(tmp_path / "again", 60, seed=3, sampling_rates=(100, 500))
    files = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert len([f for f in files if f.suffix == ".dat"]) == 120
    for f in files:
        assert (root / f).read_bytes() == (again / f).read_bytes(), f
    other = write_synthetic_root(tmp_path / "other", 60, seed=4)
    assert (other / "ptbxl_database.csv").read_bytes() != (root / "ptbxl_database.csv").read_bytes()


def test_wfdb_reads_records_back(root):
    import wfdb
    meta = pd.read_csv(root / "ptbxl_database.csv", index_col="ecg_id")
    for i in (0, 17):
        eid = 900001 + i
        assert set(ast.literal_eval(meta.loc[eid, "scp_codes"])) == set(sample_labels(record_rng(3, i)))
        for fs, col in ((100, "filename_lr"), (500, "filename_hr")):
            rec = wfdb.rdrecord(str(root / meta.loc[eid, col]))
            assert rec.sig_name == ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]
            assert rec.fs == fs and rec.sig_len == 10 * fs and rec.units == ["mV"] * 12
            assert rec.fmt == ["16"] * 12 and rec.adc_gain == [1000.0] * 12
            rng = record_rng(3, i)
            sig, _ = generate_record(sample_labels(rng), fs, rng)     # the record in float precision
            assert np.abs(rec.p_signal.T - sig).max() <= 0.0005 + 1e-6
    hea = (root / meta.loc[900001, "filename_lr"]).with_suffix(".hea").read_text().splitlines()
    assert hea[0] == "900001_lr 12 100 1000"
    assert hea[1].startswith("900001_lr.dat 16 1000.0(0)/mV 16 0 ") and hea[4].endswith(" AVR")


def test_fast_writer_matches_wfdb_wrsamp(tmp_path):
    a = write_synthetic_root(tmp_path / "fast", 3, seed=9)
    b = write_synthetic_root(tmp_path / "wfdb", 3, seed=9, config=SyntheticConfig(writer="wfdb"))
    for p in a.rglob("*_lr.*"):
        assert p.read_bytes() == (b / p.relative_to(a)).read_bytes(), p


def test_metadata_matches_ptbxl(root, excerpt_root):
    meta = pd.read_csv(root / "ptbxl_database.csv")
    assert tuple(meta.columns) == syn.PTBXL_COLUMNS
    real = pd.read_csv(excerpt_root / "ptbxl_database.csv", nrows=5)
    assert list(meta.columns) == list(real.columns)
    for col in ("ecg_id", "sex", "strat_fold", "patient_id", "age"):
        assert meta[col].dtype == real[col].dtype, col
    assert meta.ecg_id.min() > 21837 and meta.ecg_id.is_unique
    assert (meta.device == "synthetic (protoecg)").all()
    assert meta.strat_fold.between(1, 10).all()
    assert (meta.groupby("patient_id").strat_fold.nunique() == 1).all()     # folds split by patient
    codes = meta.scp_codes.map(ast.literal_eval)
    assert all(isinstance(d, dict) and d and all(isinstance(v, float) for v in d.values()) for d in codes)
    records = (root / "RECORDS").read_text().split()
    assert records[:60] == list(meta.filename_lr) and records[60:] == list(meta.filename_hr)
    assert check_statements_csv(root / "scp_statements.csv") == []


def test_folds_are_80_10_10_by_patient(tmp_path):
    r = write_synthetic_root(tmp_path / "f", 400, seed=1, config=SyntheticConfig(noise=False))
    meta = pd.read_csv(r / "ptbxl_database.csv")
    share = meta.strat_fold.value_counts(normalize=True)
    assert set(share.index) == set(range(1, 11))
    assert share.between(0.06, 0.14).all()
    assert meta.patient_id.nunique() < len(meta)            # some patients have several records


def test_evidence_file_matches_metadata(root):
    ev = load_evidence(root)
    meta = pd.read_csv(root / "ptbxl_database.csv", index_col="ecg_id")
    assert set(ev) == set(meta.index)
    for eid, per_label in ev.items():
        assert set(per_label) == set(ast.literal_eval(meta.loc[eid, "scp_codes"]))
        for spans in per_label.values():
            for sp in spans:
                assert isinstance(sp, EvidenceSpan) and 0 <= sp.start < sp.end <= 10
                assert set(sp.leads) <= set(LEADS)
    raw = json.loads((root / syn.EVIDENCE_FILE).read_text())
    assert all(isinstance(k, str) for k in raw)
    with pytest.raises(FileNotFoundError, match="not a synthetic root"):
        load_evidence(root / "records100")


def test_marker_written_and_interrupted_write_leaves_nothing(root, tmp_path, monkeypatch):
    m = read_marker(root)
    assert m["seed"] == 3 and m["num_records"] == 60 and m["sampling_rates"] == [100, 500]
    assert "TAB_" in m["labels_not_simulated"] and "TAB_" not in m["labels_simulated"]

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(syn.root, "_write_contents", boom)
    with pytest.raises(KeyboardInterrupt):
        write_synthetic_root(tmp_path / "broken", 5)
    assert not (tmp_path / "broken").exists()
    assert list(tmp_path.iterdir()) == []


def test_root_protection(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="overwrite"):
        write_synthetic_root(tmp_path / "mine", 2)
    with pytest.raises(FileExistsError, match="not a synthetic root"):
        write_synthetic_root(tmp_path / "mine", 2, overwrite=True)
    assert (tmp_path / "mine" / "thesis.txt").exists()
    r = write_synthetic_root(tmp_path / "syn", 2)
    r = write_synthetic_root(r, 3, overwrite=True)
    assert read_marker(r)["num_records"] == 3
    for bad in (dict(num_records=0), dict(num_records=2, sampling_rates=(250,)), dict(num_records=2, seed=-1)):
        with pytest.raises(ValueError):
            write_synthetic_root(tmp_path / "x", **bad)


def test_synthetic_root_is_cached(tmp_path):
    r = synthetic_root("tiny", seed=0, cache=tmp_path)
    assert r == tmp_path / "synthetic" / "tiny-0"
    stamp = (r / syn.MARKER).stat().st_mtime_ns
    assert synthetic_root("tiny", seed=0, cache=tmp_path) == r
    assert (r / syn.MARKER).stat().st_mtime_ns == stamp
    assert read_marker(r)["num_records"] == syn.TIERS["tiny"]
    with pytest.raises(ValueError, match="tier"):
        synthetic_root("huge", cache=tmp_path)
    marker = json.loads((r / syn.MARKER).read_text())
    marker["version"] = "0.0-old"                              # a root from another generator version
    (r / syn.MARKER).write_text(json.dumps(marker))
    assert synthetic_root("tiny", seed=0, cache=tmp_path) == r
    assert read_marker(r)["version"] == syn.GENERATOR_VERSION  # rebuilt


def test_config_validation():
    with pytest.raises(ValueError, match="duration"):
        SyntheticConfig(duration=0.1)
    with pytest.raises(ValueError, match="first_ecg_id"):
        SyntheticConfig(first_ecg_id=5)
    with pytest.raises(ValueError, match="writer"):
        SyntheticConfig(writer="fastest")


def test_synthetic_root_by_tier_or_size_is_written_once_and_reused(tmp_path):
    root = synthetic_root(6, seed=3, cache=tmp_path)
    assert root == tmp_path / "synthetic" / "n6-3"
    marker = read_marker(root)
    assert marker["num_records"] == 6 and marker["seed"] == 3 and 100 in marker["sampling_rates"]
    assert len(load_evidence(root)) == 6
    stamp = (root / MARKER).stat().st_mtime_ns
    assert synthetic_root(6, seed=3, cache=tmp_path) == root
    assert (root / MARKER).stat().st_mtime_ns == stamp, "a matching root is not rewritten"
    other = synthetic_root(5, seed=3, cache=tmp_path)
    assert other != root and read_marker(other)["num_records"] == 5
    tiny = synthetic_root("tiny", seed=3, cache=tmp_path)
    assert tiny.name == "tiny-3" and read_marker(tiny)["num_records"] == TIERS["tiny"]
    # a stale root (another generator version) is rebuilt in place
    stale = read_marker(root) | {"version": "0-old"}
    (root / MARKER).write_text(json.dumps(stale))
    assert read_marker(synthetic_root(6, seed=3, cache=tmp_path))["version"] == GENERATOR_VERSION


@pytest.mark.parametrize("bad", [0, -3, 2.5, "huge", True])
def test_synthetic_root_rejects_bad_sizes(tmp_path, bad):
    with pytest.raises(ValueError, match="tier|num_records"):
        synthetic_root(bad, cache=tmp_path)


def test_describe_beat_matches_the_rendered_record():
    from protoecg_lib.synthetic import describe_beat

    clean = SyntheticConfig(noise=False)
    gen = np.random.default_rng(3)
    state = gen.bit_generator.state
    anatomy = describe_beat(["NORM", "SR"], gen, clean)
    assert gen.bit_generator.state == state, "the caller's generator is not advanced"
    x, _ = generate_record(["NORM", "SR"], fs=500, rng=3, config=clean)
    ii = x[LEADS.index("II")]
    r = anatomy.r_times[np.isfinite(anatomy.r_times)]
    assert len(r) >= 8 and set(anatomy.kinds) == {"N"}
    for t in r[(r > 0.1) & (r < 9.9)]:                       # each R peak is the largest deflection near it
        k = int(round(t * 500))
        window = np.abs(ii[k - 40:k + 40])
        assert abs(int(np.argmax(window)) - 40) <= 5, t
    origin, on, off = anatomy.segments["QRS"]
    assert origin == "R peak" and on < 0 < off and 0.06 < off - on < 0.12
    assert anatomy.segments["P"][0] == "P centre" and anatomy.segments["T"][1] > off
    assert (anatomy.r_times - anatomy.p_times > 0.1).all()   # P before R by at least 100 ms
    waves = anatomy.waves
    assert {"wave", "segment", "relative_to", "centre_ms", "width_ms", "peak_II_mv", "peak_V1_mv"} <= set(waves)
    assert set(waves["relative_to"]) == {"P centre", "R peak"}
    wide = describe_beat(["CLBBB", "SR"], 5, clean).segments["QRS"]
    assert wide[2] - wide[1] > 0.12, "CLBBB widens the QRS beyond 120 ms"
    with pytest.raises(ValueError):
        describe_beat(["NOT_A_CODE"], 0)
