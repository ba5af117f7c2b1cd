"""The PTB-XL data layer on the real excerpt and on damaged copies of it."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from scipy.signal import butter, filtfilt

from protoecg_lib.data import (DataError, FoldMapping, load_ptbxl, make_loader, read_metadata, summarize)
from protoecg_lib.data import cache as cache_module
from protoecg_lib.data.preprocess import LeadStandardizer, highpass
from protoecg_lib.labels import LEADS



@pytest.fixture(scope="module")
def excerpt(excerpt_root):
    return load_ptbxl(excerpt_root)


# ------------------------------------------------------------------ the excerpt as a whole

def test_excerpt_summary_numbers(excerpt):
    s = summarize(excerpt)
    assert s["records"] == 488 and s["patients"] == 459 and s["skipped"] == 0
    assert [s["splits"][k]["records"] for k in ("train", "val", "test")] == [344, 78, 66]
    assert [s["label_sets"][k]["num_labels"] for k in ("rhythm", "morphology", "global", "all")] == [16, 52, 3, 71]
    assert s["label_sets"]["all"]["present"] == 56
    # method §9.2b: 8 rhythm and 13 morphology labels have no training positive on the excerpt
    assert 16 - s["label_sets"]["rhythm"]["present_in_train"] == 8
    assert 52 - s["label_sets"]["morphology"]["present_in_train"] == 13
    assert s["source"] == "subset"
    assert s["checksums"]["ok"] is True
    json.dumps(s)  # JSON-able


def test_signals_shape_units_and_split_views(excerpt):
    assert excerpt.signals.shape == (488, 12, 1000) and excerpt.signals.dtype == np.float32
    tr = excerpt.split("train", "rhythm")
    assert tr.signals.shape == (344, 12, 1000) and tr.targets.shape == (344, 16)
    assert isinstance(tr.signals, np.memmap)  # a view of the cache, not a copy
    assert set(np.unique(tr.targets)) <= {0.0, 1.0}
    assert len(set(tr.patient_id) & set(excerpt.split("test").patient_id)) >= 0
    # the records of a split are the ones with those folds
    folds = excerpt.records.set_index("ecg_id").loc[tr.ecg_id, "strat_fold"]
    assert folds.between(1, 8).all()
    # physical units: QRS amplitudes of a few mV at most after the high-pass
    assert 0.2 < np.abs(tr.signals[:20]).max() < 20


def test_signals_match_wfdb_plus_highpass(excerpt, excerpt_root):
    import wfdb

    rec = wfdb.rdrecord(str(excerpt_root / "records100/00000/00001_lr"))
    b, a = butter(1, 0.5, btype="highpass", fs=100)
    expected = filtfilt(b, a, rec.p_signal.T, axis=-1)
    np.testing.assert_allclose(excerpt.signal(1), expected, atol=1e-5)


def test_targets_any_likelihood_and_threshold(excerpt_root):
    meta = read_metadata(excerpt_root)
    # ecg 1: {'NORM': 100.0, 'LVOLT': 0.0, 'SR': 0.0} -> all three positive at any likelihood
    assert set(meta.loc[1, "codes"]) == {"NORM", "LVOLT", "SR"}
    strict = read_metadata(excerpt_root, likelihood_threshold=50)
    assert set(strict.loc[1, "codes"]) == {"NORM"}


def test_age_over_89(excerpt_root):
    meta = read_metadata(excerpt_root)
    assert meta["age_over_89"].sum() == 7
    assert meta.loc[meta["age_over_89"], "age"].isna().all()
    assert meta["age"].max() < 100


def test_custom_folds(excerpt_root):
    meta = read_metadata(excerpt_root, folds={"train": [1, 2, 3, 4, 5, 6, 7], "val": [8], "test": [9, 10]})
    assert (meta["split"] == "test").sum() == 78 + 66
    with pytest.raises(ValueError, match="fold 9"):
        FoldMapping(train=(9,), val=(9,), test=(10,))


def test_class_weights_and_jaccard_from_training_only(excerpt):
    y = excerpt.targets("all", "train")
    w = excerpt.class_weights("all")
    n = y.sum(0)
    S = y.sum()
    present = n > 0
    np.testing.assert_allclose(w[present], (S - n[present]) / n[present], rtol=1e-5)
    assert np.isfinite(w).all()
    J = excerpt.cooccurrence("all")
    assert J.shape == (71, 71)
    np.testing.assert_allclose(J, J.T)
    np.testing.assert_allclose(np.diag(J)[present], 1.0)
    assert (J >= 0).all() and (J <= 1).all()
    # changing labels outside the training split must not change the matrix
    all_targets = excerpt.targets("all")
    train_rows = excerpt.indices("train")
    assert np.array_equal(all_targets[train_rows], y)


def test_second_load_comes_from_cache(excerpt_root, monkeypatch):
    load_ptbxl(excerpt_root)  # ensure cached

    def boom(*a, **k):
        raise AssertionError("a cached load must not decode records again")

    monkeypatch.setattr(cache_module, "_decode_one", boom)
    ds = load_ptbxl(excerpt_root)
    assert len(ds) == 488


def test_loader_seeded_and_batched(excerpt):
    sp = excerpt.split("train", "global")
    a = [idx.tolist() for _, _, idx in make_loader(sp, batch_size=32, shuffle=True, seed=3)]
    b = [idx.tolist() for _, _, idx in make_loader(sp, batch_size=32, shuffle=True, seed=3)]
    c = [idx.tolist() for _, _, idx in make_loader(sp, batch_size=32, shuffle=True, seed=4)]
    assert a == b and a != c
    assert sorted(sum(a, [])) == list(range(len(sp)))
    x, y, idx = next(iter(make_loader(sp, batch_size=8)))
    assert x.shape == (8, 12, 1000) and x.dtype == torch.float32 and y.shape == (8, 3)
    np.testing.assert_array_equal(x.numpy(), sp.signals[:8])
    w = make_loader(sp, batch_size=16, weighted=True, class_weights=excerpt.class_weights("global"), seed=0)
    assert sum(len(i) for _, _, i in w) == len(sp)


def test_standardizer_uses_training_statistics(excerpt_root):
    ds = load_ptbxl(excerpt_root, standardize=True)
    raw = load_ptbxl(excerpt_root).split("train").signals
    tr = ds.split("train").signals
    np.testing.assert_allclose(tr.mean(axis=(0, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(tr.std(axis=(0, 2)), 1, atol=1e-3)
    ref = LeadStandardizer.fit(raw)
    np.testing.assert_allclose(ds.standardizer.mean, raw.mean(axis=(0, 2)), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ref.std, ds.standardizer.std)


def test_highpass_removes_baseline():
    t = np.arange(1000) / 100
    x = 0.5 * np.sin(2 * np.pi * 0.1 * t) + np.sin(2 * np.pi * 10 * t)
    y = highpass(x, 100)
    # away from the edges (SciPy's short default padding, as in the reference code) the slow wave is gone
    assert np.abs(y - np.sin(2 * np.pi * 10 * t))[100:900].max() < 0.1
    b, a = butter(1, 0.5, btype="highpass", fs=100)
    np.testing.assert_allclose(y, filtfilt(b, a, x), atol=1e-5)
    batch = np.stack([x, 2 * x])[None]  # (1, 2, T): filtered along the last axis only
    np.testing.assert_allclose(highpass(batch, 100)[0, 1], 2 * y, atol=1e-4)
    with pytest.raises(ValueError, match="Nyquist"):
        highpass(x, 0.8)


def test_500hz_resampled_to_100(excerpt_root):
    hr = load_ptbxl(excerpt_root, 500, target_rate=100, highpass=False)
    assert len(hr) == 48 and hr.fs == 100 and hr.signals.shape[1:] == (12, 1000)
    lr = load_ptbxl(excerpt_root, 100, highpass=False)
    cors = [np.corrcoef(hr.signal(i)[l], lr.signal(i)[l])[0, 1] for i in hr.records.ecg_id[:10] for l in range(12)]
    assert np.median(cors) > 0.98
    native = load_ptbxl(excerpt_root, 500)
    assert native.signals.shape[1:] == (12, 5000) and native.fs == 500


# ------------------------------------------------------------------ subset roots and bad input

def test_missing_root_and_metadata(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_ptbxl(tmp_path / "nope")
    with pytest.raises(DataError, match="ptbxl_database.csv"):
        load_ptbxl(tmp_path)


def test_listed_but_missing_records_are_skipped_or_refused(mini_root):
    (mini_root / "records100/00000/00005_lr.dat").unlink()
    (mini_root / "records100/00000/00007_lr.hea").unlink()
    with pytest.warns(UserWarning, match="2 of 30 listed records"):
        ds = load_ptbxl(mini_root)
    assert len(ds) == 28 and set(ds.skipped["ecg_id"]) == {5, 7}
    with pytest.raises(DataError, match="2 of 30 records"):
        load_ptbxl(mini_root, strict=True)


def test_truncated_dat(mini_root):
    dat = mini_root / "records100/00000/00003_lr.dat"
    dat.write_bytes(dat.read_bytes()[:10000])
    with pytest.raises(DataError, match=r"00003_lr\.dat: truncated"):
        load_ptbxl(mini_root)
    with pytest.warns(UserWarning, match="skipped 1 broken"):
        ds = load_ptbxl(mini_root, on_bad_record="skip")
    assert 3 not in ds.records.index and len(ds) == 29


def _rewrite_header(path, fn):
    lines = path.read_text().splitlines()
    path.write_text("\n".join(fn(lines)) + "\n")


def test_header_with_11_leads(mini_root):
    hea = mini_root / "records100/00000/00002_lr.hea"
    _rewrite_header(hea, lambda ls: [ls[0].replace(" 12 ", " 11 ", 1)] + ls[1:12])
    with pytest.raises(DataError, match=r"00002_lr\.hea: has 11 signals"):
        load_ptbxl(mini_root)


def test_header_with_another_rate(mini_root):
    hea = mini_root / "records100/00000/00002_lr.hea"
    _rewrite_header(hea, lambda ls: [ls[0].replace(" 100 ", " 250 ", 1)] + ls[1:])
    with pytest.raises(DataError, match=r"sampling rate is 250 Hz but 100 Hz"):
        load_ptbxl(mini_root)


def test_wrong_lead_order(mini_root):
    hea = mini_root / "records100/00000/00002_lr.hea"
    _rewrite_header(hea, lambda ls: [ls[0]] + [l.replace(" V1", " V7") for l in ls[1:]])
    with pytest.raises(DataError, match="leads are"):
        load_ptbxl(mini_root)


def test_nan_in_signal(mini_root):
    dat = mini_root / "records100/00000/00004_lr.dat"
    raw = np.fromfile(dat, dtype="<i2").reshape(-1, 12)
    raw[100:110, 7] = -32768  # WFDB's invalid-sample value for format 16 -> NaN
    raw.tofile(dat)
    with pytest.raises(DataError, match=r"00004_lr\.dat: NaN .*V2"):
        load_ptbxl(mini_root)


def _edit_csv(root, old, new):
    p = root / "ptbxl_database.csv"
    text = p.read_text()
    assert old in text
    p.write_text(text.replace(old, new, 1))


def test_unknown_scp_code(mini_root):
    _edit_csv(mini_root, "'NORM': 100.0, 'LVOLT': 0.0", "'NORM': 100.0, 'XYZ': 0.0")
    with pytest.raises(DataError, match="ecg_id 1: unknown SCP code 'XYZ'"):
        load_ptbxl(mini_root)
    with pytest.warns(UserWarning, match="dropped 1 occurrence"):
        ds = load_ptbxl(mini_root, unknown_codes="skip")
    assert ds.records.loc[1, "codes"] == ("NORM", "SR")


def test_unparsable_scp_codes(mini_root):
    _edit_csv(mini_root, "\"{'NORM': 100.0, 'LVOLT': 0.0, 'SR': 0.0}\"", "\"{'NORM': 100.0, 'LVOLT'\"")
    with pytest.raises(DataError, match="ecg_id 1: cannot parse scp_codes"):
        load_ptbxl(mini_root)


def test_checksum_mismatch_is_reported(mini_root, excerpt_root):
    # a SHA256SUMS.txt that does not match the (trimmed) metadata of this copy
    shutil.copyfile(excerpt_root / "SHA256SUMS.txt", mini_root / "SHA256SUMS.txt")
    with pytest.warns(UserWarning, match="ptbxl_database.csv do\\(es\\) not match the SHA256SUMS.txt"):
        ds = load_ptbxl(mini_root)
    assert ds.checksums["files"]["ptbxl_database.csv"] is False
    assert ds.checksums["files"]["scp_statements.csv"] is True


def test_statements_csv_disagreement_warns(mini_root):
    p = mini_root / "scp_statements.csv"
    p.write_text(p.read_text().replace("non-diagnostic T abnormalities", "something", 1))
    with pytest.warns(UserWarning, match="disagrees with the built-in"):
        ds = load_ptbxl(mini_root)
    assert any("NDT" in x for x in ds.statement_problems)


def test_lead_names_are_normalised(excerpt):
    # the cache keeps PTB-XL's storage order, which the library names with aVR/aVL/aVF
    assert LEADS[3:6] == ("aVR", "aVL", "aVF")
