"""The decoded-signal cache: every record of a root read once through wfdb, resampled and high-passed,
into one float32 ``.npy`` that later loads memory-map in seconds.

The cache file lives in ``$PROTOECG_CACHE/signals/<key>/``; :func:`cache_key` names it from what the
decoded signals depend on. :func:`decode_into_cache` fills it (in worker processes for large roots),
writing a ``.part`` file renamed into place at the end.
"""
from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from .metadata import DataError
from .preprocess import HIGHPASS_CUTOFF_HZ, HIGHPASS_ORDER, highpass
from .records import read_record, resample

__all__ = ["CACHE_VERSION", "cache_key", "decode_into_cache"]


#: bump when the cache layout or the decoding changes, so old caches are not reused
CACHE_VERSION = 1


def cache_key(root: Path, csv_sha: str, ecg_ids: np.ndarray, fs_read: int, fs: int, hp: bool, filename_col: str) -> str:
    desc = {
        "version": CACHE_VERSION, "root": str(root.resolve()), "metadata_sha256": csv_sha,
        "ecg_ids": hashlib.sha256(np.asarray(ecg_ids, np.int64).tobytes()).hexdigest(),
        "read_rate": fs_read, "rate": fs, "files": filename_col,
        "highpass": [HIGHPASS_ORDER, HIGHPASS_CUTOFF_HZ] if hp else None,
    }
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:20]


def _decode_one(args):
    root, filename, fs_read, fs, hp = args
    try:
        sig = read_record(root, filename, expected_fs=fs_read)
    except DataError as exc:
        return None, str(exc)
    sig = resample(sig, fs_read, fs)
    if hp:
        sig = highpass(sig, fs)
    return sig, None


def decode_into_cache(root: Path, filenames: list[str], fs_read: int, fs: int, hp: bool, path: Path,
                       num_workers: int, progress: bool) -> list[tuple[int, str]]:
    """Decode records into ``path`` (a .npy memmap); return (row, error) for records that failed."""
    from tqdm.auto import tqdm

    num_samples = int(round(10 * fs))
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.part.npy")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(filenames), 12, num_samples))
    jobs = [(root, f, fs_read, fs, hp) for f in filenames]
    errors: list[tuple[int, str]] = []
    bar = tqdm(total=len(jobs), desc=f"decoding {root.name} @ {fs} Hz", unit="ecg", disable=not progress)
    if num_workers > 1 and len(jobs) > 256:
        with ProcessPoolExecutor(num_workers) as pool:
            results = pool.map(_decode_one, jobs, chunksize=64)
            for row, (sig, err) in enumerate(results):
                _store(out, row, sig, err, errors)
                bar.update()
    else:
        for row, job in enumerate(jobs):
            sig, err = _decode_one(job)
            _store(out, row, sig, err, errors)
            bar.update()
    bar.close()
    out.flush()
    del out
    os.replace(tmp, path)
    return errors


def _store(out, row, sig, err, errors):
    if err is not None:
        errors.append((row, err))
    elif sig.shape != out.shape[1:]:
        errors.append((row, f"decoded shape {sig.shape} != expected {out.shape[1:]}"))
    else:
        out[row] = sig
