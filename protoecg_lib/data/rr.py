"""R peaks, RR intervals and beat-to-beat features: the project's one R-peak detector.

Every part of the library that needs beats calls :func:`detect_r_peaks` (the rhythm branch's
beat-timing option, :mod:`protoecg_lib.models.beats`; figures of RR intervals,
:func:`protoecg_lib.plotting.plot_beat_timing`; anything that locates beats in real ECGs). Three
maintained detectors sit behind one call:

* ``'neurokit'`` (default): NeuroKit2's ``ecg_peaks(method='neurokit')``. On the real excerpt it
  finds every QRS in 488 of 488 records, 0.4-0.6 ms per 100 Hz record. When NeuroKit2 is not
  installed the call falls back to ``'gqrs'`` with a warning that says how to install it.
* ``'gqrs'``: WFDB's GQRS, each mark moved to the largest ``|amplitude|`` within 100 ms
  (WFDB is a dependency already); about 4 ms per record.
* ``'xqrs'``: WFDB's XQRS (its own band-pass and learning phase).

On top of the peaks: :func:`rr_intervals` (seconds, implausible ones dropped), :func:`tachogram`
(a ``(T,)`` channel holding each RR interval between its two beats, for plots), :func:`beat_features`
(the ``(K,)`` summary named by :data:`BEAT_FEATURES`) and :func:`beat_feature_matrix` (a batch
``(N, 12, T)``, memoised by record content in a :class:`BeatFeatureCache`, so a model can call it in
``forward`` and pay the detector once per record: about 1 ms per record, 10-25 s for the 21,799
records of PTB-XL, once per process).

Everything reads one lead ``(T,)``, one record ``(12, T)`` or a batch ``(N, 12, T)`` of float32 mV
at ``fs`` Hz. The beat-timing option of the rhythm branch is this project's addition (issue 16),
not part of ProtoECGNet (method §2.1 pools the ResNet over time).
"""
from __future__ import annotations

import hashlib
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BEAT_FEATURES", "DETECTORS", "detect_r_peaks", "rr_intervals", "tachogram", "beat_features",
    "BeatTiming", "beat_timing", "beat_feature_matrix", "BeatFeatureCache", "default_cache", "resolve_method",
    "MIN_RR_S", "MAX_RR_S", "neurokit_available",
]

#: Names of the entries of :func:`beat_features`, in order (``K = 8``).
BEAT_FEATURES = (
    "log_mean_rr",        # log(mean RR / 0.8 s): rate (0 at 75 bpm, > 0 slower, < 0 faster)
    "cv_rr",              # SD / mean of RR: overall variability (sinus arrhythmia, AFIB)
    "rmssd_rel",          # RMS of successive differences / mean RR: beat-to-beat variability
    "median_dsucc_rel",   # median |successive difference| / mean RR: robust to one ectopic beat
    "irregular_frac",     # fraction of |successive differences| > 12 % of the mean RR
    "log_max_min",        # log(max RR / min RR): pauses, premature beats
    "coverage",           # beats * mean RR / duration: ~1 when every beat was found
    "valid",              # 1 when >= 4 peaks were found (the other entries are 0 otherwise)
)

#: Detectors understood by :func:`detect_r_peaks`.
DETECTORS = ("neurokit", "gqrs", "xqrs")

#: RR intervals outside [MIN_RR_S, MAX_RR_S] seconds are treated as detection errors.
MIN_RR_S, MAX_RR_S = 0.2, 3.0

_LEAD_II = 1


_FALLBACK_WARNED = False


def neurokit_available() -> bool:
    """True when NeuroKit2 can be imported (the default detector)."""
    try:
        import neurokit2  # noqa: F401
    except ImportError:
        return False
    return True


def _neurokit_peaks(lead: np.ndarray, fs: float) -> np.ndarray:
    import neurokit2 as nk

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, info = nk.ecg_peaks(np.asarray(lead, np.float64), sampling_rate=int(round(fs)), method="neurokit")
    return np.asarray(info["ECG_R_Peaks"], dtype=np.int64)


def _gqrs_peaks(lead: np.ndarray, fs: float) -> np.ndarray:
    from wfdb import processing

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peaks = processing.gqrs_detect(sig=np.asarray(lead, np.float64), fs=fs)
    if len(peaks) == 0:
        return np.zeros(0, np.int64)
    # GQRS marks the QRS onset region; move each mark to the largest |amplitude| within 100 ms
    radius = max(1, int(round(0.1 * fs)))
    return np.unique(processing.correct_peaks(np.asarray(lead, np.float64), np.asarray(peaks), radius,
                                              radius, peak_dir="compare")).astype(np.int64)


def _xqrs_peaks(lead: np.ndarray, fs: float) -> np.ndarray:
    import logging

    from wfdb import processing

    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)          # XQRS logs its learning phase
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            peaks = processing.xqrs_detect(np.asarray(lead, np.float64), fs=float(fs), verbose=False)
    finally:
        logging.getLogger().setLevel(level)
    return np.asarray(peaks, dtype=np.int64)


def resolve_method(method: str) -> str:
    """The detector that will run for ``method``: ``'neurokit'`` becomes ``'gqrs'`` (with a warning,
    once per process) when NeuroKit2 is not installed."""
    global _FALLBACK_WARNED
    if method not in DETECTORS:
        raise ValueError(f"unknown R-peak detector {method!r}; choose one of {DETECTORS}")
    if method == "neurokit" and not neurokit_available():
        if not _FALLBACK_WARNED:
            warnings.warn("NeuroKit2 is not installed, so R peaks come from WFDB's GQRS detector instead "
                          "(slower, and it found fewer beats on the real excerpt). Install it with "
                          "`pip install neurokit2` for the default detector.", RuntimeWarning, stacklevel=3)
            _FALLBACK_WARNED = True
        return "gqrs"
    return method


def detect_r_peaks(signal: np.ndarray, fs: float, method: str = "neurokit", *, lead: int = _LEAD_II) -> np.ndarray:
    """R-peak sample indices on one lead: the project's one R-peak detector.

    Parameters
    ----------
    signal : ndarray, shape (T,) or (12, T)
        One lead in mV, or one record (then lead ``lead`` is read; lead II is what clinicians read
        rhythm on).
    fs : float
        Sampling rate in Hz (100 Hz works; 500 Hz too).
    method : {'neurokit', 'gqrs', 'xqrs'}
        NeuroKit2's default detector (falls back to ``'gqrs'`` with a warning when NeuroKit2 is
        missing), WFDB's GQRS with peak correction, or WFDB's XQRS.
    lead : int
        Lead index read from a ``(12, T)`` record (1 = lead II).

    Returns
    -------
    ndarray, shape (n_peaks,), int64, increasing. A flat, non-finite or failed lead gives an empty
    array.
    """
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim == 2:
        if not 0 <= int(lead) < x.shape[0]:
            raise ValueError(f"lead {lead!r} is not a row of the record of shape {x.shape}")
        x = x[int(lead)]
    if x.ndim != 1:
        raise ValueError(f"detect_r_peaks needs one lead (T,) or one record (12, T), got shape {x.shape}")
    method = resolve_method(method)
    if len(x) < 2 or not np.isfinite(x).all() or np.ptp(x) < 1e-6:
        return np.zeros(0, np.int64)
    detector = {"neurokit": _neurokit_peaks, "gqrs": _gqrs_peaks, "xqrs": _xqrs_peaks}[method]
    try:
        peaks = detector(x, fs)
    except (ValueError, IndexError, ZeroDivisionError):  # detectors raise on pathological input
        return np.zeros(0, np.int64)
    return np.unique(peaks[(peaks >= 0) & (peaks < len(x))])


def rr_intervals(peaks: np.ndarray, fs: float) -> np.ndarray:
    """RR intervals in seconds between consecutive peaks, implausible ones (outside
    [:data:`MIN_RR_S`, :data:`MAX_RR_S`]) removed. Shape ``(n_peaks - 1,)`` at most."""
    rr = np.diff(np.asarray(peaks, np.float64)) / float(fs)
    return rr[(rr >= MIN_RR_S) & (rr <= MAX_RR_S)]


def tachogram(peaks: np.ndarray, fs: float, num_samples: int) -> np.ndarray:
    """The RR interval (s) held between its two beats: a ``(num_samples,)`` float32 channel.

    Samples before the first and after the last peak hold the nearest interval; a record with
    fewer than two peaks gives zeros. Each interval is drawn over the samples it spans, so a plot
    of the tachogram under lead II shows which beats came early or late.
    """
    out = np.zeros(int(num_samples), np.float32)
    peaks = np.asarray(peaks, np.int64)
    if len(peaks) < 2:
        return out
    rr = np.diff(peaks) / float(fs)
    for k in range(len(rr)):
        out[peaks[k]:peaks[k + 1]] = rr[k]
    out[:peaks[0]] = rr[0]
    out[peaks[-1]:] = rr[-1]
    return out


def beat_features(rr: np.ndarray, duration_s: float) -> np.ndarray:
    """Summary of an RR sequence: the ``(K,)`` float32 vector named by :data:`BEAT_FEATURES`.

    Parameters
    ----------
    rr : ndarray, shape (n,)
        RR intervals in seconds (from :func:`rr_intervals`).
    duration_s : float
        Record length in seconds (for ``coverage``).

    Returns
    -------
    ndarray, shape (8,), float32
        All zeros but ``valid = 0`` when fewer than 3 intervals (4 peaks) are available.
    """
    rr = np.asarray(rr, np.float64)
    out = np.zeros(len(BEAT_FEATURES), np.float32)
    if len(rr) < 3:
        return out
    mean = rr.mean()
    d = np.abs(np.diff(rr))
    out[0] = np.log(mean / 0.8)
    out[1] = rr.std() / mean
    out[2] = np.sqrt(np.mean(d ** 2)) / mean
    out[3] = np.median(d) / mean
    out[4] = np.mean(d > 0.12 * mean)
    out[5] = np.log(rr.max() / rr.min())
    out[6] = min((len(rr) + 1) * mean / max(duration_s, 1e-6), 2.0)
    out[7] = 1.0
    return out


@dataclass
class BeatTiming:
    """Beat timing of one record (what an explanation shows next to a rhythm prototype).

    Attributes
    ----------
    peaks : ndarray, shape (n_peaks,), int64
        R-peak sample indices on ``lead``.
    rr : ndarray, shape (n,), float64
        Plausible RR intervals in seconds.
    features : ndarray, shape (K,), float32
        :func:`beat_features` of ``rr``.
    fs : float
    lead : int
        Lead index the peaks were found on (1 = lead II).
    """

    peaks: np.ndarray
    rr: np.ndarray
    features: np.ndarray
    fs: float
    lead: int = _LEAD_II

    @property
    def peak_times_s(self) -> np.ndarray:
        """Peak times in seconds, shape (n_peaks,)."""
        return self.peaks / float(self.fs)

    def to_dict(self) -> dict:
        """JSON-able: peak times and RR intervals in seconds (3 decimals) and the named features."""
        return {"lead": int(self.lead), "peak_times_s": [round(float(t), 3) for t in self.peak_times_s],
                "rr_s": [round(float(r), 3) for r in self.rr],
                "features": {k: float(v) for k, v in zip(BEAT_FEATURES, self.features)}}


def beat_timing(signal: np.ndarray, fs: float, *, lead: int = _LEAD_II, method: str = "neurokit") -> BeatTiming:
    """Peaks, RR intervals and features of one record ``(12, T)`` (or one lead ``(T,)``)."""
    signal = np.asarray(signal)
    x = signal[lead] if signal.ndim == 2 else signal
    method = resolve_method(method)
    peaks = detect_r_peaks(x, fs, method)
    rr = rr_intervals(peaks, fs)
    return BeatTiming(peaks, rr, beat_features(rr, x.shape[-1] / float(fs)), float(fs), lead)


class BeatFeatureCache:
    """A bounded, thread-safe memo of beat features keyed by the bytes of the detector's input.

    The key hashes the lead the detector reads (BLAKE2b over its float32 bytes, about 10 µs per
    100 Hz record), the sampling rate, the lead index and the detector, so the same record always
    maps to the same features however it reaches the model (training batch, projection,
    explanation) and a changed record is never served stale features.
    """

    def __init__(self, max_items: int = 200_000) -> None:
        self.max_items = int(max_items)
        self._items: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(lead: np.ndarray, fs: float, lead_index: int, method: str) -> bytes:
        h = hashlib.blake2b(np.ascontiguousarray(lead, dtype=np.float32).tobytes(), digest_size=16)
        h.update(f"{fs}|{lead_index}|{method}".encode())
        return h.digest()

    def get(self, key: bytes) -> np.ndarray | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
            return value

    def put(self, key: bytes, value: np.ndarray) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0


_DEFAULT_CACHE = BeatFeatureCache()


def default_cache() -> BeatFeatureCache:
    """The process-wide :class:`BeatFeatureCache` used by :func:`beat_feature_matrix`."""
    return _DEFAULT_CACHE


def beat_feature_matrix(signals: np.ndarray, fs: float, *, lead: int = _LEAD_II, method: str = "neurokit",
                        cache: BeatFeatureCache | None = None) -> np.ndarray:
    """Beat features of every record of a batch.

    Parameters
    ----------
    signals : ndarray, shape (N, 12, T) or (12, T)
        float32 mV (any array, a memory map or a CPU tensor's ``.numpy()``).
    fs : float
    lead : int
        Lead the peaks are detected on (1 = lead II).
    method : {'neurokit', 'gqrs', 'xqrs'}
    cache : BeatFeatureCache, optional
        Default: the process-wide cache (:func:`default_cache`); records seen before cost a hash.

    Returns
    -------
    ndarray, shape (N, K) float32 (``(K,)`` for one record).
    """
    signals = np.asarray(signals)
    one = signals.ndim == 2
    batch = signals[None] if one else signals
    if batch.ndim != 3:
        raise ValueError(f"beat_feature_matrix needs (N, 12, T) or (12, T) signals, got {signals.shape}")
    method = resolve_method(method)
    cache = _DEFAULT_CACHE if cache is None else cache
    out = np.zeros((len(batch), len(BEAT_FEATURES)), np.float32)
    duration = batch.shape[-1] / float(fs)
    for i, record in enumerate(batch):
        x = record[lead]
        key = cache.key(x, fs, lead, method)
        value = cache.get(key)
        if value is None:
            value = beat_features(rr_intervals(detect_r_peaks(x, fs, method), fs), duration)
            cache.put(key, value)
        out[i] = value
    return out[0] if one else out
