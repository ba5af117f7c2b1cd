"""Fetching one file over HTTP(S) into a folder: partial files, Range resume, checksums, retries.

:class:`Fetcher` is the transfer layer of :mod:`protoecg_lib.data.download` (file by file, and
PhysioNet's single zip) and of :func:`fetch_url` (one URL, e.g. a finished run's archive for
``cached_run(url=..., sha256=...)``). Every file is

1. written to ``<name>.part`` (a partial one left by an earlier run is continued with an HTTP
   ``Range`` request when the server answers ``206``, and started again when it answers ``200``),
2. flushed and ``fsync``-ed,
3. checked against its expected SHA-256 (when one is known),
4. and only then moved to its final name with :func:`os.replace`,

so a file under its final name is always complete and verified. Connection errors, time-outs,
HTTP 5xx/408/429 and checksum mismatches are retried with exponential back-off
(``backoff * 2**k`` seconds, at most 60 s); other HTTP 4xx answers raise :class:`NotOnServer` at
once. Messages name only files that exist (a ``.part`` file only when bytes were kept). Only the
standard library is used (:mod:`urllib`).
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
from pathlib import Path

from ..files import sha256_file

__all__ = ["Fetcher", "DownloadError", "ChecksumError", "NotOnServer", "fetch_url"]

_CHUNK = 1 << 16
_MAX_DELAY_S = 60.0
_USER_AGENT = "protoecg-lib (python urllib)"
_NETWORK_ERRORS = (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException, ssl.SSLError)


class DownloadError(RuntimeError):
    """A file could not be downloaded; ``report`` holds what was done before the failure."""

    def __init__(self, message: str, report: object | None = None):
        super().__init__(message)
        self.report = report


class ChecksumError(DownloadError):
    """A file kept arriving with a SHA-256 other than the one in ``SHA256SUMS.txt``."""


class NotOnServer(DownloadError):
    """The server answered that it does not have the file (HTTP 4xx other than 408/429)."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


class _Retry(Exception):
    """A transient failure of one attempt (truncated body, bad checksum, bad 206 answer)."""


class _Mismatch(_Retry):
    def __init__(self, expected: str, actual: str):
        super().__init__(f"checksum mismatch (expected sha256 {expected}, got {actual})")
        self.expected, self.actual = expected, actual


class Fetcher:
    """Fetches single files of ``base_url`` into ``root`` (thread-safe); counts into a shared report.

    ``report`` is any object with integer attributes ``fetched``, ``skipped``, ``resumed``,
    ``retried`` and ``bytes``; ``hint`` ends the messages of a file the server does not have or keeps
    sending corrupt (e.g. where the data set really lives).
    """

    def __init__(self, root: Path, base_url: str, report, retries: int, backoff: float, timeout: float,
                 stop: threading.Event, hint: str = ""):
        self.root, self.base_url, self.report, self.hint = root, base_url, report, hint
        self.retries, self.backoff, self.timeout, self.stop = retries, backoff, timeout, stop
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
                    raise NotOnServer(f"HTTP {err.code} {err.reason} for {url}: the server does not have this "
                                      f"file{self.hint}", code=err.code) from None
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
                f"{last.actual}) from {url}. The server keeps sending a different file{self.hint}; "
                "run the download again: verified files are kept.")
        kept = (f" The {part.stat().st_size} bytes received stay in {part.name} and are resumed by the next run."
                if part.is_file() and part.stat().st_size else "")
        raise DownloadError(f"{rel}: could not download {url} after {tries}: {last}.{kept} Check the network "
                            "and the server address, and run the download again.")

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


class _Counts:
    """The counters a :class:`Fetcher` adds to, for a single download outside PTB-XL's report."""

    fetched = skipped = resumed = retried = bytes = 0


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
    fetcher = Fetcher(dest.parent, "", _Counts(), retries, backoff, timeout, threading.Event(),
                      hint="; check the URL")
    fetcher.fetch(dest.name, None if sha256 is None else str(sha256).lower(), url=url)
    return dest
