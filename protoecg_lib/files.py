"""Files written safely: one atomic writer, checksums, and a portable lock.

Every file the library writes (checkpoints, run records, caches, downloads' manifests, reviews)
goes through :func:`atomic_write`: the bytes go to a temporary file **beside** the target (same
folder, so the final rename never crosses a file system), are flushed and ``fsync``-ed, and the
temporary file is renamed over the target with :func:`os.replace`, which is atomic on POSIX and
Windows. A reader therefore sees the old file or the new one, never half of one; a process killed
mid-write leaves at most a ``.<name>.<random>.tmp`` file, which :func:`remove_stale_temporaries`
cleans up. In a distributed run (``torchrun``) only rank 0 writes: on the other ranks
:func:`atomic_write` returns without writing (:func:`writes_here`), so the ranks of one run never
race on a file.

:func:`file_lock` serialises processes (chapters executed in parallel, several ranks) on a lock file,
with ``fcntl`` on POSIX and ``msvcrt`` on Windows, imported only when used.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

__all__ = ["writes_here", "atomic_write", "atomic_write_text", "atomic_write_json", "atomic_save_torch", "sha256_file",
           "sha256_bytes", "file_lock", "remove_stale_temporaries", "TEMP_SUFFIX"]

TEMP_SUFFIX = ".tmp"
_CHUNK = 1 << 20


def writes_here() -> bool:
    """False on the ranks other than 0 of an initialised ``torch.distributed`` process group."""
    dist = sys.modules.get("torch.distributed")
    return not (dist is not None and dist.is_available() and dist.is_initialized() and dist.get_rank() != 0)


def atomic_write(path: str | os.PathLike, data: bytes | Callable[[io.BufferedWriter], Any]) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file beside it, fsync, rename).

    Parameters
    ----------
    path : path
        The target; its folder is created when missing.
    data : bytes or callable(file) -> Any
        The bytes, or a function that writes into the open binary file (e.g. ``torch.save``).

    Returns
    -------
    Path
        ``path`` (not written on a distributed rank other than 0, see :func:`writes_here`).
    """
    path = Path(path)
    if not writes_here():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            if callable(data):
                data(fh)
            else:
                fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write` of UTF-8 text."""
    return atomic_write(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 2, default=float) -> Path:
    """:func:`atomic_write` of ``obj`` as JSON (``default`` converts NumPy scalars)."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, default=default) + "\n")


def atomic_save_torch(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj)`` into ``path`` through :func:`atomic_write`."""
    import torch

    return atomic_write(path, lambda fh: torch.save(obj, fh))


def sha256_bytes(data: bytes) -> str:
    """SHA-256 hex digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


@contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on ``path`` (created when missing) for the ``with`` block.

    POSIX uses ``fcntl.flock``; Windows ``msvcrt.locking`` on the first byte. Both block until the
    lock is free and release it when the block ends, also on an exception.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
            import msvcrt

            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_LOCK, 1)
            try:
                yield path
            finally:
                fh.seek(0)
                msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield path
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def remove_stale_temporaries(folder: str | os.PathLike, pattern: str = f"*{TEMP_SUFFIX}") -> list[Path]:
    """Delete temporary files matching ``pattern`` in ``folder`` whose writer process is gone.

    Files named with a process id (``<name>.<pid>.<...>``) are removed only when that process no
    longer runs; other matches are removed when older than an hour. Returns the removed paths.
    """
    import time

    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for p in folder.glob(pattern):
        pid = next((int(part) for part in p.name.split(".") if part.isdigit() and len(part) < 8), None)
        stale = (not _pid_alive(pid)) if pid is not None else (time.time() - p.stat().st_mtime > 3600)
        if stale:
            try:
                p.unlink()
                removed.append(p)
            except OSError:
                pass
    return removed


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    if sys.platform == "win32":  # pragma: no cover - os.kill(pid, 0) would terminate the process there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True
