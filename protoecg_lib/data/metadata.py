"""PTB-XL metadata: ``ptbxl_database.csv`` -> a record table with parsed labels and splits.

Method §1.1, §1.3, §1.4. A statement counts as positive when its code is a key of ``scp_codes``,
whatever its likelihood (PTB-XL gives likelihood 0 to many form and rhythm statements), unless a
``likelihood_threshold`` above 0 is asked for.
"""
from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..labels import LABEL_SETS, STATEMENTS, label_set

__all__ = [
    "DataError", "FoldMapping", "DEFAULT_FOLDS", "REQUIRED_COLUMNS",
    "read_metadata", "parse_scp_codes", "targets_from_codes",
]

#: Columns the loader needs in ``ptbxl_database.csv``.
REQUIRED_COLUMNS = ("ecg_id", "patient_id", "age", "sex", "scp_codes", "strat_fold", "filename_lr", "filename_hr")

_KNOWN_CODES = frozenset(s.code for s in STATEMENTS)


class DataError(ValueError):
    """A problem with a dataset on disk: the message names the file and says what to do."""


@dataclass(frozen=True)
class FoldMapping:
    """Which ``strat_fold`` values make up each split (method §1.3: 1-8 train, 9 val, 10 test)."""

    train: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)
    val: tuple[int, ...] = (9,)
    test: tuple[int, ...] = (10,)

    def __post_init__(self):
        seen: dict[int, str] = {}
        for name in ("train", "val", "test"):
            for fold in getattr(self, name):
                if fold in seen:
                    raise ValueError(f"fold {fold} is assigned to both {seen[fold]!r} and {name!r}")
                seen[fold] = name

    def split_of(self, fold: int) -> str:
        """``'train'``, ``'val'``, ``'test'`` or ``'unused'`` for one fold number."""
        for name in ("train", "val", "test"):
            if fold in getattr(self, name):
                return name
        return "unused"

    @classmethod
    def from_dict(cls, mapping: dict) -> "FoldMapping":
        return cls(**{k: tuple(int(f) for f in v) for k, v in mapping.items()})


DEFAULT_FOLDS = FoldMapping()


def parse_scp_codes(text: str, *, where: str = "") -> dict[str, float]:
    """Parse one ``scp_codes`` cell (a Python dict literal such as ``"{'NORM': 100.0, 'SR': 0.0}"``).

    Raises
    ------
    DataError
        When the cell is not a dict of code -> likelihood; ``where`` names the file and row.
    """
    try:
        value = ast.literal_eval(text) if isinstance(text, str) else None
    except (ValueError, SyntaxError):
        value = None
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise DataError(
            f"{where}: cannot parse scp_codes {text!r}; expected a dict such as "
            "\"{'NORM': 100.0, 'SR': 0.0}\". Fix the cell or re-download ptbxl_database.csv."
        )
    try:
        return {k: float(v) for k, v in value.items()}
    except (TypeError, ValueError):
        raise DataError(f"{where}: scp_codes {text!r} has a likelihood that is not a number") from None


def read_metadata(
    root: str | Path,
    *,
    folds: FoldMapping | dict | None = None,
    likelihood_threshold: float = 0.0,
    unknown_codes: str = "error",
) -> pd.DataFrame:
    """Read ``ptbxl_database.csv`` into a record table indexed by ``ecg_id``.

    Parameters
    ----------
    root : path
        A PTB-XL root (full download, excerpt, partial download or synthetic root).
    folds : FoldMapping or dict, optional
        Which ``strat_fold`` values form train/val/test (default 1-8 / 9 / 10).
    likelihood_threshold : float
        A code counts as positive when its likelihood is >= this value. The default 0 counts every
        listed code (method §1.4).
    unknown_codes : {'error', 'skip'}
        What to do with an SCP code outside the 71 statements: raise, or drop it with one warning
        that counts the occurrences.

    Returns
    -------
    DataFrame indexed by ``ecg_id`` with the CSV's columns plus ``codes`` (tuple of positive codes,
    in ``scp_statements`` order), ``split``, ``age_over_89`` (PTB-XL stores ages above 89 as 300;
    such ages become NaN here) and ``patient_id`` as int.
    """
    root = Path(root)
    if not root.exists():
        raise DataError(f"dataset root {root} does not exist. Pass the folder that holds "
                        "ptbxl_database.csv, or download PTB-XL with `protoecg data download --root DIR`.")
    path = root / "ptbxl_database.csv"
    if not path.is_file():
        raise DataError(f"{path} not found: {root} is not a PTB-XL root. Point to the folder that holds "
                        "ptbxl_database.csv (PhysioNet layout), or run `protoecg data download --root DIR`.")
    if unknown_codes not in ("error", "skip"):
        raise ValueError(f"unknown_codes must be 'error' or 'skip', not {unknown_codes!r}")
    folds = FoldMapping.from_dict(folds) if isinstance(folds, dict) else (folds or DEFAULT_FOLDS)
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV ({exc}). Re-download the file.") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; is this PTB-XL's ptbxl_database.csv?")
    if df["ecg_id"].duplicated().any():
        dup = df.loc[df["ecg_id"].duplicated(), "ecg_id"].tolist()[:5]
        raise DataError(f"{path}: duplicate ecg_id(s) {dup}")
    if df["strat_fold"].isna().any():
        bad = df.loc[df["strat_fold"].isna(), "ecg_id"].tolist()[:5]
        raise DataError(f"{path}: strat_fold is empty for ecg_id {bad}")

    order = {c: i for i, c in enumerate(LABEL_SETS["all"])}
    codes_col, unknown = [], {}
    for ecg_id, cell in zip(df["ecg_id"], df["scp_codes"]):
        parsed = parse_scp_codes(cell, where=f"{path}, ecg_id {ecg_id}")
        keep = []
        for code, likelihood in parsed.items():
            if code not in _KNOWN_CODES:
                if unknown_codes == "error":
                    raise DataError(
                        f"{path}, ecg_id {ecg_id}: unknown SCP code {code!r} (not one of PTB-XL's 71 "
                        "statements). Fix the file, or pass unknown_codes='skip' (--unknown-codes skip on the command "
                        "line) to drop such codes.")
                unknown[code] = unknown.get(code, 0) + 1
                continue
            if likelihood >= likelihood_threshold:
                keep.append(code)
        codes_col.append(tuple(sorted(keep, key=order.__getitem__)))
    if unknown:
        warnings.warn(f"{path}: dropped {sum(unknown.values())} occurrence(s) of unknown SCP code(s) "
                      f"{dict(sorted(unknown.items()))}", stacklevel=2)

    df = df.copy()
    df["codes"] = codes_col
    df["ecg_id"] = df["ecg_id"].astype(int)
    df["patient_id"] = df["patient_id"].astype("int64")
    df["strat_fold"] = df["strat_fold"].astype(int)
    df["age_over_89"] = df["age"] == 300
    df.loc[df["age_over_89"], "age"] = np.nan
    df["split"] = [folds.split_of(f) for f in df["strat_fold"]]
    return df.set_index("ecg_id", drop=False).rename_axis(None)


def targets_from_codes(codes, labels: str | tuple[str, ...] = "all") -> np.ndarray:
    """Multi-hot targets ``(N, C)`` float32 for a sequence of code tuples and a label set."""
    labels = label_set(labels) if isinstance(labels, str) else tuple(labels)
    col = {c: i for i, c in enumerate(labels)}
    out = np.zeros((len(codes), len(labels)), dtype=np.float32)
    for row, cs in enumerate(codes):
        for c in cs:
            j = col.get(c)
            if j is not None:
                out[row, j] = 1.0
    return out
