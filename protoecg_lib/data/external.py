"""Any 12-lead WFDB record, read the way a trained run reads PTB-XL (method §1.1-1.2).

A learner's own ECG, a PTB-XL record at 500 Hz only, or a record of another archive (the PhysioNet/CinC
2021 challenge style: a WFDB header whose signal file is a MATLAB ``.mat`` with the samples at a byte
offset, which :mod:`wfdb` reads like a ``.dat``). :func:`read_external_record` returns ``(12, T)``
float32 in mV at the rate a run was trained on, preprocessed like its training data. What it accepts
and does, in order (each change is a warning and a line of ``notes``):

* **files**: ``PATH.hea`` (or the record's path without extension, or its signal file); the signal
  files the header names must be there.
* **leads**: exactly the 12 standard leads, matched by name whatever the case and order
  (``AVR``/``aVR``/``avr``), put in PTB-XL's order I, II, III, aVR, aVL, aVF, V1-V6. Other counts,
  unknown or repeated names are refused.
* **units**: each signal's units must be millivolts (``mV``; WFDB's default when absent), microvolts
  (``uV``, ``µV``: divided by 1000) or volts (``V``: multiplied by 1000); other units are refused
  by name. Values that fit no ECG in the stated units (median peak-to-peak amplitude over the leads
  outside :data:`PLAUSIBLE_P2P_MV`) are refused: the units field is then wrong.
* **rate**: any rate at or above the run's, resampled to it with a polyphase anti-aliasing filter
  (:func:`protoecg_lib.data.records.resample`); a lower rate is refused.
* **length** (the policy): the model reads 10 s, as PTB-XL's records are. A longer record is cropped
  to its first 10 s; one of :data:`MIN_DURATION_S` (8.5 s) to 10 s is zero-padded at the end after
  filtering (0 mV is the filtered baseline; less than the 2 s of one held value that the model's input
  check, :func:`protoecg_lib.data.sanity.check_ecg_input`, reads as a detached lead); a shorter one is
  refused.
* **samples**: NaN or infinite samples are refused (naming the leads).
* **preprocessing**: the run's 0.5 Hz zero-phase high-pass (:func:`protoecg_lib.data.preprocess.highpass`)
  on the 10 s at the run's rate, exactly as ``load_ptbxl`` filters its records.

Every refusal is one :class:`DataError` line that names the file and the value and says what to do.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..labels import LEADS
from .metadata import DataError
from .preprocess import highpass as highpass_filter
from .sanity import FLAT_RUN_S

__all__ = ["ExternalRecord", "read_external_record", "lead_order", "DURATION_S", "MIN_DURATION_S",
           "PLAUSIBLE_P2P_MV", "UNIT_SCALE"]

#: Seconds the model reads (PTB-XL's record length).
DURATION_S = 10.0
#: Shortest record accepted (padded to 10 s); shorter ones are refused. The padding stays under the
#: 2 s of one held value that the model's input check reads as a detached lead (``sanity.FLAT_RUN_S``).
MIN_DURATION_S = DURATION_S - FLAT_RUN_S + 0.5
#: Plausible median over leads of the per-lead peak-to-peak amplitude, in mV: QRS complexes span
#: about 0.5-3 mV (low voltage is < 0.5 mV in the limb leads); microvolts read as mV give ~1000.
PLAUSIBLE_P2P_MV = (0.1, 10.0)
#: Units accepted, lower case, and the factor to millivolts.
UNIT_SCALE = {"mv": 1.0, "millivolt": 1.0, "millivolts": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3,
              "microvolt": 1e-3, "microvolts": 1e-3, "v": 1e3, "volt": 1e3, "volts": 1e3}


@dataclass
class ExternalRecord:
    """One record read for a run: ``signals (12, T)`` float32 in mV at ``fs``, preprocessed.

    ``source_fs`` and ``source_seconds`` describe the file; ``notes`` say what was changed.
    """

    name: str
    path: Path
    signals: np.ndarray
    fs: int
    source_fs: float
    source_seconds: float
    source_leads: tuple[str, ...]
    notes: list[str] = field(default_factory=list)


def lead_order(names, where: str) -> list[int]:
    """Indices that put ``names`` into PTB-XL's lead order (case-insensitive names); refuse other sets."""
    wanted = {lead.upper(): lead for lead in LEADS}
    given = [str(n).strip() for n in names]
    keys = [n.upper() for n in given]
    unknown = [g for g, k in zip(given, keys) if k not in wanted]
    repeated = sorted({g for g, k in zip(given, keys) if keys.count(k) > 1})
    if len(given) != len(LEADS) or unknown or repeated:
        what = (f"{len(given)} signals ({', '.join(given)})" if len(given) != len(LEADS) else
                f"lead name(s) {unknown} not among the 12 standard leads" if unknown else f"repeated lead(s) {repeated}")
        raise DataError(f"{where}: {what}; protoecg reads the 12 standard leads {', '.join(LEADS)} (names in any "
                        "case and order). Write a record with exactly these 12 leads.")
    return [keys.index(lead.upper()) for lead in LEADS]


def _unit_scales(units, where: str) -> np.ndarray:
    scales = []
    for u in units or ["mV"] * len(LEADS):
        key = (u or "mV").strip().lower()
        if key not in UNIT_SCALE:
            raise DataError(f"{where}: units {u!r}; protoecg reads mV, uV or V (the header's units field). "
                            "Convert the signals to millivolts, or fix the units field.")
        scales.append(UNIT_SCALE[key])
    return np.asarray(scales, np.float32)


def _resample(x: np.ndarray, fs_in: float, fs_out: int) -> np.ndarray:
    from .records import resample

    if float(fs_in).is_integer():
        return resample(x, int(fs_in), fs_out)
    from scipy.signal import resample_poly

    ratio = Fraction(fs_out / fs_in).limit_denominator(1000)
    return resample_poly(x, ratio.numerator, ratio.denominator, axis=-1).astype(np.float32)


def _header_path(path: Path) -> Path:
    path = Path(path).expanduser()
    if path.suffix.lower() in (".hea", ".dat", ".mat"):
        return path.with_suffix(".hea")
    return path.with_name(path.name + ".hea")


def read_external_record(path: str | Path, *, fs: int, highpass: bool = True,
                         duration_s: float = DURATION_S) -> ExternalRecord:
    """Read a 12-lead WFDB record (``.dat`` or ``.mat`` signal) as a run trained at ``fs`` Hz reads PTB-XL.

    Parameters
    ----------
    path : path
        ``RECORD.hea``, the record without extension, or its signal file.
    fs : int
        The run's sampling rate (``RUN/config.json``: the data's ``target_rate`` or ``sampling_rate``).
    highpass : bool
        Apply the run's 0.5 Hz high-pass (True when the run was trained with it, the default).
    duration_s : float
        Seconds the model reads (10).

    Returns
    -------
    ExternalRecord
        ``signals`` of shape ``(12, round(duration_s * fs))``, float32, mV.

    Raises
    ------
    DataError
        One line naming the file and the value: missing files, not 12 standard leads, other units,
        a rate below ``fs``, shorter than ``MIN_DURATION_S``, NaN samples, implausible amplitudes.
    """
    import wfdb

    hea = _header_path(Path(path))
    if not hea.is_file():
        raise DataError(f"{hea} is missing: pass the record's .hea file (its signal file, .dat or .mat, beside it)")
    base = str(hea.with_suffix(""))
    try:
        header = wfdb.rdheader(base)
    except Exception as exc:  # wfdb raises bare Exceptions for malformed headers
        raise DataError(f"{hea}: unreadable WFDB header ({str(exc).splitlines()[0] if str(exc) else exc!r}); "
                        "check that it is a WFDB header") from None
    if not header.n_sig or not header.sig_len:
        raise DataError(f"{hea}: the header describes no samples (n_sig={header.n_sig}, sig_len={header.sig_len})")
    for name in dict.fromkeys(header.file_name or []):
        if not (hea.parent / name).is_file():
            raise DataError(f"{hea.parent / name} is missing: the header {hea.name} names it as its signal file")
    order = lead_order(header.sig_name or [], str(hea))
    scales = _unit_scales(header.units, str(hea))[order]
    src_fs = float(header.fs or 0)
    if src_fs < fs:
        raise DataError(f"{hea}: sampled at {src_fs:g} Hz, below the run's {fs} Hz; the model needs records at "
                        f"{fs} Hz or more")
    seconds = header.sig_len / src_fs
    if seconds < MIN_DURATION_S:
        raise DataError(f"{hea}: {seconds:g} s long ({header.sig_len} samples at {src_fs:g} Hz); protoecg needs at "
                        f"least {MIN_DURATION_S:g} s (records of {MIN_DURATION_S:g}-{duration_s:g} s are padded to the "
                        f"{duration_s:g} s the model reads)")
    take = min(header.sig_len, int(round(duration_s * src_fs)))
    try:
        record = wfdb.rdrecord(base, sampto=take, physical=True)
    except Exception as exc:
        raise DataError(f"{hea}: the signal cannot be decoded ({str(exc).splitlines()[0] if str(exc) else exc!r}); "
                        "check the header's format and byte offset against the signal file") from None
    x = np.asarray(record.p_signal, dtype=np.float64).T[order]               # (12, take), the header's units
    bad = [LEADS[i] for i in np.where(~np.isfinite(x).all(axis=1))[0]]
    if bad:
        raise DataError(f"{hea}: NaN or missing samples in lead(s) {', '.join(bad)}; fill or cut the gap and "
                        "write the record again")
    notes = []
    units = [(header.units or ["mV"] * 12)[i] for i in order]
    if np.any(scales != 1):
        notes.append(f"units {sorted(set(u for u, s in zip(units, scales) if s != 1))} converted to mV")
    x = (x * scales[:, None]).astype(np.float32)
    p2p = float(np.median(np.ptp(x, axis=1)))
    low, high = PLAUSIBLE_P2P_MV
    if not low <= p2p <= high:
        guess = "microvolts" if p2p > high else "volts"
        raise DataError(f"{hea}: median peak-to-peak amplitude {p2p:.4g} mV over the 12 leads, outside the "
                        f"{low:g}-{high:g} mV of an ECG; the values look like {guess}: fix the header's units field")
    if src_fs != fs:
        x = _resample(x, src_fs, fs)
        notes.append(f"resampled from {src_fs:g} Hz to the run's {fs} Hz")
    if seconds > duration_s:
        notes.append(f"cropped to its first {duration_s:g} s (the record is {seconds:g} s long)")
    if highpass:
        x = highpass_filter(x, fs)
    num_samples = int(round(duration_s * fs))
    if x.shape[1] < num_samples and seconds < duration_s - 1.0 / fs:  # not a rounding of the resampler
        notes.append(f"padded with 0 mV from {x.shape[1] / fs:g} s to {duration_s:g} s (the record is {seconds:g} s long)")
        x = np.pad(x, ((0, 0), (0, num_samples - x.shape[1])))
    x = np.ascontiguousarray(x[:, :num_samples], dtype=np.float32)
    for note in notes:
        warnings.warn(f"{hea.name}: {note}", UserWarning, stacklevel=2)
    return ExternalRecord(name=hea.stem, path=hea, signals=x, fs=int(fs), source_fs=src_fs, source_seconds=seconds,
                          source_leads=tuple(header.sig_name), notes=notes)
