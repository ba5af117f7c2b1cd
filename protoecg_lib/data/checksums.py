"""Checksums of a PTB-XL root: the official v1.0.3 metadata digests, PhysioNet's ``SHA256SUMS.txt``
format, and the check :func:`~protoecg_lib.data.load_ptbxl` runs on the metadata it reads.

Loading a local root needs only this module (no network code); the downloader uses it to verify
every file it fetches.
"""
from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from ..files import sha256_file
from .metadata import DataError

__all__ = ["OFFICIAL_V103_SHA256", "SUMS_FILE", "ChecksumListError", "parse_sha256sums", "safe_relpath",
           "verify_official_metadata", "verify_root_metadata"]

#: SHA-256 of the metadata files of the full, official v1.0.3 release.
OFFICIAL_V103_SHA256 = {
    "ptbxl_database.csv": "7600de9c1b27d181d850b3c6038a35d7c3ddb6bb33b702e3a20252a6859d216b",
    "scp_statements.csv": "ad05b0b1fcae83bb1230755ad9cfc7c96f303feddc08a4a9ad5bdc9ca63bac8f",
    "RECORDS": "56d37274b0b02339e9c30bff8c9a9f2a6fb3cb2bb7bcd5d7c55355451d53896a",
}
#: PhysioNet's checksum list, beside ``ptbxl_database.csv``.
SUMS_FILE = "SHA256SUMS.txt"


class ChecksumListError(DataError):
    """A checksum list that cannot be read, or names a file outside the root."""


def verify_official_metadata(root: str | os.PathLike) -> dict[str, bool | None]:
    """Whether the metadata files under ``root`` are those of the official v1.0.3 release.

    Returns ``{name: True | False | None}`` for the names of :data:`OFFICIAL_V103_SHA256`
    (``None`` when the file is absent). The data loader uses it to tell a full v1.0.3 download
    from an excerpt or another version.
    """
    root = Path(root)
    return {name: (sha256_file(root / name) == digest) if (root / name).is_file() else None
            for name, digest in OFFICIAL_V103_SHA256.items()}


def safe_relpath(rel: str, source: str) -> str:
    """``rel`` as a POSIX path inside the root; refuse absolute paths and ``..``."""
    path = PurePosixPath(rel)
    if not rel or "\\" in rel or path.is_absolute() or ".." in path.parts:
        raise ChecksumListError(f"unsafe file path {rel!r} in {source}: paths must stay inside the "
                                "download root; the server's file list is not PTB-XL's")
    return str(path)


def parse_sha256sums(text: str, source: str = SUMS_FILE) -> dict[str, str]:
    """Parse a checksum list in PhysioNet's (``sha256sum``) format.

    Parameters
    ----------
    text : str
        Lines ``<64 hex digits>  <relative path>``; a ``*`` before the path (binary mode) and a
        leading ``./`` are accepted, blank lines and ``#`` comments ignored.
    source : str
        Name used in error messages.

    Returns
    -------
    dict[str, str]
        Relative POSIX path -> lower-case hex digest.
    """
    sums: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) != 2 or not re.fullmatch(r"[0-9a-fA-F]{64}", parts[0]):
            raise ChecksumListError(f"{source}, line {lineno}: expected '<sha256>  <relative path>', got "
                                    f"{line!r}; delete {source} and run the download again")
        rel = parts[1].strip().lstrip("*")
        rel = rel[2:] if rel.startswith("./") else rel
        sums[safe_relpath(rel, source)] = parts[0].lower()
    return sums


def verify_root_metadata(root: Path, source: str) -> dict | None:
    """Metadata checksums of a root: against the official v1.0.3 values for a full root, else against
    the root's own ``SHA256SUMS.txt`` (None when it has none)."""
    if source == "full":
        files = {k: v for k, v in verify_official_metadata(root).items() if v is not None}
        reference = "official PTB-XL v1.0.3"
    else:
        sums = root / SUMS_FILE
        if not sums.is_file():
            return None
        expected = parse_sha256sums(sums.read_text(), source=str(sums))
        files = {name: sha256_file(root / name) == expected[name]
                 for name in ("ptbxl_database.csv", "scp_statements.csv", "RECORDS")
                 if name in expected and (root / name).is_file()}
        reference = SUMS_FILE
    return {"reference": reference, "files": files, "ok": all(files.values()) if files else None}
