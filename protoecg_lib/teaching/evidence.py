"""What the chapters on localisation share: the small sparse synthetic run, and the committed
full-size measurements (chapters 4, 8, 10, "Do the prototypes point at the evidence?" and 11).

The chapters run in CI on two CPU cores, so they measure on a *small* sparse-tier root with a fast
run trained once and cached (:func:`sparse_run`); the full-size numbers (1,500 records, several
training seeds) are too slow for CI and are read from a committed file (:func:`full_size_measurements`),
which records the command, the commit and the date that produced them.
"""
from __future__ import annotations

import json
from pathlib import Path

__all__ = ["SPARSE_RECORDS", "sparse_run", "full_size_measurements", "MEASUREMENTS_FILE"]

#: Records of the chapters' sparse synthetic root (the full-size measurements use 1,500).
SPARSE_RECORDS = 500
#: The committed full-size measurements, in the repository's ``book/data``.
MEASUREMENTS_FILE = Path(__file__).resolve().parents[2] / "book" / "data" / "evidence_quality.json"


def sparse_run(num_records: int = SPARSE_RECORDS, seed: int = 0, *, local_windows: bool = False, verbose: bool = False):
    """A sparse-tier synthetic root and a fast pipeline run on it (no baseline), both cached.

    Parameters
    ----------
    num_records : int
        Size of the root (``synthetic_root(num_records, evidence='sparse')``).
    local_windows : bool
        The local-prototype variant of the morphology branch instead of the standard one.

    Returns
    -------
    (Path, Run)
        The root and the finished run (trained once per root and configuration, then loaded from
        ``$PROTOECG_CACHE/runs``; the fast preset in every mode, as a check of the mechanism).
    """
    from ..synthetic import synthetic_root
    from ..training import cached_run
    from ..training.config import pipeline_config

    root = synthetic_root(int(num_records), seed=seed, evidence="sparse")
    config = pipeline_config("fast", baseline=False, local_windows=local_windows)
    return root, cached_run(root, config=config, verbose=verbose)


def full_size_measurements(path: str | Path | None = None) -> dict:
    """The committed full-size measurements: ``{"provenance": {"command", "commit", "date", ...}, ...}``.

    Raises
    ------
    FileNotFoundError
        Naming the file, when it is missing (an installed package without the book's data).
    """
    path = Path(path) if path is not None else MEASUREMENTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the full-size measurements ship with the book's repository "
                                "(book/data/evidence_quality.json); run the chapter from a clone")
    return json.loads(path.read_text())
