"""The decoded-signal cache: every record of a root read once through wfdb, resampled and high-passed,
into one float32 ``.npy`` that later loads memory-map in seconds, and re-decoded when its files change.

The cache of one root and one set of options lives in ``$PROTOECG_CACHE/signals/<key>/``
(:func:`cache_key`: the root, the records, their files and order, the rates, the filter):
``signals.npy`` ``(N, 12, T)`` float32; ``identity.npy`` ``(N, 8)`` int64, the **identity** of each
row's ``.hea`` and ``.dat`` files (-1: check again); ``index.json``, the options and the error that
made a row unusable (by row).

A file's identity is ``(size, mtime_ns, ctime_ns, inode)`` from one ``stat`` call, not a hash: the
cache exists to make a reload take seconds, and hashing would read every record file on every load
(about 0.5 GB at 100 Hz, 2.6 GB at 500 Hz: as much I/O as decoding). The four numbers change when a
file is rewritten (re-downloaded, edited, truncated, restored with its old modification time: the
inode-change time ``ctime`` cannot be set back), so a reload after any change to a record file
re-decodes that record and never serves its old signal. The one blind spot of time stamps, a
same-size rewrite within one tick of the file system's clock, is closed as git closes it ("racily
clean" entries): a record whose files changed less than :data:`RACY_NS` before the load that cached
it is stored without an identity and checked again by the next load.

:func:`cached_signals` reuses every row whose identity matches, re-decodes the others **in place**
(their index entries are cleared first, so a process killed in the middle leaves them marked for the
next load), prints one line naming how many records changed, and removes partial files
(``signals.<pid>.part.npy``) left by processes that were killed while building a cache. Processes
share a folder under a file lock.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from ..files import atomic_write, atomic_write_json, file_lock, remove_stale_temporaries
from .metadata import DataError
from .preprocess import HIGHPASS_CUTOFF_HZ, HIGHPASS_ORDER, highpass
from .records import read_record, resample

__all__ = ["CACHE_VERSION", "RACY_NS", "cache_key", "file_identity", "cached_signals", "decode_rows"]

#: bump when the cache layout or the decoding changes, so old caches are not reused
CACHE_VERSION = 2
#: a record whose files changed less than this before the cache recorded them is checked again next time
#: (50 ms: five ticks of the coarsest Linux clock, HZ=100, that stamps file times)
RACY_NS = 50_000_000


def cache_key(root: Path, ecg_ids: np.ndarray, filenames: list[str], fs_read: int, fs: int, hp: bool,
              filename_col: str) -> str:
    """The cache folder's name: what the decoded rows and their order depend on (not the files' contents,
    which ``identity.npy`` tracks record by record)."""
    desc = {
        "version": CACHE_VERSION, "root": str(Path(root).resolve()),
        "ecg_ids": hashlib.sha256(np.asarray(ecg_ids, np.int64).tobytes()).hexdigest(),
        "filenames": hashlib.sha256("\n".join(filenames).encode("utf-8")).hexdigest(),
        "read_rate": fs_read, "rate": fs, "files": filename_col,
        "highpass": [HIGHPASS_ORDER, HIGHPASS_CUTOFF_HZ] if hp else None,
    }
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:20]


def file_identity(root: Path | str, filename: str) -> list[int] | None:
    """``[size, mtime_ns, ctime_ns, inode]`` of a record's ``.hea`` then ``.dat``; None when one is missing.

    One ``os.stat`` per file on plain strings (the full 100 Hz set: 43,598 calls on every load).
    """
    base = os.path.join(root, filename)
    out: list[int] = []
    for ext in (".hea", ".dat"):
        try:
            st = os.stat(base + ext)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        out += [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
    return out


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


def decode_rows(out: np.ndarray, rows: list[int], root: Path, filenames: list[str], fs_read: int, fs: int, hp: bool,
                num_workers: int, progress: bool) -> dict[int, str]:
    """Decode the records ``filenames[r]`` for ``r`` in ``rows`` into ``out[r]``; return ``{row: error}``."""
    from tqdm.auto import tqdm

    jobs = [(root, filenames[r], fs_read, fs, hp) for r in rows]
    errors: dict[int, str] = {}
    bar = tqdm(total=len(jobs), desc=f"decoding {root.name} @ {fs} Hz", unit="ecg", disable=not progress)
    if num_workers > 1 and len(jobs) > 256:
        with ProcessPoolExecutor(num_workers) as pool:
            for row, (sig, err) in zip(rows, pool.map(_decode_one, jobs, chunksize=64)):
                _store(out, row, sig, err, errors)
                bar.update()
    else:
        for row, job in zip(rows, jobs):
            sig, err = _decode_one(job)
            _store(out, row, sig, err, errors)
            bar.update()
    bar.close()
    return errors


def _store(out, row, sig, err, errors):
    if err is None and sig.shape != out.shape[1:]:
        err = f"decoded shape {sig.shape} != expected {out.shape[1:]}"
    if err is not None:
        errors[row] = err
        out[row] = 0.0
    else:
        out[row] = sig


def _read_index(folder: Path, n: int, shape: tuple[int, ...]) -> tuple[dict, np.ndarray] | None:
    """The folder's index and stored identities when they describe a complete signals file of this shape."""
    try:
        index = json.loads((folder / "index.json").read_text())
        stored = np.load(folder / "identity.npy")
        if index.get("version") != CACHE_VERSION or stored.shape != (n, 8):
            return None
        arr = np.load(folder / index["signals"], mmap_mode="r")
        return (index, stored) if arr.shape == shape and arr.dtype == np.float32 else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save_identity(folder: Path, identity: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(identity, dtype=np.int64))
    atomic_write(folder / "identity.npy", buf.getvalue())


def cached_signals(root: Path, ecg_ids, filenames: list[str], identities: np.ndarray, stat_time_ns: int, *,
                   fs_read: int, fs: int, hp: bool, filename_col: str, cache_root: Path, num_workers: int = 1,
                   progress: bool | None = None) -> tuple[np.ndarray, dict[int, str], Path]:
    """The decoded signals of ``filenames`` from the cache, decoding what is missing or changed.

    Parameters
    ----------
    root : Path
        The PTB-XL root.
    ecg_ids, filenames : sequences of length N
        The records in row order.
    identities : ndarray, shape (N, 8), int64
        :func:`file_identity` of each record, taken at ``stat_time_ns`` (``time.time_ns()``) before
        this call.
    fs_read, fs, hp, filename_col
        Rate read, rate kept, high-pass on/off, and the metadata column of the file names.
    cache_root : Path
        ``$PROTOECG_CACHE/signals`` or the caller's folder.

    Returns
    -------
    signals : ndarray, shape (N, 12, T), float32, read-only memory map
    errors : dict row -> message
        Records that could not be used (their rows hold zeros).
    path : Path
        The signals file.
    """
    root = Path(root)
    n, num_samples = len(filenames), int(round(10 * fs))
    shape = (n, 12, num_samples)
    identities = np.asarray(identities, dtype=np.int64).reshape(n, 8)
    folder = Path(cache_root) / cache_key(root, np.asarray(ecg_ids), list(filenames), fs_read, fs, hp, filename_col)
    folder.mkdir(parents=True, exist_ok=True)
    racy = (identities[:, [2, 6]] >= stat_time_ns - RACY_NS).any(axis=1)      # ctime of .hea or .dat: too recent
    current = np.where(racy[:, None], -1, identities)
    with file_lock(folder / "lock"):
        remove_stale_temporaries(folder, "*.part.npy")
        remove_stale_temporaries(folder)
        found = _read_index(folder, n, shape)
        t0 = time.perf_counter()
        if found is None:   # build the file: decode every record into a partial file, rename at the end
            tmp = folder / f"signals.{os.getpid()}.part.npy"
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
            errors = decode_rows(out, list(range(n)), root, filenames, fs_read, fs, hp, max(1, num_workers),
                                 progress if progress is not None else n > 2000)
            out.flush()
            del out
            os.replace(tmp, folder / "signals.npy")
            _write_index(folder, errors, root, fs_read, fs, hp, time.perf_counter() - t0)
            _save_identity(folder, current)
        else:
            index, stored = found
            unverified = (stored == -1).any(axis=1)
            changed = np.flatnonzero(unverified | (stored != identities).any(axis=1))
            errors = {int(r): e for r, e in index.get("errors", {}).items()}
            if len(changed):
                # rows written moments before the last load are decoded again quietly (routine: a root just
                # written, e.g. the synthetic one); only a record whose trusted identity differs is news
                moved = int((~unverified[changed]).sum())
                if moved:
                    print(f"protoecg: {moved} of {n} record(s) of {root} changed since they were cached; "
                          f"re-decoding {'it' if moved == 1 else 'them'} into {folder}", file=sys.stderr, flush=True)
                cleared = stored.copy()
                cleared[changed] = -1          # a process killed from here on leaves these rows to check again
                _save_identity(folder, cleared)
                for r in changed.tolist():
                    errors.pop(r, None)
                out = np.load(folder / index["signals"], mmap_mode="r+")
                errors.update(decode_rows(out, changed.tolist(), root, filenames, fs_read, fs, hp,
                                          max(1, num_workers), progress if progress is not None else len(changed) > 2000))
                out.flush()
                del out
                _write_index(folder, errors, root, fs_read, fs, hp, time.perf_counter() - t0)
                _save_identity(folder, current)
    path = folder / "signals.npy"
    return np.load(path, mmap_mode="r"), errors, path


def _write_index(folder: Path, errors: dict[int, str], root: Path, fs_read: int, fs: int, hp: bool,
                 seconds: float) -> None:
    atomic_write_json(folder / "index.json", {
        "version": CACHE_VERSION, "signals": "signals.npy", "root": str(Path(root).resolve()), "rate": fs,
        "read_rate": fs_read, "highpass": hp, "decode_seconds": round(seconds, 3),
        "identity": "identity.npy: size, mtime_ns, ctime_ns, inode of .hea then .dat per row (-1: check again)",
        "errors": {str(r): e for r, e in sorted(errors.items())},
    }, indent=None)
