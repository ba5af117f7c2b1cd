"""Synthetic PTB-XL: 12-lead ECGs with known labels and known evidence, in PTB-XL's own layout.

Why: the book and the tests must run anywhere, offline, in seconds; and a dataset where we *know*
where the evidence for each label sits lets us measure whether prototypes point at the right thing.

How (numpy only; details in the private modules ``_synth_model`` (leads, waves, rendering),
``_synth_rhythm`` (beat schedules, f/flutter waves, noise), ``_synth_knobs`` (what each label
changes), ``_synth_record`` (one record and its evidence), ``_synth_labels`` (label table,
co-occurrence) and ``_synth_write`` (WFDB and metadata files)):

* a beat model in the spirit of ECGSYN -- P, Q, R, S, T (and R', delta, ST, U, pacing spike) as
  Gaussians placed relative to each beat's R time, with amplitudes from a cardiac dipole
  projected on the leads plus lead-group-specific local terms; limb leads obey Einthoven's and
  Goldberger's relations exactly; precordial R-wave progression comes from the dipole geometry;
* rhythms as beat schedules (sinus with respiratory HRV, premature beats, AV blocks, atrial
  fibrillation with f waves, flutter with saw-tooth waves, SVT, pacing, AV dissociation);
* noise per electrode: baseline wander, EMG, 50 Hz mains (500 Hz only: PTB-XL's 100 Hz records
  are anti-aliased, so a 50 Hz alias would be a fabrication);
* each label is a knob with recognisable physiology; :data:`LABEL_PHYSIOLOGY` says what every
  simulated statement does and where its evidence lies, :data:`NOT_SIMULATED` which statements
  never appear (``TAB_``, ``PRC(S)``) and why;
* labels are drawn by :func:`sample_labels` from a small generative scheme with PTB-XL-like
  (tempered) priors and consistent exclusions, so the label co-occurrence has PTB-XL's structure;
* :func:`write_synthetic_root` writes a PTB-XL root (WFDB records, ``ptbxl_database.csv`` with the
  real columns, ``scp_statements.csv``, ``RECORDS``) plus ``synthetic_evidence.json`` (per record
  and label: lead names and sample spans in seconds) and, last, the ``synthetic.json`` marker.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from .. import settings
from ..labels import LABEL_SETS, LEADS, statement
from ._synth_labels import (LABEL_PHYSIOLOGY, NOT_SIMULATED, SIMULATED_LABELS, label_conflicts,
                            sample_label_set)
from ._synth_record import plan_record, render_plan
from ._synth_write import (PTBXL_COLUMNS, SUFFIX, metadata_table, record_path, to_digital, write_scp_statements,
                           write_wfdb_fast, write_wfdb_lib)

__all__ = [
    "SyntheticConfig", "EvidenceSpan", "TIERS", "GENERATOR_VERSION", "MARKER", "EVIDENCE_FILE",
    "LABEL_PHYSIOLOGY", "NOT_SIMULATED", "SIMULATED_LABELS", "PTBXL_COLUMNS",
    "sample_labels", "generate_record", "describe_beat", "BeatAnatomy", "record_rng", "write_synthetic_root", "synthetic_root", "read_marker",
    "load_evidence", "evidence_mask",
]

#: Bumped whenever the same seed would give different data; cached roots of another version are rebuilt.
GENERATOR_VERSION = "1.1"
#: Dataset sizes by name for :func:`synthetic_root`.
TIERS = {"tiny": 40, "default": 1500}
MARKER = "synthetic.json"
EVIDENCE_FILE = "synthetic_evidence.json"
_LEAD_INDEX = {name.upper(): i for i, name in enumerate(LEADS)}


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
        if self.first_ecg_id <= 21837:
            raise ValueError(f"SyntheticConfig.first_ecg_id={self.first_ecg_id} overlaps PTB-XL's ids (1-21837); "
                             "use a larger number such as 900001")


@dataclass(frozen=True)
class EvidenceSpan:
    """Where evidence for a label lies: lead names and a time span in seconds (valid at any fs)."""

    leads: tuple[str, ...]
    start: float
    end: float

    def to_dict(self) -> dict:
        return {"leads": list(self.leads), "start": self.start, "end": self.end}

    @classmethod
    def from_dict(cls, d: Mapping) -> "EvidenceSpan":
        return cls(tuple(d["leads"]), float(d["start"]), float(d["end"]))


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
    return sample_label_set(_as_rng(rng), cfg.prior_exponent, cfg.norm_probability, cfg.max_findings)


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

    from ._synth_knobs import conducted_template, record_knobs, sinus_p_template
    from ._synth_model import CHANNELS, QRS_TAGS
    from ._synth_record import _Builder

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


def _evidence_of(plan) -> dict[str, list[EvidenceSpan]]:
    return {label: [EvidenceSpan(tuple(leads), float(s), float(e)) for leads, s, e in spans]
            for label, spans in plan.evidence.items()}


def read_marker(root: str | Path) -> dict | None:
    """The ``synthetic.json`` marker of a complete synthetic root, or None (not synthetic / incomplete)."""
    path = Path(root) / MARKER
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None


def _marker_matches(marker: dict | None, num_records: int, seed: int, rates, cfg: SyntheticConfig) -> bool:
    return (marker is not None and marker.get("version") == GENERATOR_VERSION
            and marker.get("num_records") == num_records and marker.get("seed") == seed
            and set(rates) <= set(marker.get("sampling_rates", ())) and marker.get("config") == asdict(cfg))


def write_synthetic_root(root: str | Path, num_records: int, seed: int = 0, sampling_rates=(100,),
                         overwrite: bool = False, config: SyntheticConfig | None = None,
                         _if_exists: str | None = None) -> Path:
    """Write a synthetic dataset laid out as a PTB-XL root and return its path.

    Parameters
    ----------
    root : path
        Folder to create. The data are written into a hidden sibling folder first and moved into
        place at the end, with ``synthetic.json`` written last, so an interrupted run never leaves
        something that looks complete.
    num_records : int
        Number of records (ecg_id from ``config.first_ecg_id``).
    seed : int
        Same seed, same bytes (records, csv, evidence, marker). Record ``i`` depends only on
        ``(seed, i)``, so a smaller dataset is a prefix of a larger one (except folds/patients).
    sampling_rates : tuple of {100, 500}
        Which of ``records100`` (``_lr``) / ``records500`` (``_hr``) to write.
    overwrite : bool
        Replace an existing synthetic root at ``root`` (a folder without ``synthetic.json`` is
        never deleted).
    config : SyntheticConfig, optional

    Returns
    -------
    Path of the root.
    """
    cfg = config or SyntheticConfig()
    root = Path(root).expanduser()
    if not isinstance(num_records, (int, np.integer)) or num_records < 1:
        raise ValueError(f"num_records={num_records!r}: give a positive integer")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed={seed!r}: give a non-negative integer")
    rates = tuple(sorted({int(r) for r in sampling_rates}))
    if not rates or set(rates) - set(SUFFIX):
        raise ValueError(f"sampling_rates={sampling_rates!r}: PTB-XL roots hold 100 and/or 500 Hz records")
    if_exists = _if_exists or ("replace" if overwrite else "error")
    if root.exists() and any(root.iterdir()):
        if if_exists == "error":
            raise FileExistsError(f"{root} exists and is not empty; pass overwrite=True (CLI: --overwrite) to "
                                  "replace a synthetic root, or choose another folder")
        if read_marker(root) is None and not (root / EVIDENCE_FILE).exists():
            raise FileExistsError(f"{root} is not a synthetic root (no {MARKER}); refusing to delete it")
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        _write_contents(tmp, int(num_records), int(seed), rates, cfg)
        _move_into_place(tmp, root, if_exists, lambda: _marker_matches(read_marker(root), num_records, seed, rates, cfg))
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def _move_into_place(tmp: Path, root: Path, if_exists: str, existing_ok) -> None:
    if root.exists() and not any(root.iterdir()):
        root.rmdir()
    if root.exists():
        if if_exists == "keep" and existing_ok():
            return
        trash = root.parent / f".{root.name}.old-{uuid.uuid4().hex[:8]}"
        root.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
    try:
        tmp.rename(root)
    except OSError:
        if not (if_exists == "keep" and existing_ok()):   # another process finished first
            raise


def _write_contents(root: Path, num_records: int, seed: int, rates: tuple[int, ...], cfg: SyntheticConfig) -> None:
    writer = write_wfdb_fast if cfg.writer == "fast" else write_wfdb_lib
    ids, labels, infos, noise_flags, evidence = [], [], [], [], {}
    made_dirs: set[Path] = set()
    for i in range(num_records):
        rng = record_rng(seed, i)
        eid = cfg.first_ecg_id + i
        codes = sample_labels(rng, cfg)
        plan = plan_record(codes, rng, cfg)
        for fs in rates:
            path = root / record_path(eid, fs)
            if path.parent not in made_dirs:
                path.parent.mkdir(parents=True, exist_ok=True)
                made_dirs.add(path.parent)
            writer(path, to_digital(render_plan(plan, fs)), fs)
        ids.append(eid)
        labels.append(codes)
        infos.append(plan.info)
        noise_flags.append((bool(rng.random() < 0.15), bool(rng.random() < 0.15)))
        evidence[str(eid)] = {label: [EvidenceSpan(tuple(l), s, e).to_dict() for l, s, e in spans]
                              for label, spans in plan.evidence.items()}
    meta = metadata_table(ids, labels, infos, np.random.default_rng((seed, 0)), noise_flags)
    meta.to_csv(root / "ptbxl_database.csv", index=False)
    write_scp_statements(root / "scp_statements.csv")
    (root / "RECORDS").write_text("".join(f"{record_path(e, fs)}\n" for fs in rates for e in ids))
    (root / EVIDENCE_FILE).write_text(json.dumps(evidence, separators=(",", ":")))
    present = sorted({c for ls in labels for c in ls}, key=LABEL_SETS["all"].index)
    marker = {"generator": "protoecg_lib.data.synthetic", "version": GENERATOR_VERSION, "seed": seed,
              "num_records": num_records, "sampling_rates": list(rates), "duration_s": cfg.duration,
              "first_ecg_id": cfg.first_ecg_id, "labels_simulated": list(SIMULATED_LABELS),
              "labels_not_simulated": NOT_SIMULATED, "labels_present": present, "config": asdict(cfg)}
    (root / MARKER).write_text(json.dumps(marker, indent=1) + "\n")           # written last


def synthetic_root(tier: str | int = "default", seed: int = 0, cache: str | Path | None = None,
                   sampling_rates=(100,)) -> Path:
    """A synthetic root of a named size, or of any number of records, generated once into the cache and reused.

    Parameters
    ----------
    tier : {'tiny', 'default'} or int
        Size from :data:`TIERS` (40 or 1500 records), or a number of records (a smaller root is a
        prefix of a larger one: ecg_ids from 900001).
    seed : int
    cache : path, optional
        Cache base folder; default ``PROTOECG_CACHE`` (see :mod:`protoecg_lib.settings`). The root
        is ``<cache>/synthetic/<tier>-<seed>`` (``n<records>-<seed>`` for a number).
    sampling_rates : tuple of {100, 500}

    Returns
    -------
    Path of a complete root (checked through its ``synthetic.json`` marker; rebuilt when the
    generator version changed or a rate is missing).
    """
    if isinstance(tier, (int, np.integer)) and not isinstance(tier, bool):
        if tier < 1:
            raise ValueError(f"synthetic_root: num_records={tier!r}; give a positive number of records")
        num_records, name = int(tier), f"n{int(tier)}-{seed}"
    elif isinstance(tier, str) and tier in TIERS:
        num_records, name = TIERS[tier], f"{tier}-{seed}"
    else:
        raise ValueError(f"unknown synthetic tier {tier!r}; choose one of {sorted(TIERS)} or give a number of "
                         "records (num_records), e.g. synthetic_root(500)")
    if cache is None:
        root = settings.cache_dir("synthetic", name, create=False)
    else:
        root = Path(cache).expanduser() / "synthetic" / name
    cfg = SyntheticConfig()
    marker = read_marker(root)
    rates = tuple(sorted(set(sampling_rates)))
    if _marker_matches(marker, num_records, seed, rates, cfg):
        return root
    if marker is not None and marker.get("version") == GENERATOR_VERSION:
        rates = tuple(sorted(set(rates) | set(marker.get("sampling_rates", ()))))
    return write_synthetic_root(root, num_records, seed=seed, sampling_rates=rates, config=cfg, _if_exists="keep")


# ---- evidence -------------------------------------------------------------------------------------

def load_evidence(root: str | Path) -> dict[int, dict[str, list[EvidenceSpan]]]:
    """Read ``synthetic_evidence.json``: ecg_id -> label -> list of :class:`EvidenceSpan`."""
    path = Path(root) / EVIDENCE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {root} is not a synthetic root (only synthetic data carry "
                                "ground-truth evidence); generate one with write_synthetic_root or synthetic_root")
    raw = json.loads(path.read_text())
    return {int(eid): {label: [EvidenceSpan.from_dict(s) for s in spans] for label, spans in per.items()}
            for eid, per in raw.items()}


def evidence_mask(spans: Iterable[EvidenceSpan | Mapping], fs: float, num_samples: int) -> np.ndarray:
    """Boolean mask of where evidence lies.

    Parameters
    ----------
    spans : iterable of EvidenceSpan (or dicts with leads/start/end)
    fs : float
        Sampling rate of the signal the mask is for.
    num_samples : int
        T.

    Returns
    -------
    ndarray, shape (12, T), bool: True on the span's leads from sample floor(start fs) up to,
    not including, ceil(end fs) (clipped to the record).
    """
    mask = np.zeros((12, num_samples), dtype=bool)
    for span in spans:
        if isinstance(span, Mapping):
            span = EvidenceSpan.from_dict(span)
        try:
            rows = [_LEAD_INDEX[name.upper()] for name in span.leads]
        except KeyError as e:
            raise ValueError(f"unknown lead name {e.args[0]!r} in evidence span; leads are {LEADS}") from None
        a = max(0, int(np.floor(span.start * fs + 1e-9)))       # tolerate 9.95 * 100 = 994.999...
        b = min(num_samples, int(np.ceil(span.end * fs - 1e-9)))
        if b > a:
            mask[np.ix_(rows, np.arange(a, b))] = True
    return mask
