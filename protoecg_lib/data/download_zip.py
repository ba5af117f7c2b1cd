"""The full PTB-XL from PhysioNet's single zip archive: one resumable request, then verified files.

PhysioNet publishes PTB-XL v1.0.3 as one zip (about 1.7 GB: both sampling rates, the metadata) beside
the folder of single files. Fetching the full set file by file costs about 43,600 requests at 100 Hz;
the zip is one request that :class:`~protoecg_lib.data.fetch.Fetcher` resumes with HTTP ``Range``
after an interruption. After it arrives,

1. the checksum list ``SHA256SUMS.txt`` comes from the file folder (PhysioNet's published list),
2. the metadata and the records of the chosen sampling rate are unpacked (the other rate is left
   in the archive), each to ``<name>.part``, checked against the list, then renamed: a file under
   its final name is complete and verified, and an interrupted unpack resumes where it stopped,
3. a file the archive lacks or holds damaged is fetched on its own from the folder (verified),
4. the archive is deleted (``keep_zip=True`` keeps it).

A mirror (``base_url`` other than PhysioNet's) serves the archive under PhysioNet's file name,
:data:`ZIP_NAME`, in the same folder as ``ptbxl_database.csv``, or at ``zip_url``.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path, PurePosixPath

from ..files import sha256_file
from .checksums import SUMS_FILE, safe_relpath
from .download import _OPTIONAL_METADATA, _REQUIRED_METADATA, ZIP_NAME, _fetch_sums, _record_files
from .fetch import DownloadError, Fetcher

__all__ = ["ZIP_NAME", "PHYSIONET_ZIP_URL", "download_zip", "zip_url_for"]

#: Where PhysioNet serves the archive (its file name: ``download.ZIP_NAME``).
PHYSIONET_ZIP_URL = f"https://physionet.org/static/published-projects/ptb-xl/{ZIP_NAME}"
_PHYSIONET_FILES = "https://physionet.org/files/ptb-xl/1.0.3/"
_CHUNK = 1 << 20
#: Damaged or missing files fetched one by one before the archive is judged damaged as a whole.
_MAX_REPAIRS = 200


def zip_url_for(base_url: str) -> str:
    """The archive's URL for a file folder: PhysioNet's static link, or ``base_url + ZIP_NAME`` for a mirror."""
    return PHYSIONET_ZIP_URL if base_url.rstrip("/") == _PHYSIONET_FILES.rstrip("/") else base_url + ZIP_NAME


def download_zip(fetcher: Fetcher, root: Path, sampling_rate: int, progress: bool, *, zip_url: str | None = None,
                 keep_zip: bool = False) -> None:
    """Download the archive into ``root``, unpack and verify the metadata and one sampling rate's records."""
    report = fetcher.report
    report.method = "zip"
    sums = _fetch_sums(fetcher, root)
    url = zip_url or zip_url_for(fetcher.base_url)
    archive = root / ZIP_NAME
    wanted_meta = [rel for rel in _REQUIRED_METADATA + _OPTIONAL_METADATA if rel in sums]
    missing_meta = [rel for rel in _REQUIRED_METADATA if rel not in sums]
    if missing_meta:
        raise DownloadError(f"{SUMS_FILE} at {fetcher.url(SUMS_FILE)} lists no {missing_meta}; this is not "
                            "PTB-XL v1.0.3's checksum list (check --base-url)")
    if not all((root / rel).is_file() for rel in wanted_meta) or _records_missing(root, sampling_rate):
        with _bar(0, f"{ZIP_NAME[:24]}...zip", progress, unit="B") as bar:
            bar.unit_scale = True

            def show(done: int, total: int | None) -> None:
                if total is not None and bar.total != total:
                    bar.total = total
                bar.update(done - bar.n)

            fetcher.on_progress = show
            try:
                fetcher.fetch(ZIP_NAME, expected=None, url=url)
            finally:
                fetcher.on_progress = None
        damaged = _unpack(archive, root, sampling_rate, sums, wanted_meta, report, progress)
        if len(damaged) > _MAX_REPAIRS:
            archive.unlink()
            raise DownloadError(f"{len(damaged)} files of {ZIP_NAME} did not match {SUMS_FILE} (e.g. {damaged[0]}): "
                                "the archive is damaged and was deleted; run the download again to fetch it anew")
    else:
        damaged = []
    files, report.num_records = _record_files(root / "ptbxl_database.csv", sampling_rate, "full")
    absent = [rel for rel in files if not (root / rel).is_file()]
    repair = sorted(set(damaged) | set(absent))
    for rel in repair:  # the archive lacked them or held them damaged: the folder has each file on its own
        if rel not in sums:
            raise DownloadError(f"{rel} is listed in ptbxl_database.csv but neither in the archive nor in "
                                f"{SUMS_FILE}; check --base-url")
        fetcher.fetch(rel, sums[rel])
    if archive.is_file() and not keep_zip:
        archive.unlink()


def _records_missing(root: Path, sampling_rate: int) -> bool:
    database = root / "ptbxl_database.csv"
    if not database.is_file():
        return True
    files, _ = _record_files(database, sampling_rate, "full")
    return any(not (root / rel).is_file() for rel in files)


def _member_map(zf: zipfile.ZipFile, archive: Path) -> dict[str, zipfile.ZipInfo]:
    """Archive members by their path relative to the folder that holds ``ptbxl_database.csv``."""
    names = [info for info in zf.infolist() if not info.is_dir()]
    anchor = [info.filename for info in names if PurePosixPath(info.filename).name == "ptbxl_database.csv"]
    if not anchor:
        raise DownloadError(f"{archive}: no ptbxl_database.csv inside; this is not the PTB-XL archive. Delete it "
                            "and check --base-url / zip_url")
    prefix = str(PurePosixPath(anchor[0]).parent)
    prefix = "" if prefix == "." else prefix + "/"
    return {info.filename[len(prefix):]: info for info in names if info.filename.startswith(prefix)}


def _unpack(archive: Path, root: Path, sampling_rate: int, sums: dict[str, str], wanted_meta: list[str],
            report, progress: bool) -> list[str]:
    """Unpack metadata and ``records<rate>/``; return the files whose bytes did not match the list."""
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        archive.unlink()
        raise DownloadError(f"{archive}: not a readable zip ({exc}); it was deleted, run the download again "
                            "to fetch it anew") from None
    damaged: list[str] = []
    with zf:
        members = _member_map(zf, archive)
        folder = f"records{sampling_rate}/"
        chosen = [rel for rel in wanted_meta if rel in members]
        chosen += sorted(rel for rel in members if rel.startswith(folder) and rel.endswith((".hea", ".dat")))
        with _bar(len(chosen), f"unpacking records{sampling_rate}", progress) as bar:
            for rel in chosen:
                bar.update(1)
                safe = safe_relpath(rel, archive.name)
                final, expected = root / safe, sums.get(safe)
                if expected is None:
                    continue  # not in the published list: never take unverified bytes from the archive
                if final.is_file() and sha256_file(final) == expected:
                    continue  # unpacked by an earlier, interrupted run
                if not _extract_verified(zf, members[rel], final, expected):
                    damaged.append(safe)
                    continue
                report.unpacked += 1
    return damaged


def _extract_verified(zf: zipfile.ZipFile, info: zipfile.ZipInfo, final: Path, expected: str) -> bool:
    """Extract one member to ``final`` through a ``.part`` file; False (nothing kept) when it does not verify."""
    part = final.with_name(final.name + ".part")
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        with zf.open(info) as src, open(part, "wb") as dst:
            while chunk := src.read(_CHUNK):
                dst.write(chunk)
    except (zipfile.BadZipFile, OSError, EOFError):  # CRC error, truncated member
        part.unlink(missing_ok=True)
        return False
    if sha256_file(part) != expected:
        part.unlink()
        return False
    os.replace(part, final)
    return True


def _bar(total: int, desc: str, enabled: bool, unit: str = "file"):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, leave=enabled)
