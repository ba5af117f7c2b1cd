"""Which PTB-XL root to use when none is given (architecture guide, "Modes and switches").

Order: an explicit root; ``PROTOECG_DATA``; a download already in the cache; online, a one-time
download of a small real PTB-XL subset into the cache; offline (detected within seconds), a
synthetic root, announced loudly.
"""
from __future__ import annotations

import socket
import sys
from pathlib import Path

from .. import settings

__all__ = ["resolve_root", "is_online", "SUBSET_SIZE", "describe_source"]

#: records of the real subset fetched on first use when no root is given (about 50 MB at 100 Hz:
#: 2,000 x 24,604 bytes, the excerpt's mean record size, see ``data.download.RECORD_BYTES``)
SUBSET_SIZE = 2000


def is_online(host: str = "physionet.org", port: int = 443, timeout: float = 3.0) -> bool:
    """Whether PhysioNet answers a TCP connection within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _complete_download(path: Path) -> bool:
    """True when ``path`` holds a finished download (the downloader writes its marker last)."""
    return (path / "protoecg_download.json").is_file()


def resolve_root(root: str | Path | None = None, *, allow_download: bool = True,
                 allow_synthetic: bool = True, verbose: bool = True) -> Path:
    """Pick the PTB-XL root to use and return its path (see the module docstring for the order)."""
    if root is not None:
        return Path(root).expanduser()
    env = settings.env_data_root()
    if env is not None:
        return env
    cached = settings.cache_dir("ptb-xl", create=False)
    if _complete_download(cached):
        return cached
    if allow_download and is_online():
        from .download import DownloadError, download_ptbxl

        if verbose:
            print(f"protoecg: no PTB-XL root given; downloading the first {SUBSET_SIZE} records of PTB-XL "
                  f"v1.0.3 into {cached} (set PROTOECG_DATA to use another root).", file=sys.stderr)
        try:
            download_ptbxl(cached, sampling_rate=100, subset=SUBSET_SIZE)
            return cached
        except DownloadError as exc:  # an interrupted download resumes next time; fall back for now
            print(f"protoecg: download failed ({exc}); falling back to synthetic data.", file=sys.stderr)
    if not allow_synthetic:
        raise FileNotFoundError("no PTB-XL root: pass one, set PROTOECG_DATA, or run `protoecg data download`.")
    from ..synthetic import synthetic_root

    path = synthetic_root("default")
    if verbose:
        bar = "!" * 78
        print(f"{bar}\nprotoecg: OFFLINE and no PTB-XL root given -- using a SYNTHETIC dataset at {path}.\n"
              "Numbers below are NOT PTB-XL results. Set PROTOECG_DATA to a PTB-XL root for real data.\n"
              f"{bar}", file=sys.stderr)
    return path


def describe_source(ds) -> str:
    """One line naming the data a chapter ran on (every chapter prints it)."""
    return (f"data: {ds.source} PTB-XL root at {ds.root} -- {len(ds)} records at {ds.fs} Hz "
            f"(train {ds.indices('train').stop - ds.indices('train').start}, "
            f"val {ds.indices('val').stop - ds.indices('val').start}, "
            f"test {ds.indices('test').stop - ds.indices('test').start})")
