"""A PTB-XL root, loaded: record table, cached signals, targets per label set, splits.

``load_ptbxl(root)`` reads the metadata, finds which listed records are on disk (a partial download
or the mini excerpt works on what is there and says how many were skipped; ``strict=True``
refuses), decodes every record once through ``wfdb`` into a float32 memory-mapped cache
(:mod:`protoecg_lib.data.cache`: one per root, rate and preprocessing; a record is decoded again when
its files change), checks each record's physiological sanity as it is decoded
(:mod:`protoecg_lib.data.sanity`), and serves the splits as views of that cache.

The cache stores records ordered by split (train, val, test, unused), then by ``ecg_id``, so every
split is a contiguous slice of the memory map: loading the full 100 Hz set a second time takes
seconds and needs no second copy in memory.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import settings
from ..labels import check_statements_csv, label_set
from .cache import cached_signals, file_identity
from .checksums import verify_root_metadata
from .metadata import DEFAULT_FOLDS, DataError, FoldMapping, read_metadata, targets_from_codes
from .preprocess import LeadStandardizer

__all__ = ["PTBXL", "Split", "load_ptbxl", "SPLITS", "FULL_NUM_RECORDS"]

SPLITS = ("train", "val", "test")
#: number of records in the full PTB-XL v1.0.3
FULL_NUM_RECORDS = 21_799
_SPLIT_ORDER = {"train": 0, "val": 1, "test": 2, "unused": 3}


@dataclass
class Split:
    """One split of one label set: what a model trains or is evaluated on.

    Attributes
    ----------
    signals : ndarray, shape (N, 12, T), float32, mV (a read-only view of the cache)
    targets : ndarray, shape (N, C), float32 multi-hot in ``labels`` order
    ecg_id, patient_id : ndarray, shape (N,)
    labels : tuple of SCP codes (the label set)
    fs : sampling rate of ``signals`` in Hz
    codes : tuple of tuples of str, optional
        Every SCP code of each record (all 71 statements, not only ``labels``), in row order.
    """

    name: str
    signals: np.ndarray
    targets: np.ndarray
    ecg_id: np.ndarray
    patient_id: np.ndarray
    labels: tuple[str, ...]
    fs: int
    codes: tuple[tuple[str, ...], ...] | None = None

    def __len__(self) -> int:
        return len(self.ecg_id)

    def head(self, n: int) -> "Split":
        """The first ``n`` records as a new split (signals copied into memory)."""
        return Split(self.name, np.array(self.signals[:n]), self.targets[:n], self.ecg_id[:n], self.patient_id[:n],
                     self.labels, self.fs, None if self.codes is None else self.codes[:n])

    def class_weights(self, formula: str = "official") -> np.ndarray:
        """Positive-class weights ``(C,)`` of this split's targets (method §1.5); use the training split."""
        from ..cooccurrence import class_weights

        return class_weights(self.targets, formula=formula)

    def cooccurrence(self) -> np.ndarray:
        """The Jaccard label co-occurrence ``(C, C)`` of this split's targets (method §1.7)."""
        from ..cooccurrence import jaccard

        return jaccard(self.targets)

    def record_codes(self, row: int) -> tuple[str, ...]:
        """All SCP codes of the record in ``row`` (the split's own labels when ``codes`` is unknown)."""
        if self.codes is not None:
            return tuple(self.codes[row])
        return tuple(c for c, y in zip(self.labels, self.targets[row]) if y > 0)

    def tensors(self):
        """``(signals, targets)`` as torch tensors in memory (one copy of the split)."""
        import torch

        return torch.from_numpy(np.array(self.signals, dtype=np.float32)), torch.from_numpy(self.targets.copy())


@dataclass
class PTBXL:
    """A loaded PTB-XL root. Build it with :func:`load_ptbxl`."""

    root: Path
    records: pd.DataFrame          # usable records, in cache order (split, then ecg_id)
    signals: np.ndarray            # (N, 12, T) float32 memmap, preprocessed
    fs: int
    source: str                    # 'full' | 'subset' | 'synthetic'
    skipped: pd.DataFrame          # ecg_id, reason: listed records that were left out
    options: dict
    statement_problems: list[str] = field(default_factory=list)
    checksums: dict | None = None
    standardizer: LeadStandardizer | None = None
    cache_path: Path | None = None

    # ------------------------------------------------------------------ basic views
    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        counts = self.records["split"].value_counts()
        parts = ", ".join(f"{s} {int(counts.get(s, 0))}" for s in SPLITS)
        return (f"PTBXL({str(self.root)!r}, {self.source}, {len(self)} records at {self.fs} Hz: {parts}; "
                f"{len(self.skipped)} skipped)")

    def indices(self, split: str) -> slice:
        """The rows of ``split`` as a slice of :attr:`records` / :attr:`signals`."""
        if split not in _SPLIT_ORDER:
            raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
        rows = np.flatnonzero(self.records["split"].to_numpy() == split)
        if len(rows) == 0:
            return slice(0, 0)
        return slice(int(rows[0]), int(rows[-1]) + 1)  # contiguous by construction of the cache order

    def targets(self, labels: str | tuple[str, ...] = "all", split: str | None = None) -> np.ndarray:
        """Multi-hot targets ``(N, C)`` float32 for a label set, for all records or one split."""
        recs = self.records if split is None else self.records.iloc[self.indices(split)]
        return targets_from_codes(recs["codes"].tolist(), labels)

    def split(self, name: str, labels: str | tuple[str, ...] = "all") -> Split:
        """The signals, targets and ids of one split for one label set (method §1.3)."""
        rows = self.indices(name)
        signals = self.signals[rows]
        if self.standardizer is not None:
            signals = self.standardizer.transform(signals)
        recs = self.records.iloc[rows]
        codes = label_set(labels) if isinstance(labels, str) else tuple(labels)
        return Split(name=name, signals=signals, targets=targets_from_codes(recs["codes"].tolist(), codes),
                     ecg_id=recs["ecg_id"].to_numpy(), patient_id=recs["patient_id"].to_numpy(),
                     labels=codes, fs=self.fs, codes=tuple(tuple(c) for c in recs["codes"]))

    def signal(self, ecg_id: int) -> np.ndarray:
        """The preprocessed signals ``(12, T)`` of one record."""
        try:
            row = self.records.index.get_loc(int(ecg_id))
        except KeyError:
            raise KeyError(f"ecg_id {ecg_id} is not among the {len(self)} loaded records of {self.root}") from None
        sig = np.asarray(self.signals[row])
        return self.standardizer.transform(sig[None])[0] if self.standardizer is not None else sig

    def class_weights(self, labels: str | tuple[str, ...] = "all", formula: str = "official") -> np.ndarray:
        """Positive-class weights for the weighted BCE, from training labels only (method §1.5)."""
        return self.split("train", labels).class_weights(formula)

    def cooccurrence(self, labels: str | tuple[str, ...] = "all") -> np.ndarray:
        """The Jaccard label co-occurrence matrix ``(C, C)`` from training labels only (method §1.7)."""
        return self.split("train", labels).cooccurrence()


# ---------------------------------------------------------------------- loading

def _detect_source(root: Path, records: pd.DataFrame, num_listed: int, num_skipped: int) -> str:
    if (root / "synthetic.json").is_file():
        return "synthetic"
    device = records["device"].astype(str) if "device" in records else pd.Series([], dtype=str)
    if len(device) and device.str.startswith("synthetic").all():
        return "synthetic"
    return "full" if num_listed == FULL_NUM_RECORDS and num_skipped == 0 else "subset"


def load_ptbxl(
    root: str | Path | None = None,
    sampling_rate: int = 100,
    *,
    target_rate: int | None = None,
    highpass: bool = True,
    standardize: bool = False,
    strict: bool = False,
    on_bad_record: str = "raise",
    likelihood_threshold: float = 0.0,
    folds: FoldMapping | dict | None = None,
    unknown_codes: str = "error",
    cache: str | Path | None = None,
    num_workers: int = 1,
    progress: bool | None = None,
) -> PTBXL:
    """Load a PTB-XL root (method §1).

    Parameters
    ----------
    root : path, optional
        Folder holding ``ptbxl_database.csv`` and ``records100``/``records500`` (PhysioNet's layout).
        When None: ``PROTOECG_DATA``, else :func:`protoecg_lib.data.resolve_root`'s choice.
    sampling_rate : {100, 500}
        Which records to read: ``records100`` (``filename_lr``) or ``records500`` (``filename_hr``).
    target_rate : int, optional
        Resample to this rate after reading (e.g. 500 -> 100 Hz).
    highpass : bool
        Remove baseline wander with the 0.5 Hz first-order zero-phase high-pass (method §1.2; on by default).
    standardize : bool
        Per-lead z-scoring with training-split statistics (off by default, method §1.2).
    strict : bool
        Refuse a root whose metadata lists records that are not on disk (default: work on the records
        present and report how many were skipped).
    on_bad_record : {'raise', 'skip'}
        A record that is present but broken (truncated, wrong leads or rate, NaN) or physiologically
        implausible (:func:`protoecg_lib.data.sanity.check_record`: outside PTB-XL's ADC range, a
        saturated block, a flat lead, amplitudes of other units): raise an error naming the record,
        the lead and the value, or skip it with one warning that counts them.
    likelihood_threshold, folds, unknown_codes
        See :func:`protoecg_lib.data.metadata.read_metadata`.
    cache : path, optional
        Cache folder (default ``$PROTOECG_CACHE/signals``).
    num_workers : int
        Processes used to decode records the first time (the full dataset decodes in about a minute).
    progress : bool, optional
        Show a progress bar while decoding (default: when more than 2,000 records are decoded).
    """
    if root is None:
        from .resolve import resolve_root

        root = resolve_root()
    root = Path(root).expanduser()
    if sampling_rate not in (100, 500):
        raise ValueError(f"sampling_rate must be 100 (records100) or 500 (records500), not {sampling_rate}")
    if target_rate is not None and (isinstance(target_rate, bool) or int(target_rate) != target_rate
                                    or target_rate <= 0):
        raise ValueError(f"target_rate must be a rate in Hz above 0 (or None), not {target_rate!r}")
    if on_bad_record not in ("raise", "skip"):
        raise ValueError(f"on_bad_record must be 'raise' or 'skip', not {on_bad_record!r}")
    fs = int(target_rate or sampling_rate)
    filename_col = "filename_lr" if sampling_rate == 100 else "filename_hr"

    meta = read_metadata(root, folds=folds, likelihood_threshold=likelihood_threshold, unknown_codes=unknown_codes)
    problems = []
    stmts = root / "scp_statements.csv"
    if stmts.is_file():
        problems = check_statements_csv(stmts)
        if problems:
            warnings.warn("scp_statements.csv disagrees with the built-in PTB-XL v1.0.3 table "
                          "(the built-in table is used):\n  " + "\n  ".join(problems), stacklevel=2)

    # which listed records are on disk, and the identity of their files (the cache's key per record)
    stat_time_ns = time.time_ns()
    identities = [file_identity(str(root), f) if isinstance(f, str) else None for f in meta[filename_col]]
    present = np.array([ident is not None for ident in identities], dtype=bool)
    skipped = pd.DataFrame({"ecg_id": meta.loc[~present, "ecg_id"].to_numpy(),
                            "reason": f"not on disk ({filename_col})"})
    if strict and (~present).any():
        first = meta.loc[~present, filename_col].head(3).tolist()
        raise DataError(f"{root}: {int((~present).sum())} of {len(meta)} records listed in ptbxl_database.csv are "
                        f"not on disk (e.g. {first}). Finish the download with `protoecg data download "
                        f"--root {root}`, or load with strict=False to use the records present.")
    if present.sum() == 0:
        raise DataError(f"{root}: none of the {len(meta)} records listed in ptbxl_database.csv is on disk at "
                        f"{sampling_rate} Hz ({filename_col}). Download them with `protoecg data download "
                        f"--root {root} --sampling-rate {sampling_rate}`.")
    if (~present).any():
        warnings.warn(f"{root}: {int((~present).sum())} of {len(meta)} listed records are not on disk at "
                      f"{sampling_rate} Hz and were skipped (strict=True refuses such a root).", stacklevel=2)

    recs = meta.loc[present].copy()
    recs["_position"] = np.flatnonzero(present)
    recs["_order"] = recs["split"].map(_SPLIT_ORDER)
    recs = recs.sort_values(["_order", "ecg_id"]).drop(columns="_order")
    identity = np.array([identities[p] for p in recs.pop("_position")], dtype=np.int64).reshape(len(recs), 8)
    cache_root = Path(cache).expanduser() if cache is not None else settings.cache_dir("signals")
    signals, errors, sig_path = cached_signals(
        root, recs["ecg_id"].to_numpy(), recs[filename_col].tolist(), identity, stat_time_ns,
        fs_read=sampling_rate, fs=fs, hp=highpass, filename_col=filename_col, cache_root=cache_root,
        num_workers=max(1, num_workers), progress=progress)

    bad = {int(recs["ecg_id"].iloc[row]): err for row, err in sorted(errors.items())}
    if bad:
        first_id, first = next(iter(bad.items()))
        if on_bad_record == "raise":
            more = f" ({len(bad)} bad record(s) in total)" if len(bad) > 1 else ""
            raise DataError(f"ecg_id {first_id}: {first}{more} Pass on_bad_record='skip' (--skip-bad on the command "
                            "line) to leave broken records out.")
        warnings.warn(f"{root}: skipped {len(bad)} broken record(s), e.g. ecg_id {first_id}: {first}", stacklevel=2)
        keep = ~recs["ecg_id"].isin(list(bad)).to_numpy()
        signals = signals[np.flatnonzero(keep)]  # a copy of the kept rows only
        recs = recs.loc[keep]
        skipped = pd.concat([skipped, pd.DataFrame({"ecg_id": list(bad), "reason": list(bad.values())})],
                            ignore_index=True)

    source = _detect_source(root, meta, len(meta), int((~present).sum()))
    checksums = verify_root_metadata(root, source)
    if checksums and checksums["ok"] is False:
        bad_files = [f for f, ok in checksums["files"].items() if not ok]
        warnings.warn(f"{root}: {', '.join(bad_files)} do(es) not match the {checksums['reference']} checksums; "
                      "the files were modified or are another PTB-XL version. Re-download them.", stacklevel=2)

    ds = PTBXL(root=root, records=recs, signals=signals, fs=fs, source=source, skipped=skipped,
               options=dict(sampling_rate=sampling_rate, target_rate=target_rate, highpass=highpass,
                            standardize=standardize, strict=strict, on_bad_record=on_bad_record,
                            unknown_codes=unknown_codes, likelihood_threshold=likelihood_threshold,
                            folds=(folds if isinstance(folds, dict) else (folds or DEFAULT_FOLDS).__dict__)),
               statement_problems=problems, checksums=checksums, cache_path=sig_path)
    if standardize:
        ds.standardizer = LeadStandardizer.fit(signals[ds.indices("train")])
    return ds
