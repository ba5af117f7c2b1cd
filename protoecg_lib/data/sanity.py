"""Physiological sanity of ECG signals: amplitudes an ECG can have, leads that carry a signal.

Two users: the loader checks every record as it is decoded (:func:`check_record`, on the values in
mV before resampling and filtering, with the header's gain, baseline and format), and
:func:`check_ecg_input` guards what a user hands to a trained model (``explain_ecg``, a predict
function): one ECG ``(12, T)`` at the model's rate and length, in mV.

The thresholds, and where they come from:

* **ADC range**, :data:`ADC_RANGE_MV` = 32.767 mV. PTB-XL stores 16-bit samples at 1000 adu/mV
  (Wagner et al. 2020, *Sci Data* 7:154; every header of the excerpt says ``1000``), so no value of
  a correctly described record lies outside +-32.767 mV. A value beyond it means the header's gain
  or baseline is wrong (a gain divided by 100 multiplies the signal by 100).
* **Saturation**, :data:`RAIL_RUN_S` = 0.05 s. A run of samples at the largest or smallest value the
  record's format can store (+-32767 for format 16; -32768 is WFDB's "no sample") is a clipped
  amplifier or an overwritten block, not an ECG: even the largest QRS complexes (about 4-7 mV in
  left ventricular hypertrophy, whose Sokolow-Lyon criterion is 3.5 mV; Sokolow & Lyon 1949)
  stay far below the rail.
* **Flat lead**, :data:`FLAT_P2P_MV` = 0.05 mV peak to peak over the record, or one value held
  for :data:`FLAT_RUN_S` = 2 s. Low QRS voltage is defined as < 0.5 mV in the limb leads and
  < 1.0 mV in the precordial leads (Surawicz et al. 2009, AHA/ACCF/HRS recommendations, part I), so
  a lead ten times below that carries no ECG (a detached electrode, a lead written as zeros). The
  smallest lead of the 536 excerpt records (100 and 500 Hz) spans 0.205 mV; the longest held value
  lasts 0.32 s.
* **Units**, :data:`MEDIAN_P2P_MV` = (0.1, 10) mV for the median over the 12 leads of each lead's
  peak-to-peak amplitude. Typical QRS amplitudes are 0.5-3 mV (the excerpt's medians span
  0.57-4.5 mV), so a median outside the band means other units or a gain off by about 10 or more:
  microvolts give medians near 1000, volts near 0.001.

Every finding names the record (or input), the lead and the value, and says what to do.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..labels import LEADS
from .metadata import DataError

__all__ = ["SanityError", "Finding", "ADC_RANGE_MV", "RAIL_RUN_S", "FLAT_P2P_MV", "FLAT_RUN_S", "MEDIAN_P2P_MV",
           "signal_findings", "check_record", "check_ecg_input", "format_bits"]

#: PTB-XL's representable range: 16-bit samples at 1000 adu/mV (Wagner et al. 2020).
ADC_RANGE_MV = 32.767
#: Seconds at the format's digital rail that count as a saturated (clipped or overwritten) block.
RAIL_RUN_S = 0.05
#: Peak-to-peak amplitude (mV) below which a lead is flat: a tenth of the low-voltage criterion.
FLAT_P2P_MV = 0.05
#: Seconds of one held value that make a lead flat (a detached electrode).
FLAT_RUN_S = 2.0
#: Plausible band (mV) of the median over leads of the per-lead peak-to-peak amplitude.
MEDIAN_P2P_MV = (0.1, 10.0)

#: Bits per sample of the WFDB formats PTB-XL and the synthetic writer use.
_FORMAT_BITS = {"16": 16, "80": 8, "212": 12, "24": 24, "32": 32}


class SanityError(DataError):
    """An ECG whose values no heart and no correctly described recording produce."""


@dataclass(frozen=True)
class Finding:
    """One problem: the lead, what is wrong, the measured value (mV or s) and the threshold."""

    lead: str
    kind: str          # 'adc_range' | 'saturated' | 'flat' | 'held' | 'units'
    value: float
    limit: float

    def describe(self) -> str:
        what = {
            "adc_range": f"reaches {self.value:.6g} mV, outside PTB-XL's ADC range of +-{self.limit:g} mV "
                         "(16 bit at 1000 adu/mV): the header's gain or baseline is wrong",
            "saturated": f"sits at the ADC rail for {self.value:.3g} s (>= {self.limit:g} s): a clipped or "
                         "overwritten block",
            "flat": f"spans {self.value:.3g} mV peak to peak (< {self.limit:g} mV): a flat lead",
            "held": f"holds one value for {self.value:.3g} s (>= {self.limit:g} s): a detached lead",
            "units": f"has a median lead amplitude of {self.value:.4g} mV peak to peak, outside "
                     f"{MEDIAN_P2P_MV[0]:g}-{MEDIAN_P2P_MV[1]:g} mV: other units or a wrong gain",
        }[self.kind]
        return f"lead {self.lead} {what}" if self.lead else what


def format_bits(fmt: str | None) -> int | None:
    """Bits per sample of a WFDB storage format (``'16'`` -> 16), None when unknown."""
    return _FORMAT_BITS.get(str(fmt)) if fmt is not None else None


def _longest_run(mask: np.ndarray) -> int:
    """Length of the longest run of True in a 1D boolean array."""
    if not mask.any():
        return 0
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return int((edges[1::2] - edges[0::2]).max())


def _longest_hold(x: np.ndarray) -> int:
    """Length of the longest run of one repeated value in a 1D array."""
    if len(x) < 2:
        return len(x)
    same = np.diff(x) == 0
    return _longest_run(same) + 1 if same.any() else 1


def signal_findings(signals: np.ndarray, fs: float, *, digital: np.ndarray | None = None,
                    rails: tuple[int, int] | None = None, check_range: bool = True) -> list[Finding]:
    """Every sanity finding of one ECG.

    Parameters
    ----------
    signals : ndarray, shape (12, T), mV
    fs : float
        Sampling rate in Hz (turns the run thresholds into samples).
    digital : ndarray, shape (12, T), int, optional
        The stored sample values; with ``rails`` (lowest, highest storable value) it enables the
        saturation check.
    check_range : bool
        Apply the ADC-range check (PTB-XL records; off for inputs from other sources).

    Returns
    -------
    list of Finding
        Empty for a plausible ECG; the units finding (if any) first, then per lead.
    """
    x = np.asarray(signals, dtype=np.float64)
    out: list[Finding] = []
    p2p = x.max(axis=1) - x.min(axis=1)                                     # (12,)
    median = float(np.median(p2p))
    if not MEDIAN_P2P_MV[0] <= median <= MEDIAN_P2P_MV[1]:
        out.append(Finding("", "units", median, MEDIAN_P2P_MV[1] if median > MEDIAN_P2P_MV[1] else MEDIAN_P2P_MV[0]))
    rail_samples = max(2, int(np.ceil(RAIL_RUN_S * fs)))
    hold_samples = int(np.ceil(FLAT_RUN_S * fs))
    names = LEADS if len(x) == len(LEADS) else tuple(str(i) for i in range(len(x)))
    for i, lead in enumerate(names):
        peak = float(np.abs(x[i]).max())
        if check_range and peak > ADC_RANGE_MV + 1e-3:
            out.append(Finding(lead, "adc_range", peak, ADC_RANGE_MV))
        if digital is not None and rails is not None:
            run = _longest_run((digital[i] <= rails[0]) | (digital[i] >= rails[1]))
            if run >= rail_samples:
                out.append(Finding(lead, "saturated", run / fs, RAIL_RUN_S))
        if p2p[i] < FLAT_P2P_MV:
            out.append(Finding(lead, "flat", float(p2p[i]), FLAT_P2P_MV))
        else:
            held = _longest_hold(x[i])
            if held >= hold_samples:
                out.append(Finding(lead, "held", held / fs, FLAT_RUN_S))
    return out


def check_record(signals: np.ndarray, fs: float, *, where: str, gains=None, baselines=None,
                 fmt: str | None = None) -> None:
    """Raise :class:`SanityError` naming ``where``, the lead and the value when a record is implausible.

    ``signals`` ``(12, T)`` in mV as read from the record (before resampling and filtering);
    ``gains``, ``baselines`` (per lead) and ``fmt`` (the WFDB format) recover the stored values for
    the saturation check.
    """
    digital = rails = None
    bits = format_bits(fmt)
    if gains is not None and baselines is not None and bits is not None and \
            not any(v is None for v in (*gains, *baselines)):
        g = np.asarray(gains, dtype=np.float64)[:, None]
        b = np.asarray(baselines, dtype=np.float64)[:, None]
        if np.all(g > 0):
            digital = np.rint(np.asarray(signals, dtype=np.float64) * g + b).astype(np.int64)
            rails = (-(2 ** (bits - 1)) + 1, 2 ** (bits - 1) - 1)   # the lowest value is WFDB's "no sample"
    findings = signal_findings(signals, fs, digital=digital, rails=rails)
    if findings:
        more = f" ({len(findings) - 1} more finding(s))" if len(findings) > 1 else ""
        raise SanityError(f"{where}: {findings[0].describe()}{more}. Check the record's header and data, or "
                          "re-download it.")


def check_ecg_input(signals: np.ndarray, fs: float, *, expected_fs: float | None, num_samples: int | None,
                    check_units: bool = True, where: str = "signals") -> np.ndarray:
    """Check (and where unambiguous, convert) one ECG handed to a trained model.

    Parameters
    ----------
    signals : ndarray, shape (12, T)
        One ECG in mV, preprocessed as the model's training data.
    fs : float
        Its sampling rate in Hz.
    expected_fs : float, optional
        The model's rate (the rate its prototypes were projected at); another ``fs`` is resampled
        to it with a warning.
    num_samples : int, optional
        The model's input length (``BranchConfig.num_samples``; 1000 = 10 s at 100 Hz); another
        length after resampling is refused.
    check_units : bool
        Check (and convert) the units; off for per-lead z-scores (a run trained with
        ``standardize=True``), which have no unit.

    Returns
    -------
    ndarray, shape (12, num_samples), float32, mV

    Raises
    ------
    ValueError
        Wrong shape, NaN/inf, wrong length, a flat lead, values beyond any ECG, or amplitudes
        that fit no unit; the message names the value and says what to pass instead.
    """
    x = np.asarray(signals, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] != len(LEADS):
        hint = " (that is a batch: pass one ECG, signals[i])" if x.ndim == 3 else ""
        hint = hint or (" (it looks like (T, 12): pass signals.T)" if x.ndim == 2 and x.shape[1] == 12 else "")
        raise ValueError(f"{where} must be one ECG of shape (12, T) in mV; got shape {tuple(x.shape)}{hint}")
    if not np.isfinite(x).all():
        leads = [LEADS[i] for i in np.flatnonzero(~np.isfinite(x).all(axis=1))]
        raise ValueError(f"{where}: NaN/inf values in lead(s) {leads}; clean the record before passing it")
    if not fs or fs <= 0:
        raise ValueError(f"{where}: sampling rate {fs!r} Hz; pass the ECG's rate in Hz (fs=...)")
    if expected_fs is not None and abs(float(fs) - float(expected_fs)) > 1e-9:
        if float(fs) != int(fs) or float(expected_fs) != int(expected_fs):
            raise ValueError(f"{where}: sampling rate {fs:g} Hz, the model takes {expected_fs:g} Hz; resample it first")
        from .records import resample

        warnings.warn(f"{where}: resampled from {fs:g} Hz to the model's {expected_fs:g} Hz", UserWarning, stacklevel=3)
        x, fs = resample(x, int(fs), int(expected_fs)), float(expected_fs)
    if num_samples is not None and x.shape[1] != num_samples:
        raise ValueError(f"{where}: {x.shape[1]} samples ({x.shape[1] / fs:g} s at {fs:g} Hz), the model takes "
                         f"{num_samples} ({num_samples / fs:g} s); crop or pad the ECG to that length")
    median = float(np.median(x.max(axis=1) - x.min(axis=1)))
    lo, hi = MEDIAN_P2P_MV
    for factor, unit in ((1e-3, "microvolts"), (1e3, "volts")):
        if check_units and not lo <= median <= hi and lo <= median * factor <= hi:
            warnings.warn(f"{where}: the median lead spans {median:.4g} peak to peak, which looks like {unit}; "
                          f"converted to mV (x {factor:g}). Pass mV to silence this.", UserWarning, stacklevel=3)
            x = (x * np.float32(factor)).astype(np.float32)
            break
    findings = [f for f in signal_findings(x, fs, check_range=False) if check_units or f.kind != "units"]
    if findings:
        f = findings[0]
        raise ValueError(f"{where}: {f.describe()}; pass one 12-lead ECG in mV, preprocessed as the training data")
    return np.array(x, dtype=np.float32, order="C")     # a writable copy (inputs are often read-only memory maps)
