"""Reading, explaining and predicting one's own ECG: WFDB records this test writes itself (format-16
``.dat`` with wfdb, CinC-2021-style ``.mat`` with scipy) at 250, 500 and 1,000 Hz, good and bad."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from conftest import build_tiny_run
from ecgfiles import PTBXL_NAMES, real_ecg, write_dat, write_mat
from protoecg_lib.cli import main
from protoecg_lib.data import DataError, load_ptbxl
from protoecg_lib.data.external import MIN_DURATION_S, read_external_record
from protoecg_lib.evaluation.explain import save_explanation
from protoecg_lib.evaluation.external import explain_record, predict_records, read_record_for_run
from protoecg_lib.labels import LEADS
from protoecg_lib.runs import probabilities

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data(excerpt_root):
    return load_ptbxl(excerpt_root)


@pytest.fixture(scope="module")
def run(data, tmp_path_factory):
    return build_tiny_run(tmp_path_factory.mktemp("tiny-run"), data)


@pytest.fixture(scope="module")
def reference(excerpt_root):
    """ECG 1 as the library's own loader reads its 500 Hz file for a 100 Hz run (resample + high-pass)."""
    return load_ptbxl(excerpt_root, sampling_rate=500, target_rate=100).signal(1)


@pytest.fixture(scope="module")
def records(excerpt_root, tmp_path_factory):
    """ECG 1 written at 250, 500 and 1,000 Hz (.dat) and at 500 Hz as a .mat with lower-case lead names."""
    folder = tmp_path_factory.mktemp("records")
    out = {f"dat{fs}": write_dat(folder, f"ecg1_{fs}hz", real_ecg(excerpt_root, 1, fs), fs) for fs in (250, 500, 1000)}
    out["mat500"] = write_mat(folder, "A0001", real_ecg(excerpt_root, 1, 500), 500,
                              leads=[name.lower() for name in LEADS])
    return out


def read(path, fs=100):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return read_external_record(path, fs=fs)


# ----------------------------------------------------------------------------- reading
def test_a_500_hz_record_reads_exactly_as_the_loader_reads_ptbxl(records, reference):
    with pytest.warns(UserWarning, match="resampled from 500 Hz to the run's 100 Hz"):
        rec = read_external_record(records["dat500"], fs=100)
    assert rec.signals.shape == (12, 1000) and rec.signals.dtype == np.float32
    np.testing.assert_allclose(rec.signals, reference, atol=1e-5)   # same resampler, same high-pass
    assert rec.source_fs == 500 and rec.source_seconds == 10 and rec.name == "ecg1_500hz"


def test_mat_signal_and_lower_case_leads_read_like_the_dat(records):
    mat, dat = read(records["mat500"]), read(records["dat500"])
    assert (records["mat500"].parent / "A0001.mat").is_file() and not (records["mat500"].parent / "A0001.dat").exists()
    np.testing.assert_array_equal(mat.signals, dat.signals)


@pytest.mark.parametrize("key", ["dat250", "dat1000"])
def test_other_rates_resample_to_the_same_ecg(records, reference, key):
    rec = read(records[key])
    assert rec.signals.shape == (12, 1000)
    assert np.abs(rec.signals - reference).max() < 0.01                  # mV, after two resamplings
    assert np.corrcoef(rec.signals.ravel(), reference.ravel())[0, 1] > 0.9999


def test_leads_in_any_order_and_case_are_put_in_ptbxl_order(excerpt_root, tmp_path, records):
    x = real_ecg(excerpt_root, 1, 500)
    order = np.random.default_rng(0).permutation(12)
    names = [("aVr" if PTBXL_NAMES[i] == "AVR" else PTBXL_NAMES[i].lower() if i % 2 else PTBXL_NAMES[i]) for i in order]
    shuffled = read(write_dat(tmp_path, "shuffled", x[order], 500, leads=names))
    np.testing.assert_array_equal(shuffled.signals, read(records["dat500"]).signals)


def test_microvolts_are_converted_and_say_so(excerpt_root, tmp_path, records):
    rec = read(write_dat(tmp_path, "uv", real_ecg(excerpt_root, 1, 500) * 1000, 500, units="uV"))
    np.testing.assert_allclose(rec.signals, read(records["dat500"]).signals, atol=1e-4)
    assert any("units ['uV'] converted to mV" in n for n in rec.notes)


def test_a_long_record_is_cropped_to_its_first_10_s_and_a_short_one_padded(excerpt_root, tmp_path, records):
    x = real_ecg(excerpt_root, 1, 500)
    long = read(write_dat(tmp_path, "long", np.concatenate([x, x[:, :2500]], axis=1), 500))   # 15 s
    np.testing.assert_array_equal(long.signals, read(records["dat500"]).signals)
    assert any("cropped to its first 10 s (the record is 15 s long)" in n for n in long.notes)
    with pytest.warns(UserWarning, match="padded with 0 mV from 9 s to 10 s"):
        short = read_external_record(write_dat(tmp_path, "short", x[:, :4500], 500), fs=100)
    assert short.signals.shape == (12, 1000)
    assert np.all(short.signals[:, 900:] == 0) and np.abs(short.signals[:, :900]).max() > 0.1


@pytest.mark.parametrize("case, message", [
    ("15 leads", r"15 signals \(I, II, III, AVR, AVL, AVF, V1, V2, V3, V4, V5, V6, vx, vy, vz\); protoecg reads the 12"),
    ("2 leads", r"2 signals \(MLII, V5\); protoecg reads the 12 standard leads"),
    ("NaN", r"NaN or missing samples in lead\(s\) V3"),
    ("1 s long", r"1 s long \(500 samples at 500 Hz\); protoecg needs at least 8.5 s \(records of 8.5-10 s are padded"),
    ("unknown lead", r"lead name\(s\) \['V7'\] not among the 12 standard leads"),
    ("repeated lead", r"repeated lead\(s\) \['II'\]"),
    ("mmHg", r"units 'mmHg'; protoecg reads mV, uV or V"),
    ("microvolts labelled mV", r"median peak-to-peak amplitude .* mV .* look like microvolts"),
    ("50 Hz", r"sampled at 50 Hz, below the run's 100 Hz"),
    ("no signal file", r"A0002.mat is missing: the header A0002.hea names it"),
])
def test_bad_records_are_refused_in_one_line_naming_the_file(excerpt_root, tmp_path, case, message):
    x = real_ecg(excerpt_root, 1, 500)
    if case == "15 leads":
        hea = write_dat(tmp_path, "r", np.concatenate([x, x[:3]]), 500, leads=PTBXL_NAMES + ["vx", "vy", "vz"])
    elif case == "2 leads":
        hea = write_dat(tmp_path, "r", x[[1, 10]], 500, leads=["MLII", "V5"])
    elif case == "NaN":
        x[8, 100:200] = np.nan
        hea = write_dat(tmp_path, "r", x, 500)
    elif case == "1 s long":
        hea = write_dat(tmp_path, "r", x[:, :500], 500)
    elif case == "unknown lead":
        hea = write_dat(tmp_path, "r", x, 500, leads=PTBXL_NAMES[:-1] + ["V7"])
    elif case == "repeated lead":  # wfdb does not write repeated names: edit the header as a hand would
        hea = write_dat(tmp_path, "r", x, 500)
        lines = hea.read_text().splitlines()
        lines[3] = lines[3].rsplit(" ", 1)[0] + " II"
        hea.write_text("\n".join(lines) + "\n")
    elif case == "mmHg":
        hea = write_dat(tmp_path, "r", x, 500, units="mmHg")
    elif case == "microvolts labelled mV":
        hea = write_dat(tmp_path, "r", x * 1000, 500, units="mV", gain=1.0)
    elif case == "50 Hz":
        hea = write_dat(tmp_path, "r", x[:, ::10], 50)
    else:
        hea = write_mat(tmp_path, "A0002", x, 500)
        (tmp_path / "A0002.mat").unlink()
    with pytest.raises(DataError, match=message) as info:
        read(hea)
    assert "\n" not in str(info.value) and str(hea.parent) in str(info.value)


# ----------------------------------------------------------------------------- explaining and predicting
def test_explain_record_uses_the_runs_training_ecgs_for_the_prototypes(run, data, records, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expl = explain_record(run, records["mat500"], data=data, threshold=1e-9, max_labels=3)
    assert expl.record == "A0001" and expl.ecg_id is None and expl.fs == 100
    assert expl.notes == ["resampled from 500 Hz to the run's 100 Hz"]
    listed = {ev.source_ecg_id for e in expl.labels for ev in e.prototypes if ev.projected}
    assert listed and listed <= set(expl.sources)                       # every figure has its source ECG
    for ecg_id in listed:
        np.testing.assert_array_equal(expl.sources[ecg_id], data.signal(ecg_id))
    paths = save_explanation(expl, tmp_path)
    assert paths[0].name == "A0001_explanation.json" and len(paths) > 1
    assert all(p.name.startswith("A0001_") and p.stat().st_size > 10_000 for p in paths[1:])
    assert json.loads(paths[0].read_text())["notes"] == expl.notes


def test_predict_records_goes_through_the_runs_probability_function(run, records):
    paths = [records["dat250"], records["mat500"], records["dat1000"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        frame = predict_records(run, paths)
        model = run.load_model()
        x = torch.stack([torch.from_numpy(read_record_for_run(run, p).signals) for p in paths])
    with torch.no_grad():
        expected = probabilities(run, model(x).logits.double().numpy())
    assert frame.shape == (3, 71) and list(frame.columns) == list(model.labels)
    np.testing.assert_allclose(frame.to_numpy(), expected, atol=1e-6)    # one record at a time vs a batch
    np.testing.assert_allclose(expected, 1 / (1 + np.exp(-model(x).logits.double().detach().numpy())), rtol=1e-9)


def test_cli_explain_record_and_predict(run, records, tmp_path, capsys):
    rc = main(["explain", "--run", str(run.path), "--record", str(records["dat250"]), "--out", str(tmp_path / "ex"),
               "--threshold", "0.01", "--max-labels", "2"])
    out = capsys.readouterr().out
    assert rc == 0 and "record ecg1_250hz" in out and "note: resampled from 250 Hz" in out
    assert len(list((tmp_path / "ex").glob("ecg1_250hz_*.png"))) >= 1
    assert main(["predict", "--run", str(run.path), "--record", str(records["dat500"]), str(records["mat500"]),
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {str(records["dat500"]), str(records["mat500"])}
    assert len(result[str(records["mat500"])]["probabilities"]) == 71
    assert main(["predict", "--run", str(run.path), "--record", str(records["dat500"]), "--all-labels"]) == 0
    table = capsys.readouterr().out
    assert "probability" in table and table.count("\n") > 71


def test_cli_refuses_a_bad_record_in_one_line(run, excerpt_root, tmp_path, capsys):
    hea = write_dat(tmp_path, "two", real_ecg(excerpt_root, 1, 500)[[1, 10]], 500, leads=["MLII", "V5"])
    for argv in (["explain", "--run", str(run.path), "--record", str(hea), "--out", str(tmp_path / "x")],
                 ["predict", "--run", str(run.path), "--record", str(hea)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and err.startswith("protoecg: error:") and "2 signals (MLII, V5)" in err


def test_a_padded_record_passes_the_models_input_check(run, data, excerpt_root, tmp_path):
    """The shortest record accepted is padded by less than the held-value time the input check refuses."""
    assert MIN_DURATION_S == 8.5
    x = real_ecg(excerpt_root, 1, 500)[:, :int(MIN_DURATION_S * 500)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expl = explain_record(run, write_dat(tmp_path, "short", x, 500), data=data, threshold=1e-9, max_labels=1,
                              highlight=None)
    assert any("padded with 0 mV from 8.5 s" in n for n in expl.notes)
