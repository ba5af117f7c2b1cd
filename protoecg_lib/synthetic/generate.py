"""One synthetic record: labels drawn with PTB-XL-like priors, the record rendered with its
evidence, and a readable description of one beat (book page 2b).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ..labels import statement
from .findings import (NOT_SIMULATED, label_conflicts,
                            sample_label_set)
from .record import plan_record, render_plan
from .evidence import EvidenceSpan, _evidence_of

__all__ = ["EVIDENCE_TIERS", "SyntheticConfig", "sample_labels", "generate_record", "BeatAnatomy", "describe_beat", "record_rng"]

#: Evidence tiers: ``default`` (PTB-XL-like label mix; most evidence lies in every beat) and ``sparse``
#: (episodic findings in a few beats only, :data:`.findings.SPARSE_PHYSIOLOGY`).
EVIDENCE_TIERS = ("default", "sparse")


@dataclass
class SyntheticConfig:
    """Settings of the synthetic generator (defaults give PTB-XL-like records).

    Attributes
    ----------
    duration : float
        Record length in seconds (PTB-XL: 10).
    noise : bool
        Master switch for baseline wander, EMG and mains noise (off gives clean beats, for tests).
    baseline_wander_mv, emg_mv, mains_mv : float
        Typical baseline-wander amplitude per electrode, EMG standard deviation at 500 Hz, and
        mains amplitude (mV); each record scales them by a random factor.
    mains_probability, mains_hz : float
        Share of records with mains hum, and its frequency (rendered only at rates that keep it).
    f_wave_mv, flutter_wave_mv : float
        Typical amplitude of fibrillatory (AFIB) and flutter (AFLT) waves.
    variability : float
        Scale of the between-record variation of axis, amplitudes, intervals, electrode placement.
    prior_exponent : float
        Label priors are PTB-XL counts to this power (1: PTB-XL's own imbalance; 0.5: rare labels boosted).
    norm_probability : float
        Share of NORM records.
    max_findings : int
        Most morphology findings drawn per record (each may bring co-labels).
    writer : {'fast', 'wfdb'}
        'fast' writes the same header and .dat bytes as ``wfdb.wrsamp`` (tested) about 10x faster;
        'wfdb' calls ``wfdb.wrsamp``.
    first_ecg_id : int
        ecg_id of the first record (a clearly synthetic range; PTB-XL's ids stop at 21837).
    evidence : {'default', 'sparse'}
        Evidence tier (:data:`EVIDENCE_TIERS`). ``'sparse'`` draws the episodic findings of
        :data:`.findings.SPARSE_PHYSIOLOGY` (isolated PVC/PAC, intermittent CRBBB/CLBBB) often and
        renders them in a few beats, with evidence only there (what localisation measures need).
        ``'default'`` leaves every byte of a root unchanged (the field is not written into the marker).
    """

    duration: float = 10.0
    noise: bool = True
    baseline_wander_mv: float = 0.08
    emg_mv: float = 0.025
    mains_mv: float = 0.02
    mains_probability: float = 0.3
    mains_hz: float = 50.0
    f_wave_mv: float = 0.08
    flutter_wave_mv: float = 0.2
    variability: float = 1.0
    prior_exponent: float = 0.5
    norm_probability: float = 0.3
    max_findings: int = 3
    writer: str = "fast"
    first_ecg_id: int = 900001
    evidence: str = "default"

    def __post_init__(self):
        if not 1.0 <= self.duration <= 60.0:
            raise ValueError(f"SyntheticConfig.duration={self.duration}: use 1-60 seconds (PTB-XL records are 10 s)")
        for name in ("baseline_wander_mv", "emg_mv", "mains_mv", "f_wave_mv", "flutter_wave_mv", "variability",
                     "prior_exponent"):
            if getattr(self, name) < 0:
                raise ValueError(f"SyntheticConfig.{name}={getattr(self, name)} must be >= 0")
        if not 0 <= self.norm_probability <= 1 or not 0 <= self.mains_probability <= 1:
            raise ValueError("SyntheticConfig probabilities (norm_probability, mains_probability) must lie in [0, 1]")
        if not 0 <= self.max_findings <= 5:
            raise ValueError(f"SyntheticConfig.max_findings={self.max_findings}: use 0-5")
        if self.writer not in ("fast", "wfdb"):
            raise ValueError(f"SyntheticConfig.writer={self.writer!r}: use 'fast' or 'wfdb'")
        if self.evidence not in EVIDENCE_TIERS:
            raise ValueError(f"SyntheticConfig.evidence={self.evidence!r}: use one of {EVIDENCE_TIERS}")
        if self.first_ecg_id <= 21837:
            raise ValueError(f"SyntheticConfig.first_ecg_id={self.first_ecg_id} overlaps PTB-XL's ids (1-21837); "
                             "use a larger number such as 900001")


def _as_rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def sample_labels(rng=None, config: SyntheticConfig | None = None) -> list[str]:
    """Draw one record's SCP codes from the generative co-occurrence scheme.

    With probability ``config.norm_probability``: NORM with a sinus rhythm (SR, SBRAD, SARRH or
    STACH). Otherwise: one base rhythm (SR, AFIB, STACH, SARRH, SBRAD, PACE, AFLT, SVTAC, PSVT,
    3AVB) with PTB-XL counts tempered by ``prior_exponent``; rhythm modifiers allowed by it (1AVB,
    LPR, 2AVB, IVCD, PVC, PAC, BIGU/TRIGU with their PVC or PAC, SVARR often with PAC); then 0-3
    morphology/global findings, each with PTB-XL-like co-labels (IMI often with QWAVE and ABQRS,
    CLBBB with ABQRS and often LVH, LVH with VCLVH / ``STD_`` / ``ISC_``, ...). Conflicting labels are
    never drawn together (see ``label_conflicts``).

    Parameters
    ----------
    rng : numpy Generator, int seed or None
    config : SyntheticConfig, optional

    Returns
    -------
    list of str, in PTB-XL's scp_codes order (diagnostic, form, rhythm statements).
    """
    cfg = config or SyntheticConfig()
    return sample_label_set(_as_rng(rng), cfg.prior_exponent, cfg.norm_probability, cfg.max_findings,
                            sparse=cfg.evidence == "sparse")


def _check_labels(labels: Iterable[str]) -> list[str]:
    if isinstance(labels, str):
        raise TypeError(f"labels must be a list of SCP codes, not the string {labels!r}; e.g. ['SR', 'IMI']")
    out = []
    for code in labels:
        try:
            statement(code)
        except KeyError as e:
            raise ValueError(e.args[0]) from None
        if code in NOT_SIMULATED:
            raise ValueError(f"label {code!r} is not simulated by the synthetic generator: {NOT_SIMULATED[code]}")
        if code not in out:
            out.append(code)
    problems = label_conflicts(out)
    if problems:
        raise ValueError(f"labels {out} cannot be rendered together: " + "; ".join(problems))
    return out


def _check_fs(fs, duration: float) -> int:
    if not isinstance(fs, (int, np.integer)) or fs < 50 or fs > 2000:
        raise ValueError(f"sampling rate fs={fs!r}: use an integer in 50-2000 Hz (PTB-XL: 100 or 500)")
    return int(fs)


def generate_record(labels: Iterable[str], fs: int = 100, rng=None, config: SyntheticConfig | None = None,
                    heart_rate: float | None = None) -> tuple[np.ndarray, dict[str, list[EvidenceSpan]]]:
    """Generate one 12-lead ECG showing exactly ``labels``.

    Parameters
    ----------
    labels : list of str
        SCP codes from :data:`SIMULATED_LABELS` that can co-occur. Without a rhythm label, sinus
        rhythm at 60-100/min is rendered (and not labelled).
    fs : int
        Sampling rate in Hz.
    rng : numpy Generator, int seed or None
        Source of randomness; the same seed gives the same record.
    config : SyntheticConfig, optional
    heart_rate : float, optional
        Mean rate (/min) of the dominant rhythm (the SVT run for PSVT, the escape rhythm for 3AVB);
        must lie in the range the rhythm label allows (e.g. SBRAD < 60).

    Returns
    -------
    signals : ndarray, shape (12, T), float32, mV, leads in :data:`protoecg_lib.labels.LEADS` order
        T = duration x fs.
    evidence : dict label -> list of EvidenceSpan
        For every label, the leads and time spans (s) that carry it (see :data:`LABEL_PHYSIOLOGY`).
    """
    cfg = config or SyntheticConfig()
    fs = _check_fs(fs, cfg.duration)
    codes = _check_labels(labels)
    plan = plan_record(codes, _as_rng(rng), cfg, heart_rate)
    return render_plan(plan, fs), _evidence_of(plan)


@dataclass(frozen=True)
class BeatAnatomy:
    """The beat template of one synthetic record and when its beats fall (what :func:`describe_beat` returns).

    Attributes
    ----------
    waves : DataFrame
        One row per Gaussian wave of the sinus P wave and of the conducted beat: ``wave``, ``segment``
        (``p``, ``sep``, ``qrs``, ``st``, ``t``, ...), ``relative_to`` (``"P centre"`` or ``"R peak"``),
        ``centre_ms``, ``width_ms`` (sigma) and ``peak_<lead>_mv`` on the eight independent leads
        I, II, V1-V6 (the other four follow from Einthoven's and Goldberger's relations).
    segments : dict
        ``"P"``, ``"QRS"``, ``"T"`` -> ``(relative_to, onset_s, offset_s)``: the segment's span as
        +-2.5 sigma of its waves, relative to the P centre or the R peak (how the evidence is written).
    p_times, r_times : ndarray, shape (n_beats,)
        P-wave centre and R peak of every beat of the record, in s (NaN where a beat has none).
    kinds : tuple of str
        Beat kinds (``'N'`` sinus conducted, ``'V'`` PVC, ``'A'`` PAC, ``'P'`` paced, ...).
    info : dict
        Record-level draws: heart rate (/min), QRS axis (degrees), PR and QTc (s), base rhythm, ...
    """

    waves: "object"
    segments: dict
    p_times: np.ndarray
    r_times: np.ndarray
    kinds: tuple
    info: dict


def describe_beat(labels: Iterable[str], rng=None, config: SyntheticConfig | None = None,
                  heart_rate: float | None = None) -> BeatAnatomy:
    """The waves and beat times behind ``generate_record(labels, rng=rng, ...)``, for teaching and checks.

    The same ``labels``, ``rng`` (seed or Generator, which is not advanced), ``config`` and
    ``heart_rate`` as :func:`generate_record` describe the record that call renders.

    Returns
    -------
    BeatAnatomy
    """
    import copy

    import pandas as pd

    from .knobs import conducted_template, record_knobs, sinus_p_template
    from .waves import CHANNELS, QRS_TAGS
    from .record import _Builder

    cfg = config or SyntheticConfig()
    codes = _check_labels(labels)
    gen = _as_rng(rng)
    plan = plan_record(codes, copy.deepcopy(gen), cfg, heart_rate)                # the record's own draws
    builder = _Builder(codes, copy.deepcopy(gen), cfg, heart_rate)                # the same draws, kept as waves
    record_knobs(builder)
    beat, p_wave = conducted_template(builder), sinus_p_template(builder)
    rows = []
    for tm, origin in ((p_wave, "P centre"), (beat, "R peak")):
        for i, name in enumerate(tm.names):
            peak = tm.channel_values(i, builder.geom)                             # (8,) mV
            rows.append({"wave": name, "segment": tm.tags[i], "relative_to": origin, "centre_ms": 1000 * tm.off[i],
                         "width_ms": 1000 * tm.sig[i], **{f"peak_{c}_mv": float(v) for c, v in zip(CHANNELS, peak)}})
    segments = {name: (origin, *span) for name, origin, span in (
        ("P", "P centre", p_wave.extent(("p",))), ("QRS", "R peak", beat.extent(QRS_TAGS)),
        ("T", "R peak", beat.extent(("t",)))) if span is not None}
    return BeatAnatomy(waves=pd.DataFrame(rows), segments=segments,
                       p_times=np.array([b.p for b in plan.beats], dtype=float),
                       r_times=np.array([b.r for b in plan.beats], dtype=float),
                       kinds=tuple(b.kind for b in plan.beats), info=dict(plan.info))


def record_rng(seed: int, index: int) -> np.random.Generator:
    """The random generator of record ``index`` (0-based) of a root written with ``seed``.

    ``rng = record_rng(seed, i); generate_record(sample_labels(rng), fs, rng)`` reproduces, in
    float precision, the signals and evidence of the root's i-th record (default config).
    """
    return np.random.default_rng((int(seed), 1, int(index)))
