"""A finished run as one archive: packed once (``protoecg run pack``), fetched and unpacked by others.

A learner on Colab should not retrain the pipeline in every chapter: a finished run is packed into a
``.tar.gz`` with its SHA-256, published at a URL, and ``training.cache.cached_run(url=..., sha256=...)``
fetches, verifies and unpacks it into the cache instead of training.

The archive holds every file of the run under one folder ``run/`` -- except the resume states
(``state.pt``: optimizer moments, needed only to continue training, about twice the weights) unless
asked -- in sorted order with zeroed times and owners, so packing the same run twice gives the same
bytes and the same checksum. Unpacking refuses links, absolute paths and ``..`` and checks that
``summary.json`` (a complete run) is there before the folder gets its final name.
"""
from __future__ import annotations

import gzip
import os
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from ..files import atomic_write, atomic_write_text, sha256_file
from .layout import RunLayout

__all__ = ["pack_run", "unpack_run", "ARCHIVE_TOP"]

#: The one folder every member of a run archive lies under.
ARCHIVE_TOP = "run"
_SKIP_SUFFIXES = (".tmp", ".lock", ".part")


def _members(root: Path, include_state: bool) -> list[Path]:
    files = []
    for p in sorted(root.rglob("*")):
        if p.is_symlink() or not p.is_file() or p.name.startswith(".") or p.name.endswith(_SKIP_SUFFIXES):
            continue
        if p.name == "state.pt" and not include_state:
            continue
        files.append(p)
    return files


def pack_run(run, out: str | os.PathLike | None = None, *, include_state: bool = False) -> tuple[Path, str]:
    """Pack a finished run into ``out`` (default ``RUN.tar.gz`` beside it) and ``out.sha256``.

    Parameters
    ----------
    run : Run or path
        A complete run directory (``summary.json`` present).
    out : path, optional
        The archive to write.
    include_state : bool
        Also pack the resume states (``state.pt``), so that the run can be trained further.

    Returns
    -------
    (Path, str)
        The archive and its SHA-256 (also written to ``<out>.sha256`` as ``<hex>  <name>``).
    """
    layout = RunLayout(getattr(run, "path", run))
    root = layout.root
    if not layout.summary.is_file():
        raise FileNotFoundError(f"{root} is not a finished run (no summary.json); run `protoecg pipeline --out {root}` "
                                "to the end before packing it")
    out = Path(out) if out is not None else root.with_name(root.name + ".tar.gz")
    if out.resolve().is_relative_to(root.resolve()):
        raise ValueError(f"{out}: write the archive outside the run directory {root}")

    def write(fh) -> None:
        with gzip.GzipFile(fileobj=fh, mode="wb", mtime=0, filename="") as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in _members(root, include_state):
                info = tarfile.TarInfo(f"{ARCHIVE_TOP}/{path.relative_to(root).as_posix()}")
                info.size, info.mtime, info.mode = path.stat().st_size, 0, 0o644
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                with open(path, "rb") as src:
                    tar.addfile(info, src)

    atomic_write(out, write)
    digest = sha256_file(out)
    atomic_write_text(out.with_name(out.name + ".sha256"), f"{digest}  {out.name}\n")
    return out, digest


def unpack_run(archive: str | os.PathLike, dest: str | os.PathLike, *, sha256: str | None = None) -> Path:
    """Unpack a run archive into ``dest`` (which must not hold a finished run); return ``dest``.

    ``sha256``, when given, must match the archive's. Raises ``ValueError`` with a one-line message for
    a wrong checksum, an unsafe or foreign member, or an archive without ``summary.json``.
    """
    archive, dest = Path(archive), Path(dest)
    if sha256 is not None:
        actual = sha256_file(archive)
        if actual != str(sha256).lower():
            raise ValueError(f"{archive}: sha256 {actual}, expected {sha256}; the archive is not the one published "
                             "(delete it and fetch it again, or check the checksum)")
    if RunLayout(dest).summary.is_file():
        raise FileExistsError(f"{dest} already holds a finished run; unpack elsewhere or remove it first")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".unpack", dir=dest.parent))
    try:
        try:
            tar = tarfile.open(archive, mode="r:gz")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ValueError(f"{archive}: not a readable .tar.gz ({exc}); fetch it again") from None
        with tar:
            for info in tar:
                rel = PurePosixPath(info.name)
                if (not info.isfile() or rel.is_absolute() or ".." in rel.parts or len(rel.parts) < 2
                        or rel.parts[0] != ARCHIVE_TOP):
                    raise ValueError(f"{archive}: member {info.name!r} is not a file under {ARCHIVE_TOP}/; this is not "
                                     "a run archive written by `protoecg run pack`")
                target = tmp.joinpath(*rel.parts[1:])
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        if not RunLayout(tmp).summary.is_file():
            raise ValueError(f"{archive}: no {ARCHIVE_TOP}/summary.json inside; the packed run was not finished")
        if dest.exists():
            shutil.rmtree(dest)  # an unfinished run (no summary): the archive replaces it
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest
