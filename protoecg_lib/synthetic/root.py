"""Synthetic PTB-XL: 12-lead ECGs with known labels and known evidence, in PTB-XL's own layout.

Why: the book and the tests must run anywhere, offline, in seconds; and a dataset where we *know*
where the evidence for each label sits lets us measure whether prototypes point at the right thing.

How (numpy only; the package's modules: ``waves`` (leads, waves, rendering), ``rhythm`` (beat
schedules, f/flutter waves, noise), ``knobs`` (what each label changes), ``record`` (one record and
its evidence), ``findings`` (label table, co-occurrence), ``generate`` (labels and one record),
``evidence`` (evidence spans), ``writer`` (WFDB and metadata files) and this module (a whole root)):

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
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .. import settings
from ..labels import LABEL_SETS
from .findings import EPISODIC_LABELS, NOT_SIMULATED, SIMULATED_LABELS
from .record import plan_record, render_plan
from .writer import (SUFFIX, metadata_table, record_path, to_digital, write_scp_statements,
                           write_wfdb_fast, write_wfdb_lib)
from .evidence import EVIDENCE_FILE, EvidenceSpan
from .generate import SyntheticConfig, record_rng, sample_labels

__all__ = ["TIERS", "GENERATOR_VERSION", "MARKER", "write_synthetic_root", "synthetic_root", "read_marker"]


#: Bumped whenever the same seed would give different data; cached roots of another version are rebuilt.
GENERATOR_VERSION = "1.1"
#: Dataset sizes by name for :func:`synthetic_root`.
TIERS = {"tiny": 40, "default": 1500}
MARKER = "synthetic.json"


def read_marker(root: str | Path) -> dict | None:
    """The ``synthetic.json`` marker of a complete synthetic root, or None (not synthetic / incomplete)."""
    path = Path(root) / MARKER
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None


def _config_dict(cfg: SyntheticConfig) -> dict:
    """The config as written into the marker; ``evidence`` only when not ``'default'`` (byte-identical roots)."""
    d = asdict(cfg)
    if d["evidence"] == "default":
        del d["evidence"]
    return d


def _marker_matches(marker: dict | None, num_records: int, seed: int, rates, cfg: SyntheticConfig) -> bool:
    return (marker is not None and marker.get("version") == GENERATOR_VERSION
            and marker.get("num_records") == num_records and marker.get("seed") == seed
            and set(rates) <= set(marker.get("sampling_rates", ())) and marker.get("config") == _config_dict(cfg))


def write_synthetic_root(root: str | Path, num_records: int, seed: int = 0, sampling_rates=(100,),
                         overwrite: bool = False, config: SyntheticConfig | None = None,
                         evidence: str | None = None, _if_exists: str | None = None) -> Path:
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
    evidence : {'default', 'sparse'}, optional
        Evidence tier; overrides ``config.evidence`` when given (CLI ``--evidence``). A sparse
        root's marker carries ``"evidence": "sparse"`` and ``"episodic_labels"``.

    Returns
    -------
    Path of the root.
    """
    cfg = config or SyntheticConfig()
    if evidence is not None:
        cfg = SyntheticConfig(**{**asdict(cfg), "evidence": evidence})
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
    marker = {"generator": "protoecg_lib.synthetic", "version": GENERATOR_VERSION, "seed": seed,
              "num_records": num_records, "sampling_rates": list(rates), "duration_s": cfg.duration,
              "first_ecg_id": cfg.first_ecg_id, "labels_simulated": list(SIMULATED_LABELS),
              "labels_not_simulated": NOT_SIMULATED, "labels_present": present, "config": _config_dict(cfg)}
    if cfg.evidence != "default":
        marker["evidence"] = cfg.evidence
        marker["episodic_labels"] = [c for c in EPISODIC_LABELS if c in present]
    (root / MARKER).write_text(json.dumps(marker, indent=1) + "\n")           # written last


def synthetic_root(tier: str | int = "default", seed: int = 0, cache: str | Path | None = None,
                   sampling_rates=(100,), evidence: str = "default") -> Path:
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
    evidence : {'default', 'sparse'}
        Evidence tier; a sparse root is cached as ``<name>-sparse``.

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
    if evidence != "default":
        name = f"{name}-{evidence}"
    if cache is None:
        root = settings.cache_dir("synthetic", name, create=False)
    else:
        root = Path(cache).expanduser() / "synthetic" / name
    cfg = SyntheticConfig(evidence=evidence)
    marker = read_marker(root)
    rates = tuple(sorted(set(sampling_rates)))
    if _marker_matches(marker, num_records, seed, rates, cfg):
        return root
    if marker is not None and marker.get("version") == GENERATOR_VERSION:
        rates = tuple(sorted(set(rates) | set(marker.get("sampling_rates", ()))))
    return write_synthetic_root(root, num_records, seed=seed, sampling_rates=rates, config=cfg, _if_exists="keep")
