"""Write 12-lead WFDB records the way other archives do, for the tests of reading one's own ECG.

``write_dat`` writes a header and a format-16 ``.dat`` with :func:`wfdb.wrsamp`; ``write_mat`` writes
the PhysioNet/CinC 2021 style: a MATLAB v4 ``.mat`` holding the int16 matrix ``val`` (leads x samples)
with :func:`scipy.io.savemat`, and a WFDB header (written by :mod:`wfdb`) that names the ``.mat`` as
its signal file at byte offset 24 (the v4 matrix header: five int32 and the name ``val``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import wfdb
from scipy.io import savemat
from scipy.signal import resample_poly

from protoecg_lib.labels import LEADS

__all__ = ["write_dat", "write_mat", "real_ecg"]

PTBXL_NAMES = ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]


def real_ecg(excerpt_root: Path, ecg_id: int = 1, fs: int = 500) -> np.ndarray:
    """A real PTB-XL record of the excerpt, ``(12, 10 * fs)`` float64 in mV: the 500 Hz file, resampled to ``fs``."""
    rec = wfdb.rdrecord(str(excerpt_root / f"records500/00000/{ecg_id:05d}_hr"), physical=True)
    x = rec.p_signal.T.astype(np.float64)
    if fs != 500:
        from math import gcd

        g = gcd(fs, 500)
        x = resample_poly(x, fs // g, 500 // g, axis=-1)
    return x


def write_dat(folder: Path, name: str, signals: np.ndarray, fs: float, *, leads=None, units: str = "mV",
              gain: float | None = None) -> Path:
    """``folder/name.hea`` + ``name.dat`` (format 16) of ``signals (n_sig, T)`` given in ``units``; returns the .hea.

    ``gain`` (adu per unit) defaults to 1 µV per adu: 1000 for mV, 1 for uV, 1e6 for V.
    """
    folder.mkdir(parents=True, exist_ok=True)
    leads = list(leads or PTBXL_NAMES)
    x = np.asarray(signals, dtype=np.float64)
    if gain is None:
        gain = {"mV": 1000.0, "uV": 1.0, "V": 1e6}.get(units, 1000.0)
    wfdb.wrsamp(name, fs=fs, units=[units] * len(leads), sig_name=leads, p_signal=x.T, fmt=["16"] * len(leads),
                adc_gain=[gain] * len(leads), baseline=[0] * len(leads), write_dir=str(folder))
    return folder / f"{name}.hea"


def write_mat(folder: Path, name: str, signals: np.ndarray, fs: float, *, leads=None, gain: float = 1000.0) -> Path:
    """CinC 2021 style: ``name.mat`` (v4, int16 ``val``) + a WFDB header naming it at byte offset 24."""
    folder.mkdir(parents=True, exist_ok=True)
    leads = list(leads or LEADS)
    digital = np.clip(np.rint(np.asarray(signals) * gain), -32767, 32767).astype(np.int16)   # (n_sig, T)
    savemat(str(folder / f"{name}.mat"), {"val": digital}, format="4")
    n = len(leads)
    record = wfdb.Record(record_name=name, n_sig=n, fs=fs, sig_len=digital.shape[1], file_name=[f"{name}.mat"] * n,
                         fmt=["16"] * n, byte_offset=[24] * n, adc_gain=[gain] * n, baseline=[0] * n,
                         units=["mV"] * n, adc_res=[16] * n, adc_zero=[0] * n, init_value=digital[:, 0].tolist(),
                         checksum=[int(c) for c in (digital.astype(np.int64).sum(axis=1) % 65536)],
                         block_size=[0] * n, sig_name=leads)
    record.wrheader(write_dir=str(folder))
    return folder / f"{name}.hea"
