"""The decoded-signal cache notices changed record files, and records are checked for physiological
sanity on load (on private copies of the real excerpt records)."""
from __future__ import annotations

import json
import os
import shutil
import time

import numpy as np
import pytest

from protoecg_lib.data import load_ptbxl
from protoecg_lib.data import cache as cache_module
from protoecg_lib.data.cache import RACY_NS
from protoecg_lib.data.metadata import DataError
from protoecg_lib.files import _pid_alive

REC = "records100/00000/000{:02d}_lr"


def settle():
    """Let the files just written age past the cache's racy window (so a load trusts their time stamps)."""
    time.sleep(2 * RACY_NS / 1e9)


@pytest.fixture
def root(mini_root):
    settle()
    return mini_root


@pytest.fixture
def decoded(monkeypatch):
    """The file names the loader decodes from now on (it wraps the real decoder)."""
    names = []
    real = cache_module._decode_one

    def counting(args):
        names.append(args[1])
        return real(args)

    monkeypatch.setattr(cache_module, "_decode_one", counting)
    return names


def load(root, tmp_path, **kw):
    return load_ptbxl(root, cache=tmp_path / "cache", **kw)


def set_gain(root, ecg_id: int, lead: int, gain: str) -> None:
    hea = root / (REC.format(ecg_id) + ".hea")
    lines = hea.read_text().splitlines()
    lines[1 + lead] = lines[1 + lead].replace("1000.0(0)/mV", f"{gain}(0)/mV")
    hea.write_text("\n".join(lines) + "\n")


def test_a_fixed_truncated_record_is_decoded_again(root, tmp_path, decoded, capsys):
    dat = root / (REC.format(3) + ".dat")
    good = dat.read_bytes()
    expected = load(root, tmp_path).signal(3).copy()
    dat.write_bytes(good[:10000])                                     # an interrupted download
    with pytest.raises(DataError, match=r"ecg_id 3: .*00003_lr\.dat: truncated"):
        load(root, tmp_path)
    dat.write_bytes(good)                                             # ... re-downloaded, as the error advises
    settle()
    decoded.clear()
    ds = load(root, tmp_path)
    np.testing.assert_array_equal(ds.signal(3), expected)
    assert decoded == [REC.format(3)], "only the record that changed is decoded again"
    assert "1 of 30 record(s)" in capsys.readouterr().err
    decoded.clear()
    load(root, tmp_path)
    assert decoded == [] and capsys.readouterr().err == ""


def test_a_corrected_header_gain_is_served_at_once(root, tmp_path, decoded, capsys):
    before = load(root, tmp_path).signal(5).copy()
    set_gain(root, 5, lead=7, gain="500.0")                          # V2 at half the gain: twice the mV
    decoded.clear()
    after = load(root, tmp_path).signal(5)
    np.testing.assert_allclose(after[7], 2 * before[7], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.delete(after, 7, axis=0), np.delete(before, 7, axis=0))
    assert decoded == [REC.format(5)]
    assert "1 of 30 record(s)" in capsys.readouterr().err


def test_a_file_restored_with_its_old_time_stamps_is_noticed(root, tmp_path):
    """Same size, same modification time, other content: the inode-change time still tells."""
    ds = load(root, tmp_path)
    other = ds.signal(4).copy()
    dat3, dat4 = root / (REC.format(3) + ".dat"), root / (REC.format(4) + ".dat")
    st = os.stat(dat3)
    shutil.copyfile(dat4, dat3)                                       # record 4's samples under record 3's name
    os.utime(dat3, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(dat3).st_size == st.st_size and os.stat(dat3).st_mtime_ns == st.st_mtime_ns
    np.testing.assert_array_equal(load(root, tmp_path).signal(3), other)


def test_files_written_just_before_a_load_are_checked_again(root, tmp_path, decoded, monkeypatch, capsys):
    """A file changed within the racy window before the load that cached it is not trusted by its time
    stamps: the next load decodes it again (here every file counts as just written)."""
    with monkeypatch.context() as m:
        m.setattr(cache_module, "RACY_NS", 10 ** 15)                  # a window of 11 days
        load(root, tmp_path)
    decoded.clear()
    load(root, tmp_path)
    assert len(decoded) == 30
    assert capsys.readouterr().err == ""                              # routine, so quiet: nothing changed
    decoded.clear()
    load(root, tmp_path)
    assert decoded == []


def test_a_killed_rebuild_leaves_nothing_stale(root, tmp_path, monkeypatch):
    before = load(root, tmp_path).signal(6).copy()
    set_gain(root, 6, lead=0, gain="500.0")
    real = cache_module._decode_one

    def killed(args):
        raise KeyboardInterrupt                                       # the process dies while re-decoding

    monkeypatch.setattr(cache_module, "_decode_one", killed)
    with pytest.raises(KeyboardInterrupt):
        load(root, tmp_path)
    monkeypatch.setattr(cache_module, "_decode_one", real)
    np.testing.assert_allclose(load(root, tmp_path).signal(6)[0], 2 * before[0], rtol=1e-5, atol=1e-6)


def test_partial_files_of_killed_processes_are_removed(root, tmp_path):
    ds = load(root, tmp_path)
    folder = ds.cache_path.parent
    dead = next(pid for pid in range(4_000_000, 4_100_000) if not _pid_alive(pid))
    stale, live = folder / f"signals.{dead}.part.npy", folder / f"signals.{os.getpid()}.part.npy"
    stale.write_bytes(b"\0" * 1024)
    live.write_bytes(b"\0" * 1024)
    load(root, tmp_path)
    assert not stale.exists(), "a partial file whose process is gone is removed"
    assert live.exists(), "a running process's partial file is left alone"
    live.unlink()
    identity = np.load(folder / "identity.npy")
    assert identity.shape == (30, 8) and (identity > 0).all()
    assert json.loads((folder / "index.json").read_text())["errors"] == {}


# ----------------------------------------------------------------------------- physiological sanity
def test_a_gain_divided_by_100_is_refused_with_record_lead_and_value(root, tmp_path):
    set_gain(root, 8, lead=1, gain="10.0")
    with pytest.raises(DataError, match=r"ecg_id 8: .*00008_lr\.dat: lead II reaches \d+\.?\d* mV, outside "
                                          r"PTB-XL's ADC range"):
        load(root, tmp_path)
    with pytest.warns(UserWarning, match="skipped 1 broken record"):
        ds = load(root, tmp_path, on_bad_record="skip")
    assert 8 not in ds.records.index and len(ds) == 29
    assert "ADC range" in ds.skipped.set_index("ecg_id").loc[8, "reason"]


def test_a_block_at_the_adc_rail_is_refused(root, tmp_path):
    dat = root / (REC.format(9) + ".dat")
    raw = np.fromfile(dat, dtype="<i2").reshape(-1, 12)
    raw[300:340, 10] = 32767                                          # 0.4 s of V5 overwritten at the rail
    raw.tofile(dat)
    with pytest.raises(DataError, match=r"00009_lr\.dat: lead V5 sits at the ADC rail for 0\.4 s"):
        load(root, tmp_path)


def test_a_flat_lead_is_refused_and_counted_when_skipped(root, tmp_path):
    for ecg_id, lead in ((10, 6), (11, 2)):
        dat = root / (REC.format(ecg_id) + ".dat")
        raw = np.fromfile(dat, dtype="<i2").reshape(-1, 12)
        raw[:, lead] = raw[0, lead]                                   # a detached electrode
        raw.tofile(dat)
    with pytest.raises(DataError, match=r"ecg_id 1[01]: .*lead (V1|III) spans 0 mV peak to peak .*2 bad record"):
        load(root, tmp_path)
    with pytest.warns(UserWarning, match="skipped 2 broken record"):
        ds = load(root, tmp_path, on_bad_record="skip")
    assert len(ds) == 28


def test_the_real_excerpt_passes_every_check(excerpt_root):
    for rate in (100, 500):
        ds = load_ptbxl(excerpt_root, rate, highpass=False)
        assert len(ds.skipped) == (0 if rate == 100 else 488 - 48)
        assert all(r.startswith("not on disk") for r in ds.skipped["reason"]), "no record fails a sanity check"


def test_a_held_lead_and_other_units_are_refused(root, tmp_path):
    dat = root / (REC.format(12) + ".dat")
    raw = np.fromfile(dat, dtype="<i2").reshape(-1, 12)
    raw[200:450, 9] = raw[200, 9]                                     # V4 holds one value for 2.5 s
    raw.tofile(dat)
    for lead in range(12):                                            # every gain x 100: the signal / 100
        set_gain(root, 13, lead=lead, gain="100000.0")
    with pytest.warns(UserWarning, match="skipped 2 broken record"):
        ds = load(root, tmp_path, on_bad_record="skip")
    reasons = ds.skipped.set_index("ecg_id")["reason"]
    assert "lead V4 holds one value for 2.5 s" in reasons.loc[12]
    assert "median lead amplitude of 0.0" in reasons.loc[13] and "other units or a wrong gain" in reasons.loc[13]


def test_findings_of_a_clean_and_a_broken_ecg():
    from protoecg_lib.data.sanity import signal_findings

    t = np.arange(1000) / 100
    ecg = np.stack([np.sin(2 * np.pi * 1.2 * t + k) * (0.5 + 0.1 * k) for k in range(12)])   # 1-3.2 mV p2p
    assert signal_findings(ecg, 100) == []
    kinds = {(f.lead, f.kind) for f in signal_findings(np.where(np.arange(12)[:, None] == 2, 40.0, ecg), 100)}
    assert kinds == {("III", "adc_range"), ("III", "flat")}
    digital = np.rint(ecg * 1000).astype(np.int64)
    digital[0, 10:15] = 32767
    assert [f.kind for f in signal_findings(ecg, 100, digital=digital, rails=(-32767, 32767))] == ["saturated"]
