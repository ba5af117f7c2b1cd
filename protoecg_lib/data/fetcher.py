"""One file over HTTP(S): resumed with Range requests, verified by SHA-256, retried with back-off.

:class:`Fetcher` is what every download of the library goes through (the per-file PTB-XL download,
PhysioNet's single zip, a finished run's archive). A file is

1. written to ``<name>.part`` (a partial one left by an earlier attempt is continued with an HTTP
   ``Range`` request when the server answers ``206``, and started again when it answers ``200``),
2. flushed and ``fsync``-ed,
3. checked against its expected SHA-256 when one is known,
4. and only then moved to its final name with :func:`os.replace`,

so a file under its final name is always complete and verified. Connection errors, time-outs,
HTTP 5xx/408/429 and checksum mismatches are retried with exponential back-off
(``backoff * 2**k`` seconds, at most 60 s); a file that keeps failing raises an error that names it
and says what to do. It uses :mod:`urllib` only, so no dependency is added.
"""
from __future__ import annotations

import http.client
import os
import re
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from ..files import sha256_file

__all__ = ["DownloadError", "ChecksumError", "DownloadReport", "Fetcher", "fetch_url"]

_CHUNK = 1 << 16
_MAX_DELAY_S = 60.0
_USER_AGENT = "protoecg-lib (python urllib)"
_NETWORK_ERRORS = (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException, ssl.SSLError)


class DownloadError(RuntimeError):
    """A file could not be downloaded; ``report`` holds what was done before the failure."""

    def __init__(self, message: str, report: "DownloadReport | None" = None):
        super().__init__(message)
        self.report = report


class ChecksumError(DownloadError):
    """A file kept arriving with a SHA-256 other than the expected one."""


class _Retry(Exception):
    """A transient failure of one attempt (truncated body, bad checksum, bad 206 answer)."""


class _Mismatch(_Retry):
    def __init__(self, expected: str, actual: str):
        super().__init__(f"checksum mismatch (expected sha256 {expected}, got {actual})")
        self.expected, self.actual = expected, actual


@dataclass
class DownloadReport:
    """What one download did.

    ``fetched`` counts files downloaded and verified (``resumed`` of them continued a ``.part``
    file with a Range request), ``skipped`` files already present and verified, ``retried`` the
    extra attempts after transient failures, ``bytes`` the bytes received, ``failures`` one message
    per file that could not be downloaded, ``method`` ``'files'`` (one request per file) or ``'zip'``
    (PhysioNet's single archive, then ``unpacked`` files verified after unpacking),
    ``official_v103`` the check of the metadata against the official v1.0.3 checksums.
    """

    root: Path
    sampling_rate: int
    method: str = "files"
    num_records: int = 0
    fetched: int = 0
    skipped: int = 0
    resumed: int = 0
    retried: int = 0
    unpacked: int = 0
    bytes: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    missing_optional: list[str] = field(default_factory=list)
    official_v103: dict[str, bool | None] = field(default_factory=dict)

    def __str__(self) -> str:
        rate = self.bytes / self.seconds / 1e6 if self.seconds > 0 else 0.0
        how = "one zip archive" if self.method == "zip" else "one request per file"
        lines = [
            f"PTB-XL download into {self.root} ({self.sampling_rate} Hz, {self.num_records} records, {how})",
            f"  fetched   {self.fetched} files ({self.resumed} resumed), "
            f"{self.bytes / 1e6:.1f} MB in {self.seconds:.1f} s ({rate:.1f} MB/s)",
        ]
        if self.method == "zip":
            lines.append(f"  unpacked  {self.unpacked} files, each verified against SHA256SUMS.txt")
        lines += [
            f"  skipped   {self.skipped} files already present and verified",
            f"  retried   {self.retried} attempts",
            f"  failures  {len(self.failures) or 'none'}",
        ]
        lines += [f"    - {msg}" for msg in self.failures[:5]]
        if self.missing_optional:
            lines.append(f"  not on server (optional): {', '.join(self.missing_optional)}")
        if self.official_v103:
            words = {True: "matches", False: "differs", None: "absent"}
            state = ", ".join(f"{name} {words[ok]}" for name, ok in self.official_v103.items())
            lines.append(f"  official v1.0.3 metadata: {state}")
        return "\n".join(lines)


class Fetcher:
    """Fetches single files from ``base_url`` into ``root`` (thread-safe); counts into ``report``.

    ``hint`` ends the message of an HTTP 4xx error (where the right files live).
    """

    def __init__(self, root: Path, base_url: str, report: DownloadReport, retries: int = 5,
                 backoff: float = 1.0, timeout: float = 30, stop: threading.Event | None = None,
                 hint: str = "check the URL"):
        self.root, self.base_url, self.report = Path(root), base_url, report
        self.retries, self.backoff, self.timeout = retries, backoff, timeout
        self.stop = stop if stop is not None else threading.Event()
        self.hint = hint
        #: called as ``on_progress(bytes_so_far, total_or_None)`` while a body arrives (a progress bar)
        self.on_progress = None
        self.opener = urllib.request.build_opener()  # reads proxy settings now, not at import
        self.lock = threading.Lock()

    def count(self, **increments: int) -> None:
        with self.lock:
            for name, value in increments.items():
                setattr(self.report, name, getattr(self.report, name) + value)

    def url(self, rel: str) -> str:
        return self.base_url + urllib.parse.quote(rel)

    def fetch(self, rel: str, expected: str | None, optional: bool = False, url: str | None = None) -> str:
        """Make ``root/rel`` present and verified (downloaded from ``url``, default ``base_url + rel``).

        Returns ``'skipped'``, ``'fetched'`` or ``'missing'`` (an optional file answered 404/410).
        Raises :class:`DownloadError` (HTTP 4xx, retries spent) or :class:`ChecksumError`.
        """
        final = self.root / rel
        part = final.with_name(final.name + ".part")
        if final.is_file():
            if expected is None or sha256_file(final) == expected:
                self.count(skipped=1)
                return "skipped"
            final.unlink()  # an outdated or damaged copy: fetch it again
        final.parent.mkdir(parents=True, exist_ok=True)
        url = url or self.url(rel)
        for attempt in range(self.retries + 1):
            try:
                resumed = self._transfer(url, part, verifiable=expected is not None)
                if expected is not None:
                    actual = sha256_file(part)
                    if actual != expected:
                        part.unlink()  # never resume from corrupt bytes
                        raise _Mismatch(expected, actual)
                os.replace(part, final)
                self.count(fetched=1, resumed=int(resumed))
                return "fetched"
            except urllib.error.HTTPError as err:
                err.close()
                if optional and err.code in (404, 410):
                    return "missing"
                if err.code < 500 and err.code not in (408, 429):
                    raise DownloadError(f"HTTP {err.code} {err.reason} for {url}: the server does not "
                                        f"have this file; {self.hint}") from None
                last: Exception = err
            except (*_NETWORK_ERRORS, _Retry) as err:
                last = err
            if attempt == self.retries or self.stop.is_set():
                break
            self.count(retried=1)
            self.stop.wait(min(self.backoff * 2 ** attempt, _MAX_DELAY_S))
        tries = f"{attempt + 1} attempt{'s' * (attempt > 0)}"
        if isinstance(last, _Mismatch):
            raise ChecksumError(
                f"{rel}: checksum mismatch after {tries} (expected sha256 {last.expected}, got "
                f"{last.actual}) from {url}. The server keeps sending a different file: {self.hint}, "
                "and run the download again; verified files are kept.")
        raise DownloadError(f"{rel}: could not download {url} after {tries}: {last}. Partial data "
                            f"stays in {part.name} and is resumed by the next run; check the network "
                            "and run the download again.")

    def _transfer(self, url: str, part: Path, verifiable: bool) -> bool:
        """One HTTP attempt into ``part``; True when it continued a partial file (206)."""
        offset = part.stat().st_size if part.is_file() else 0
        headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            response = self.opener.open(urllib.request.Request(url, headers=headers), timeout=self.timeout)
        except urllib.error.HTTPError as err:
            if err.code == 416 and offset:  # nothing left to send: the .part may be complete
                err.close()
                if verifiable:
                    return True  # the checksum decides
                part.unlink()
                raise _Retry(f"{url}: Range bytes={offset}- refused (416); starting the file again") from None
            raise
        with response:
            resumed = response.status == 206
            if resumed:
                match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
                if not match or int(match.group(1)) != offset:
                    part.unlink()
                    raise _Retry(f"{url}: the server answered Range bytes={offset}- with "
                                 f"Content-Range {response.headers.get('Content-Range')!r}")
            length = response.headers.get("Content-Length")
            start = offset if resumed else 0
            total = None if length is None else start + int(length)
            received = 0
            try:
                with open(part, "ab" if resumed else "wb") as f:
                    while chunk := response.read(_CHUNK):
                        f.write(chunk)
                        received += len(chunk)
                        if self.on_progress is not None:
                            self.on_progress(start + received, total)
                    f.flush()
                    os.fsync(f.fileno())
            finally:
                self.count(bytes=received)
        if length is not None and received != int(length):
            raise _Retry(f"connection closed after {received} of {length} bytes")
        return resumed


def fetch_url(url: str, dest: str | os.PathLike, sha256: str | None, *, retries: int = 5, backoff: float = 1.0,
              timeout: float = 60) -> Path:
    """Download one URL to ``dest`` (resumed, verified against ``sha256`` when given); return ``dest``.

    An existing ``dest`` with the right checksum is kept. Raises :class:`DownloadError` or
    :class:`ChecksumError` with a message that names the URL.
    """
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"url={url!r}: give an http(s) URL")
    if sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", str(sha256).lower()):
        raise ValueError(f"sha256={sha256!r}: give the 64 hex digits of the file's SHA-256")
    dest = Path(dest).expanduser()
    fetcher = Fetcher(dest.parent, "", DownloadReport(root=dest.parent, sampling_rate=0), retries=retries,
                      backoff=backoff, timeout=timeout, hint="check the URL")
    fetcher.fetch(dest.name, None if sha256 is None else str(sha256).lower(), url=url)
    return dest
