"""The command line offers what its messages advise, checks its arguments before touching disk, and
reports every expected error in one line without a traceback."""
from __future__ import annotations

import json

import numpy as np
import pytest

from protoecg_lib.cli import main
from protoecg_lib.runs import RunLayout
from protoecg_lib.synthetic import write_synthetic_root

DATA_OPTIONS = ("--sampling-rate", "--target-rate", "--skip-bad", "--unknown-codes")


def help_text(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as info:
        main([*argv, "--help"])
    assert info.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("protoecg: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("command", [("data", "summary"), ("pipeline",), ("train",)])
def test_the_loader_options_are_offered(capsys, command):
    text = help_text(capsys, *command)
    for option in DATA_OPTIONS:
        assert option in text, f"{' '.join(command)} lacks {option}"


@pytest.mark.parametrize("command", [("data", "download"), ("data", "synth")])
def test_a_required_root_has_no_default(capsys, command):
    text = help_text(capsys, *command)
    assert "--root ROOT PTB-XL root" in text and "PROTOECG_DATA" not in text


@pytest.fixture
def damaged_root(tmp_path):
    """A synthetic root at 100 and 500 Hz with one unknown SCP code and one flat-lined 500 Hz record."""
    root = write_synthetic_root(tmp_path / "root", num_records=40, seed=0, sampling_rates=(100, 500))
    csv = root / "ptbxl_database.csv"
    text = csv.read_text()
    first = text.index("'", text.index("{"))
    csv.write_text(text[:first] + "'XYZ': 0.0, " + text[first:])
    hr = sorted((root / "records500").rglob("*.dat"))[1]
    raw = np.fromfile(hr, dtype="<i2").reshape(-1, 12)
    raw[:, 3] = 0
    raw.tofile(hr)
    return root


def test_data_summary_skips_what_it_is_told_to(damaged_root, capsys):
    args = ["data", "summary", "--root", str(damaged_root)]
    assert main(args) == 2
    err = one_line_error(capsys)
    assert "unknown SCP code 'XYZ'" in err and "--unknown-codes skip" in err
    assert main([*args, "--unknown-codes", "skip", "--sampling-rate", "500"]) == 2
    assert "lead aVR spans 0 mV" in one_line_error(capsys)
    assert main([*args, "--unknown-codes", "skip", "--sampling-rate", "500", "--target-rate", "100", "--skip-bad",
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert any("skipped 1 broken record" in w for w in summary["warnings"])
    assert any("dropped 1 occurrence" in w for w in summary["warnings"])


def test_train_loads_500_hz_resampled_and_skips_bad_records(damaged_root, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--root", str(damaged_root), "--out", str(out), "--branch", "global", "--stage", "joint",
                 "--epochs", "1", "--device", "cpu", "--sampling-rate", "500", "--target-rate", "100", "--skip-bad",
                 "--unknown-codes", "skip"]) == 0
    data = json.loads(RunLayout(out).config.read_text())["data"]
    assert data["records"] == 39 and data["fs"] == 100
    assert {k: data["options"][k] for k in ("sampling_rate", "target_rate", "on_bad_record", "unknown_codes")} == \
        {"sampling_rate": 500, "target_rate": 100, "on_bad_record": "skip", "unknown_codes": "skip"}


@pytest.mark.parametrize("extra, message", [
    (["--sampling-rate", "500"], "pass --target-rate 100 to resample the 500 Hz records"),
    (["--target-rate", "0"], "--target-rate 0: give a rate in Hz above 0"),
    (["--epochs", "0"], "--epochs 0: give at least 1"),
    (["--root", "/nonexistent/ptb-xl"], "--root /nonexistent/ptb-xl does not exist"),
])
def test_arguments_are_refused_before_anything_is_read_or_written(tmp_path, capsys, extra, message):
    out = tmp_path / "run"
    for command in (["pipeline"], ["train", "--branch", "rhythm", "--stage", "joint"]):
        assert main([*command, "--out", str(out), *extra]) == 2
        assert message in one_line_error(capsys)
        assert not out.exists()


def test_train_without_branch_fails_before_loading_data(tmp_path, capsys, monkeypatch):
    import protoecg_lib.data as data

    monkeypatch.setattr(data, "load_ptbxl", lambda *a, **k: pytest.fail("the data were loaded"))
    assert main(["train", "--stage", "classifier", "--out", str(tmp_path / "run")]) == 2
    assert "--branch is required" in one_line_error(capsys)
    assert not (tmp_path / "run").exists()


def test_expected_errors_are_one_line(tmp_path, capsys):
    assert main(["evaluate", "--run", str(tmp_path)]) == 2
    assert "not a protoecg run directory" in one_line_error(capsys)
    assert main(["data", "summary", "--root", str(tmp_path)]) == 2
    assert "ptbxl_database.csv" in one_line_error(capsys)
