"""Download PTB-XL v1.0.3 from PhysioNet: the full set from its single zip, a subset file by file.

Sizes (method §1.1: ProtoECGNet reads the 100 Hz records, ``filename_lr``): one 100 Hz record is
24,000 bytes of samples (12 leads x 1,000 samples x 2 bytes, WFDB format 16) plus a header of about
600 bytes, 24,604 bytes on average over the 488 records of the excerpt; so the 21,799 records at
100 Hz take about 0.54 GB and 2,000 records about 50 MB. A 500 Hz record takes 120,609 bytes
(2.6 GB for the set). PhysioNet's zip holds both rates and the metadata in about 1.7 GB
(PhysioNet's figure; deflating the excerpt's records gives ratios of 0.71 at 100 Hz and 0.59 at
500 Hz, which predicts 1.9 GB). ``method``: ``'zip'`` (the default for ``subset='full'``) is
:mod:`~protoecg_lib.data.download_zip` -- one resumable request for the archive, then the metadata
and one rate's records unpacked, each verified against ``SHA256SUMS.txt``; ``'files'`` (the default
for a subset) is what follows.

The records of one sampling rate (method §1.1: ProtoECGNet reads the 100 Hz records named by the
``filename_lr`` column) are fetched one file at a time over plain HTTP(S) by
:class:`~protoecg_lib.data.fetch.Fetcher` (``.part`` files, Range resume, retries with back-off),
each checked against PhysioNet's ``SHA256SUMS.txt`` (lines ``<sha256>  <relative path>``) before
it gets its final name. A file already present with the right checksum is skipped, so running the
download again resumes it. A record file that keeps failing does not stop the others: the end of the
download raises one :class:`DownloadError` that counts and names the failed files and gives the
command that retries them (the other files are complete and verified). Only when
:data:`_GIVE_UP_AFTER` record files in a row fail (the server or the network is gone) are no more
started.

Order of the requests: ``SHA256SUMS.txt`` first (every later file is verified before it gets its
final name, which needs the list), then the metadata (``ptbxl_database.csv``,
``scp_statements.csv``, and ``RECORDS``, ``LICENSE.txt`` and the change logs when the checksum list
names them), then the records, in ``ecg_id`` order, on a small thread pool.
"""
from __future__ import annotations

import csv
import os
import shlex
import threading
import time
import urllib.parse
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .. import settings
from ..files import atomic_write_json
from .checksums import SUMS_FILE, ChecksumListError, parse_sha256sums, safe_relpath, verify_official_metadata
from .fetch import ChecksumError, DownloadError, Fetcher, NotOnServer

__all__ = ["PHYSIONET_URL", "RECORD_BYTES", "ZIP_NAME", "DownloadError", "ChecksumError", "DownloadReport",
           "download_ptbxl", "download_size"]

#: PhysioNet's URL of PTB-XL v1.0.3 (the folder that holds ``ptbxl_database.csv``).
PHYSIONET_URL = "https://physionet.org/files/ptb-xl/1.0.3/"

MANIFEST_FILE = "protoecg_download.json"
_REQUIRED_METADATA = ("ptbxl_database.csv", "scp_statements.csv")
_OPTIONAL_METADATA = ("RECORDS", "LICENSE.txt", "ptbxl_v102_changelog.txt", "ptbxl_v103_changelog.txt")
_RECORD_COLUMN = {100: "filename_lr", 500: "filename_hr"}
#: record files failing in a row (none fetched in between) after which no more are started
_GIVE_UP_AFTER = 20
#: Mean bytes per record (header + signal file), measured on the excerpt's 488 (100 Hz) and 48 (500 Hz) records.
RECORD_BYTES = {100: 24_604, 500: 120_609}
#: PhysioNet's zip of v1.0.3 (both rates and the metadata): its file name, and its size (PhysioNet's "1.7 GB").
ZIP_NAME = "ptb-xl-a-large-publicly-available-electrocardiography-dataset-1.0.3.zip"
ZIP_BYTES = 1.7e9
METHODS = ("auto", "zip", "files")


def download_size(sampling_rate: int = 100, subset: int | str = "full", method: str = "auto") -> str:
    """What a download transfers, in words (``'about 0.54 GB'``, ``'about 49 MB'``)."""
    if _method(method, subset) == "zip":
        return f"about {ZIP_BYTES / 1e9:.1f} GB (the zip, both rates; {sampling_rate} Hz records kept)"
    size = (21_799 if subset == "full" else int(subset)) * RECORD_BYTES[sampling_rate]
    return f"about {size / 1e9:.2f} GB" if size >= 1e9 / 2 else f"about {size / 1e6:.0f} MB"


def _method(method: str, subset) -> str:
    if method not in METHODS:
        raise ValueError(f"method={method!r}: choose 'auto' (zip for the full set, files for a subset), 'zip' or "
                         "'files'")
    if method == "zip" and subset != "full":
        raise ValueError(f"method='zip' downloads the full set; subset={subset!r} is fetched with method='files'")
    return ("zip" if subset == "full" else "files") if method == "auto" else method


@dataclass
class DownloadReport:
    """What one :func:`download_ptbxl` call did.

    ``fetched`` counts files downloaded and verified (``resumed`` of them continued a ``.part``
    file with a Range request), ``skipped`` files already present and verified, ``retried`` the
    extra attempts after transient failures, ``bytes`` the bytes received, ``failures`` one message
    per file that could not be downloaded, ``failed_files`` their paths relative to the root,
    ``not_started`` record files left alone after the download gave up, ``method`` ``'files'`` or
    ``'zip'`` (then ``unpacked`` files came out of the archive, each verified), ``official_v103`` the
    result of :func:`verify_official_metadata` after the download.
    """

    root: Path
    sampling_rate: int
    method: str = "files"
    unpacked: int = 0
    num_records: int = 0
    fetched: int = 0
    skipped: int = 0
    resumed: int = 0
    retried: int = 0
    bytes: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    failed_files: list[str] = field(default_factory=list)
    not_started: int = 0
    missing_optional: list[str] = field(default_factory=list)
    official_v103: dict[str, bool | None] = field(default_factory=dict)

    def __str__(self) -> str:
        rate = self.bytes / self.seconds / 1e6 if self.seconds > 0 else 0.0
        lines = [
            f"PTB-XL download into {self.root} ({self.sampling_rate} Hz, {self.num_records} records)",
            f"  fetched   {self.fetched} files ({self.resumed} resumed), "
            f"{self.bytes / 1e6:.1f} MB in {self.seconds:.1f} s ({rate:.1f} MB/s)"
            + (f"; {self.unpacked} files unpacked from the zip and verified" if self.method == "zip" else ""),
            f"  skipped   {self.skipped} files already present and verified",
            f"  retried   {self.retried} attempts",
            f"  failures  {len(self.failures) or 'none'}",
        ]
        lines += [f"    - {msg}" for msg in self.failures[:5]]
        if len(self.failures) > 5:
            lines.append(f"    ... and {len(self.failures) - 5} more")
        if self.not_started:
            lines.append(f"  not started {self.not_started} record files (the download gave up)")
        if self.missing_optional:
            lines.append(f"  not on server (optional): {', '.join(self.missing_optional)}")
        if self.official_v103:
            words = {True: "matches", False: "differs", None: "absent"}
            state = ", ".join(f"{name} {words[ok]}" for name, ok in self.official_v103.items())
            lines.append(f"  official v1.0.3 metadata: {state}")
        return "\n".join(lines)


def _check_args(sampling_rate, subset, base_url, retries, backoff, timeout, workers) -> None:
    if sampling_rate not in _RECORD_COLUMN:
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


def _record_files(database_csv: Path, sampling_rate: int, subset: int | str) -> tuple[list[str], int]:
    """Record files (``.hea``, ``.dat``) of the first ``subset`` records in ecg_id order."""
    column = _RECORD_COLUMN[sampling_rate]
    with open(database_csv, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"ecg_id", column} - set(reader.fieldnames or ())
        if missing:
            raise DownloadError(f"{database_csv}: no column(s) {sorted(missing)}; this is not PTB-XL's "
                                "ptbxl_database.csv, delete it and check --base-url")
        rows = sorted((int(float(row["ecg_id"])), row[column]) for row in reader)
    if subset != "full" and subset > len(rows):
        warnings.warn(f"subset={subset} but {database_csv.name} lists {len(rows)} records; "
                      "downloading all of them", UserWarning, stacklevel=3)
    chosen = rows if subset == "full" else rows[:subset]
    files = [safe_relpath(f"{name}{ext}", database_csv.name) for _, name in chosen for ext in (".hea", ".dat")]
    return files, len(chosen)


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="file", disable=not enabled, leave=enabled)


def download_ptbxl(root: str | os.PathLike, sampling_rate: int = 100, subset: int | str = "full",
                   base_url: str | None = None, retries: int = 5, backoff: float = 1.0,
                   timeout: float = 30, progress: bool = True, strict: bool = True,
                   workers: int = 8, method: str = "auto", zip_url: str | None = None,
                   keep_zip: bool = False) -> DownloadReport:
    """Download PTB-XL (metadata and the records of one sampling rate) into ``root``.

    Running it again resumes an interrupted download: verified files are skipped, ``.part``
    files are continued. Method §1.1 (PTB-XL v1.0.3, 100 Hz records).

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
        A file without an entry in ``SHA256SUMS.txt`` (or no such list on the server) is an error
        when True; when False it is a warning and the file is taken unverified.
    workers : int
        Parallel downloads for the records (metadata is fetched one file at a time).
    method : {'auto', 'zip', 'files'}
        ``'auto'``: PhysioNet's zip for ``subset='full'`` (always strict), one request per file for a subset.
    zip_url : str, optional
        Where the zip is (default: PhysioNet's link, or ``base_url + ZIP_NAME`` for a mirror).
    keep_zip : bool
        Keep the archive after unpacking (deleted by default).

    Returns
    -------
    DownloadReport
        Counts of fetched/skipped/resumed files, retries, bytes, seconds; ``print`` it.

    Raises
    ------
    DownloadError
        Metadata could not be fetched (names the URL and says what to do), or some record files
        could not (raised after every other record file was tried: counts and names the failed
        files and gives the command that retries them). Carries ``.report``.
    ChecksumError
        The metadata, or the only failed record file, kept arriving corrupt; names the file and both
        hashes.
    """
    base_url = base_url or settings.physionet_url()
    _check_args(sampling_rate, subset, base_url, retries, backoff, timeout, workers)
    how = _method(method, subset)
    base_url = base_url if base_url.endswith("/") else base_url + "/"
    root = Path(root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    report = DownloadReport(root=root, sampling_rate=sampling_rate, method=how)
    stop = threading.Event()
    fetcher = Fetcher(root, base_url, report, retries, backoff, timeout, stop,
                      hint=f"; check the server address (PTB-XL v1.0.3 lives at {PHYSIONET_URL})")
    retry = ["protoecg", "data", "download", "--root", str(root), "--sampling-rate", str(sampling_rate)]
    retry += ([] if subset == "full" else ["--subset", str(subset)])
    retry += ([] if base_url == PHYSIONET_URL else ["--base-url", base_url])
    retry += (["--method", "files"] if how == "files" and subset == "full" else [])
    start = time.perf_counter()
    try:
        if how == "zip":
            from .download_zip import download_zip

            download_zip(fetcher, root, sampling_rate, progress, zip_url=zip_url, keep_zip=keep_zip)
        else:
            _download(fetcher, root, sampling_rate, subset, strict, progress, workers, shlex.join(retry))
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


def _download(fetcher: Fetcher, root: Path, sampling_rate: int, subset, strict: bool,
              progress: bool, workers: int, retry: str) -> None:
    report = fetcher.report
    sums_url = fetcher.url(SUMS_FILE)
    sums: dict[str, str] | None = None
    with _progress(1 + len(_REQUIRED_METADATA) + len(_OPTIONAL_METADATA), "PTB-XL metadata", progress) as bar:
        try:
            sums = _fetch_sums(fetcher, root)
        except (NotOnServer, ChecksumListError) as err:   # the server answers, but has no usable list
            if strict:
                raise DownloadError(f"{err} Without {SUMS_FILE} ({sums_url}) nothing can be verified; "
                                    "pass strict=False to download unverified files.") from None
            warnings.warn(f"no usable {SUMS_FILE} at {sums_url}; downloading WITHOUT checksum "
                          "verification (strict=False)", UserWarning, stacklevel=3)
        bar.update(1)
        for rel in _REQUIRED_METADATA + _OPTIONAL_METADATA:
            optional = rel in _OPTIONAL_METADATA
            if sums is not None and rel not in sums and optional:
                bar.update(1)  # the release does not have it: nothing to fetch
                continue
            expected = _expected(rel, sums, strict)
            if fetcher.fetch(rel, expected, optional=optional) == "missing":
                report.missing_optional.append(rel)
            bar.update(1)
    files, report.num_records = _record_files(root / "ptbxl_database.csv", sampling_rate, subset)
    unlisted = [rel for rel in files if sums is not None and rel not in sums]
    if unlisted:
        message = (f"{len(unlisted)} record file(s) have no entry in {SUMS_FILE}, e.g. "
                   f"{', '.join(unlisted[:3])}")
        if strict:
            raise DownloadError(f"{message}; the checksum list does not match ptbxl_database.csv "
                                "(check --base-url), or pass strict=False to take them unverified")
        warnings.warn(f"{message}; taking them unverified (strict=False)", UserWarning, stacklevel=3)
    _fetch_records(fetcher, files, sums or {}, sampling_rate, progress, workers, retry)


def _fetch_sums(fetcher: Fetcher, root: Path) -> dict[str, str]:
    """Fetch (or reuse) and parse the checksum list; a damaged copy is fetched once more."""
    path = root / SUMS_FILE
    for attempt in range(2):
        fetcher.fetch(SUMS_FILE, expected=None)
        try:
            return parse_sha256sums(path.read_text(encoding="utf-8", errors="replace"), str(path))
        except ChecksumListError:
            path.unlink()
            if attempt:
                raise
    raise AssertionError("unreachable")


def _expected(rel: str, sums: dict[str, str] | None, strict: bool) -> str | None:
    if sums is None or rel in sums:
        return None if sums is None else sums[rel]
    if strict:
        raise DownloadError(f"{rel} has no entry in {SUMS_FILE}; check --base-url, or pass "
                            "strict=False to take it unverified")
    warnings.warn(f"{rel} has no entry in {SUMS_FILE}; taking it unverified", UserWarning, stacklevel=4)
    return None


def _fetch_records(fetcher: Fetcher, files: list[str], sums: dict[str, str], sampling_rate: int,
                   progress: bool, workers: int, retry: str) -> None:
    """Fetch ``files`` on a thread pool. A failed file does not stop the others; after every file was
    tried, one DownloadError counts and names the failures and gives the ``retry`` command. After
    :data:`_GIVE_UP_AFTER` failures in a row no more files are started (the server is gone)."""
    report = fetcher.report
    errors: list[tuple[str, DownloadError]] = []
    streak = [0]                                     # failures since the last success

    def job(rel: str) -> None:
        if fetcher.stop.is_set():
            with fetcher.lock:
                report.not_started += 1
            bar.update(1)
            return
        try:
            fetcher.fetch(rel, sums.get(rel))
            with fetcher.lock:
                streak[0] = 0
        except DownloadError as err:
            with fetcher.lock:
                errors.append((rel, err))
                report.failures.append(str(err))
                report.failed_files.append(rel)
                streak[0] += 1
                if streak[0] >= _GIVE_UP_AFTER:
                    fetcher.stop.set()
        finally:
            bar.update(1)

    with _progress(len(files), f"records{sampling_rate}", progress) as bar:
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ptbxl-download")
        try:
            for future in [pool.submit(job, rel) for rel in files]:
                future.result()
        except BaseException:  # e.g. Ctrl-C: let running files finish, start no more
            fetcher.stop.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    if not errors:
        return
    position = {rel: i for i, rel in enumerate(files)}
    errors.sort(key=lambda e: position[e[0]])
    rel, first = errors[0]
    if len(errors) == 1 and not report.not_started:
        raise type(first)(f"{first} The other {len(files) - 1} record files are complete and verified; retry "
                          f"with `{retry}`.")
    names = ", ".join(r for r, _ in errors[:3]) + (", ..." if len(errors) > 3 else "")
    gave_up = (f" After {_GIVE_UP_AFTER} failures in a row the download gave up ({report.not_started} record files "
               "not started): check the network and the server." if report.not_started else "")
    raise DownloadError(f"{len(errors)} of {len(files)} record files could not be downloaded ({names}); the first: "
                        f"{first}{gave_up} The files fetched are complete and verified; `{retry}` retries the "
                        "others (the report lists every failure).")


def _write_manifest(root: Path, base_url: str, sampling_rate: int, subset, report: DownloadReport) -> None:
    """Record what the last complete download holds (read by the data loader if it wishes)."""
    manifest = {"base_url": base_url, "sampling_rate": sampling_rate, "subset": subset, "method": report.method,
                "num_records": report.num_records, "complete": True,
                "official_v103": report.official_v103,
                "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    atomic_write_json(root / MANIFEST_FILE, manifest)
