"""Download PTB-XL v1.0.3 from PhysioNet: the full set from its single zip, a subset file by file.

Sizes (spec §1.1: ProtoECGNet reads the 100 Hz records, ``filename_lr``): one 100 Hz record is
24,000 bytes of samples (12 leads x 1,000 samples x 2 bytes, WFDB format 16) plus a header of about
600 bytes, 24,604 bytes on average over the 488 records of the excerpt; so the 21,799 records at
100 Hz take about 0.54 GB and 2,000 records about 50 MB. A 500 Hz record takes 120,609 bytes
(2.6 GB for the set). PhysioNet's zip holds both rates and the metadata in about 1.7 GB
(PhysioNet's figure; deflating the excerpt's records gives ratios of 0.71 at 100 Hz and 0.59 at
500 Hz, which predicts 1.9 GB).

How (``method``):

* ``'zip'`` (the default for ``subset='full'``): :mod:`~protoecg_lib.data.download_zip` -- one
  resumable request for the archive, then the metadata and one rate's records unpacked and each
  verified against PhysioNet's ``SHA256SUMS.txt``;
* ``'files'`` (the default for a subset of N records): :mod:`~protoecg_lib.data.download_files` --
  one resumable, verified request per file, on a small thread pool.

Both go through :class:`~protoecg_lib.data.fetcher.Fetcher` (``.part`` files, Range resume, SHA-256,
retries with back-off), so running the download again resumes it, and both end by writing
``protoecg_download.json``, the marker of a finished download.
"""
from __future__ import annotations

import json
import os
import threading
import time
import urllib.parse
from pathlib import Path

from .. import settings
from .checksums import verify_official_metadata
from .download_files import RECORD_COLUMN, download_files
from .download_zip import PHYSIONET_ZIP_URL, ZIP_NAME, download_zip
from .fetcher import ChecksumError, DownloadError, DownloadReport, Fetcher

__all__ = ["PHYSIONET_URL", "PHYSIONET_ZIP_URL", "ZIP_NAME", "RECORD_BYTES", "DownloadError", "ChecksumError",
           "DownloadReport", "download_ptbxl", "download_size"]

#: PhysioNet's URL of PTB-XL v1.0.3 (the folder that holds ``ptbxl_database.csv``).
PHYSIONET_URL = "https://physionet.org/files/ptb-xl/1.0.3/"
#: Mean bytes per record (header + signal file), measured on the excerpt's 488 (100 Hz) and 48 (500 Hz) records.
RECORD_BYTES = {100: 24_604, 500: 120_609}
#: PhysioNet's zip of v1.0.3 (both rates and the metadata), in bytes (PhysioNet's "1.7 GB").
ZIP_BYTES = 1.7e9
MANIFEST_FILE = "protoecg_download.json"
METHODS = ("auto", "zip", "files")


def download_size(sampling_rate: int = 100, subset: int | str = "full", method: str = "auto") -> str:
    """What a download transfers, in words (``'about 0.54 GB'``, ``'about 50 MB'``)."""
    if _method(method, subset) == "zip":
        return f"about {ZIP_BYTES / 1e9:.1f} GB (the zip, both rates; {sampling_rate} Hz records kept)"
    n = 21_799 if subset == "full" else int(subset)
    size = n * RECORD_BYTES[sampling_rate]
    return f"about {size / 1e9:.2f} GB" if size >= 1e9 / 2 else f"about {size / 1e6:.0f} MB"


def _method(method: str, subset) -> str:
    if method not in METHODS:
        raise ValueError(f"method={method!r}: choose 'auto' (zip for the full set, files for a subset), 'zip' or 'files'")
    if method == "zip" and subset != "full":
        raise ValueError(f"method='zip' downloads the full set; subset={subset!r} is fetched with method='files'")
    return ("zip" if subset == "full" else "files") if method == "auto" else method


def _check_args(sampling_rate, subset, base_url, retries, backoff, timeout, workers) -> None:
    if sampling_rate not in RECORD_COLUMN:
        raise ValueError(f"sampling_rate={sampling_rate!r}: PTB-XL has records at 100 or 500 Hz only")
    if isinstance(subset, bool) or not (subset == "full" or (isinstance(subset, int) and subset >= 1)):
        raise ValueError(f"subset={subset!r}: pass 'full' or a positive number of records")
    if urllib.parse.urlsplit(base_url).scheme not in ("http", "https"):
        raise ValueError(f"base_url={base_url!r}: give an http(s) URL of the folder that holds "
                         f"ptbxl_database.csv, e.g. {PHYSIONET_URL}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries={retries!r}: pass a whole number >= 0")
    if backoff < 0 or timeout <= 0 or workers < 1:
        raise ValueError(f"backoff={backoff!r}, timeout={timeout!r}, workers={workers!r}: "
                         "need backoff >= 0, timeout > 0 and workers >= 1")


def download_ptbxl(root: str | os.PathLike, sampling_rate: int = 100, subset: int | str = "full",
                   base_url: str | None = None, retries: int = 5, backoff: float = 1.0,
                   timeout: float = 30, progress: bool = True, strict: bool = True,
                   workers: int = 8, method: str = "auto", zip_url: str | None = None,
                   keep_zip: bool = False) -> DownloadReport:
    """Download PTB-XL (metadata and the records of one sampling rate) into ``root``.

    Running it again resumes an interrupted download: verified files are skipped, ``.part``
    files (the zip included) are continued. Spec §1.1 (PTB-XL v1.0.3, 100 Hz records).

    Parameters
    ----------
    root : path
        Folder to download into (created); it becomes a PTB-XL root for ``load_ptbxl``.
    sampling_rate : {100, 500}
        Which records: ``records100/..._lr`` (``filename_lr``) or ``records500/..._hr``.
    subset : 'full' or int
        ``'full'``: all records; ``N``: the first ``N`` records in ``ecg_id`` order (the whole
        ``ptbxl_database.csv`` is still downloaded, so it lists records that are not present).
    base_url : str, optional
        http(s) folder holding ``ptbxl_database.csv`` and ``SHA256SUMS.txt`` (default:
        ``PROTOECG_PHYSIONET_URL`` or PhysioNet).
    retries : int
        Extra attempts per file after a connection error, time-out, HTTP 5xx/408/429 or checksum
        mismatch; waits ``backoff * 2**k`` seconds (at most 60) before attempt ``k + 1``.
    timeout : float
        Seconds of socket inactivity before an attempt is abandoned.
    progress : bool
        Show tqdm progress bars.
    strict : bool
        Per-file method: a file without an entry in ``SHA256SUMS.txt`` (or no such list on the
        server) is an error when True, a warning when False. The zip method is always strict.
    workers : int
        Parallel downloads for the records (per-file method).
    method : {'auto', 'zip', 'files'}
        ``'auto'``: the zip for ``subset='full'``, one request per file for a subset.
    zip_url : str, optional
        Where the zip is (default: PhysioNet's link, or ``base_url + ZIP_NAME`` for a mirror).
    keep_zip : bool
        Keep the archive after unpacking (it is deleted by default).

    Returns
    -------
    DownloadReport
        Counts of fetched/skipped/resumed/unpacked files, retries, bytes, seconds; ``print`` it.

    Raises
    ------
    DownloadError
        A file could not be fetched (HTTP 4xx, retries spent); names the URL, says what to do and
        carries ``.report``. No new record downloads start after the first failure.
    ChecksumError
        A file kept arriving corrupt; names the file and both hashes.
    """
    base_url = base_url or settings.physionet_url()
    _check_args(sampling_rate, subset, base_url, retries, backoff, timeout, workers)
    how = _method(method, subset)
    base_url = base_url if base_url.endswith("/") else base_url + "/"
    root = Path(root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    report = DownloadReport(root=root, sampling_rate=sampling_rate, method=how)
    fetcher = Fetcher(root, base_url, report, retries, backoff, timeout, threading.Event(),
                      hint=f"check --base-url (PTB-XL v1.0.3 lives at {PHYSIONET_URL})")
    start = time.perf_counter()
    try:
        if how == "zip":
            download_zip(fetcher, root, sampling_rate, progress, zip_url=zip_url, keep_zip=keep_zip)
        else:
            download_files(fetcher, root, sampling_rate, subset, strict, progress, workers)
    except DownloadError as err:
        err.report = report
        if not report.failures:
            report.failures.append(str(err))
        raise
    finally:
        report.seconds = time.perf_counter() - start
    report.official_v103 = verify_official_metadata(root)
    _write_manifest(root, base_url, sampling_rate, subset, report)
    return report


def _write_manifest(root: Path, base_url: str, sampling_rate: int, subset, report: DownloadReport) -> None:
    """Record what the last complete download holds (read by the data loader if it wishes)."""
    from ..files import atomic_write_text

    manifest = {"base_url": base_url, "sampling_rate": sampling_rate, "subset": subset, "method": report.method,
                "num_records": report.num_records, "complete": True,
                "official_v103": report.official_v103,
                "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    atomic_write_text(root / MANIFEST_FILE, json.dumps(manifest, indent=2) + "\n")
