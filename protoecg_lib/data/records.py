"""Reading one PTB-XL record through ``wfdb``, with the checks a loader owes its users.

Method §1.1: 12 leads in the order I, II, III, aVR, aVL, aVF, V1-V6 (PTB-XL writes AVR, AVL, AVF),
physical units (mV), 10 s at 100 Hz (``records100``) or 500 Hz (``records500``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import wfdb

from ..labels import LEADS
from .metadata import DataError
from .sanity import check_record

__all__ = ["read_record", "record_paths", "normalise_lead_name", "resample"]

#: bytes per sample of the WFDB formats PTB-XL (and our synthetic writer) use
_BYTES_PER_SAMPLE = {"16": 2, "80": 1, "212": 1.5, "24": 3, "32": 4}


def normalise_lead_name(name: str) -> str:
    """``'AVR'`` -> ``'aVR'`` etc.; other names unchanged (stripped)."""
    name = name.strip()
    return {"AVR": "aVR", "AVL": "aVL", "AVF": "aVF"}.get(name.upper(), name)


def record_paths(root: Path, filename: str) -> tuple[Path, Path]:
    """The ``.hea`` and ``.dat`` paths of a record named as in ``filename_lr``/``filename_hr``."""
    base = Path(root) / filename
    return base.with_name(base.name + ".hea"), base.with_name(base.name + ".dat")


def read_record(root: Path, filename: str, *, expected_fs: int, duration_s: float | None = 10.0,
                sanity: bool = True) -> np.ndarray:
    """Read one record and return its signals ``(12, T)`` float32 in mV, leads in PTB-XL order.

    Parameters
    ----------
    root : Path
        The dataset root.
    filename : str
        The record path relative to the root, without extension (``records100/00000/00001_lr``).
    expected_fs : int
        The sampling rate the caller asked for; another rate in the header is an error.
    duration_s : float or None
        Expected record length in seconds (PTB-XL: 10 s); None accepts any length.
    sanity : bool
        Check the physiological sanity of the values (:func:`protoecg_lib.data.sanity.check_record`:
        ADC range, saturated blocks, flat leads, units).

    Raises
    ------
    DataError
        Missing or truncated files, a header with another number of leads, other lead names or
        another sampling rate, or NaN samples; the message names the file and says what to do.
    SanityError
        Values no correctly described ECG has (a subclass of DataError).
    """
    hea, dat = record_paths(root, filename)
    if not hea.is_file() or not dat.is_file():
        missing = hea if not hea.is_file() else dat
        raise DataError(f"{missing} is missing. Re-download the record (`protoecg data download` "
                        "resumes and only fetches what is missing), or load with strict=False to skip it.")
    base = str(hea.with_suffix(""))
    try:
        header = wfdb.rdheader(base)
    except Exception as exc:  # wfdb raises bare Exceptions/ValueErrors for malformed headers
        raise DataError(f"{hea}: unreadable WFDB header ({exc}). Re-download this record.") from exc
    if header.n_sig != len(LEADS):
        raise DataError(f"{hea}: has {header.n_sig} signals, expected the 12 standard leads. "
                        "This is not a PTB-XL 12-lead record; remove it from the metadata or re-download it.")
    names = [normalise_lead_name(n) for n in header.sig_name]
    if tuple(names) != LEADS:
        raise DataError(f"{hea}: leads are {header.sig_name}, expected {list(LEADS)} (PTB-XL order). "
                        "Re-order or re-download the record.")
    if int(round(header.fs)) != int(expected_fs):
        raise DataError(f"{hea}: sampling rate is {header.fs:g} Hz but {expected_fs} Hz was asked for. "
                        "Use records100 for 100 Hz and records500 for 500 Hz (filename_lr / filename_hr), "
                        "or pass the record's own rate and a target_rate to resample.")
    if duration_s is not None and header.sig_len != int(round(duration_s * header.fs)):
        raise DataError(f"{hea}: {header.sig_len} samples ({header.sig_len / header.fs:g} s), expected "
                        f"{duration_s:g} s at {header.fs:g} Hz. Re-download the record.")
    fmts = set(header.fmt or [])
    if len(fmts) == 1 and (fmt := fmts.pop()) in _BYTES_PER_SAMPLE:
        expected_bytes = int(np.ceil(header.sig_len * header.n_sig * _BYTES_PER_SAMPLE[fmt]))
        size = dat.stat().st_size
        if size < expected_bytes:
            raise DataError(f"{dat}: truncated ({size} bytes, the header needs {expected_bytes}). "
                            "The download was probably interrupted; run `protoecg data download` again "
                            "to re-fetch it.")
    try:
        record = wfdb.rdrecord(base, physical=True)
    except Exception as exc:
        raise DataError(f"{dat}: cannot be decoded ({exc}). Re-download this record.") from exc
    signals = np.asarray(record.p_signal, dtype=np.float32).T  # (12, T)
    if not np.isfinite(signals).all():
        bad = np.where(~np.isfinite(signals).all(axis=1))[0]
        raise DataError(f"{dat}: NaN or invalid samples in lead(s) {[LEADS[i] for i in bad]}. "
                        "Re-download the record, or load with on_bad_record='skip' to leave it out.")
    if sanity:
        check_record(record.p_signal.T, header.fs, where=str(dat), gains=header.adc_gain, baselines=header.baseline,
                     fmt=header.fmt[0] if len(set(header.fmt or [])) == 1 else None)
    return np.ascontiguousarray(signals)


def resample(signals: np.ndarray, fs_in: int, fs_out: int) -> np.ndarray:
    """Resample ``(..., T)`` from ``fs_in`` to ``fs_out`` Hz with a polyphase anti-aliasing filter.

    Uses :func:`scipy.signal.resample_poly` (FIR low-pass at the lower Nyquist frequency, zero phase),
    so 500 -> 100 Hz keeps every 5th sample of the filtered signal.
    """
    if fs_in == fs_out:
        return signals
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(int(fs_in), int(fs_out))
    out = resample_poly(signals, int(fs_out) // g, int(fs_in) // g, axis=-1)
    return out.astype(np.float32, copy=False)
