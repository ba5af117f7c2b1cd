"""PTB-XL file by file: the checksum list, the metadata, then the records of a subset.

What :func:`protoecg_lib.data.download.download_ptbxl` does for a subset (and for the full set when
asked for ``method="files"``). Order of the requests: ``SHA256SUMS.txt`` first (every later file is
verified before it gets its final name, which needs the list), then the metadata
(``ptbxl_database.csv``, ``scp_statements.csv``, and ``RECORDS``, ``LICENSE.txt`` and the change
logs when the checksum list names them), then the records, in ``ecg_id`` order, on a small thread
pool. Each file goes through :class:`~protoecg_lib.data.fetcher.Fetcher` (resume, verify, retry).
"""
from __future__ import annotations

import csv
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .checksums import SUMS_FILE, parse_sha256sums, safe_relpath
from .fetcher import DownloadError, Fetcher

__all__ = ["RECORD_COLUMN", "REQUIRED_METADATA", "OPTIONAL_METADATA", "download_files", "record_files",
           "fetch_sums", "progress_bar"]

REQUIRED_METADATA = ("ptbxl_database.csv", "scp_statements.csv")
OPTIONAL_METADATA = ("RECORDS", "LICENSE.txt", "ptbxl_v102_changelog.txt", "ptbxl_v103_changelog.txt")
RECORD_COLUMN = {100: "filename_lr", 500: "filename_hr"}


def progress_bar(total: int, desc: str, enabled: bool, unit: str = "file"):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, leave=enabled)


def record_files(database_csv: Path, sampling_rate: int, subset: int | str) -> tuple[list[str], int]:
    """Record files (``.hea``, ``.dat``) of the first ``subset`` records in ecg_id order."""
    column = RECORD_COLUMN[sampling_rate]
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


def download_files(fetcher: Fetcher, root: Path, sampling_rate: int, subset, strict: bool,
                   progress: bool, workers: int) -> None:
    """Checksums, metadata and the records of ``subset``, one request per file, into ``root``."""
    report = fetcher.report
    sums_url = fetcher.url(SUMS_FILE)
    sums: dict[str, str] | None = None
    with progress_bar(1 + len(REQUIRED_METADATA) + len(OPTIONAL_METADATA), "PTB-XL metadata", progress) as bar:
        try:
            sums = fetch_sums(fetcher, root)
        except DownloadError as err:
            if strict:
                raise DownloadError(f"{err} Without {SUMS_FILE} ({sums_url}) nothing can be verified; "
                                    "pass strict=False to download unverified files.") from None
            warnings.warn(f"no usable {SUMS_FILE} at {sums_url}; downloading WITHOUT checksum "
                          "verification (strict=False)", UserWarning, stacklevel=3)
        bar.update(1)
        for rel in REQUIRED_METADATA + OPTIONAL_METADATA:
            optional = rel in OPTIONAL_METADATA
            if sums is not None and rel not in sums and optional:
                bar.update(1)  # the release does not have it: nothing to fetch
                continue
            expected = _expected(rel, sums, strict)
            if fetcher.fetch(rel, expected, optional=optional) == "missing":
                report.missing_optional.append(rel)
            bar.update(1)
    files, report.num_records = record_files(root / "ptbxl_database.csv", sampling_rate, subset)
    unlisted = [rel for rel in files if sums is not None and rel not in sums]
    if unlisted:
        message = (f"{len(unlisted)} record file(s) have no entry in {SUMS_FILE}, e.g. "
                   f"{', '.join(unlisted[:3])}")
        if strict:
            raise DownloadError(f"{message}; the checksum list does not match ptbxl_database.csv "
                                "(check --base-url), or pass strict=False to take them unverified")
        warnings.warn(f"{message}; taking them unverified (strict=False)", UserWarning, stacklevel=3)
    _fetch_records(fetcher, files, sums or {}, sampling_rate, progress, workers)


def fetch_sums(fetcher: Fetcher, root: Path) -> dict[str, str]:
    """Fetch (or reuse) and parse the checksum list; a damaged copy is fetched once more."""
    path = root / SUMS_FILE
    for attempt in range(2):
        fetcher.fetch(SUMS_FILE, expected=None)
        try:
            return parse_sha256sums(path.read_text(encoding="utf-8", errors="replace"), str(path))
        except DownloadError:
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
                   progress: bool, workers: int) -> None:
    """Fetch ``files`` on a thread pool; stop starting new ones after the first failure."""
    errors: list[DownloadError] = []

    def job(rel: str) -> None:
        if fetcher.stop.is_set():
            return
        try:
            fetcher.fetch(rel, sums.get(rel))
        except DownloadError as err:
            with fetcher.lock:
                errors.append(err)
                fetcher.report.failures.append(str(err))
            fetcher.stop.set()
        finally:
            bar.update(1)

    with progress_bar(len(files), f"records{sampling_rate}", progress) as bar:
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ptbxl-download")
        try:
            for future in [pool.submit(job, rel) for rel in files]:
                future.result()
        except BaseException:  # e.g. Ctrl-C: let running files finish, start no more
            fetcher.stop.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    if errors:
        first = errors[0]
        more = f" ({len(errors) - 1} more failure(s) in .report.failures)" if len(errors) > 1 else ""
        raise type(first)(f"{first}{more}")
