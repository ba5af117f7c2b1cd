"""The setup every chapter of the book runs first, in one call.

``ctx = setup_chapter("03 The rhythm branch", mode=MODE)`` seeds everything, picks the device,
resolves the mode (:func:`protoecg_lib.settings.resolve_mode`: ``"auto"`` is paper on a GPU, fast on
a CPU; ``PROTOECG_FAST=1`` forces fast), finds the data (downloading PTB-XL on Colab), optionally
keeps data, caches and trained runs on Google Drive (``persist="drive"``), and prints one block that
says which data, mode and device the chapter ran on.
"""
from __future__ import annotations

import json
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from .. import settings
from ..device import pick_device, seed_everything

__all__ = ["ChapterContext", "setup_chapter", "in_colab", "persist_folder", "DRIVE_MOUNT", "DRIVE_FOLDER"]

#: Where Colab mounts Google Drive, and the folder in it that keeps the book's files.
DRIVE_MOUNT = Path("/content/drive")
DRIVE_FOLDER = "MyDrive/protoecg"
_COLAB_DATA = Path("/content/ptb-xl")


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules


@dataclass
class ChapterContext:
    """What a chapter needs to know about where it runs."""

    title: str
    root: Path
    fast: bool
    device: str
    seed: int
    persist: Path | None = None

    @property
    def mode(self) -> str:
        return "fast" if self.fast else "paper"

    @property
    def preset(self) -> str:
        """The model/training preset matching the mode (``'fast'`` or ``'paper'``)."""
        return self.mode


def persist_folder(persist: str | Path | None) -> Path | None:
    """The folder that keeps data, caches and runs: Google Drive's (mounted now) for ``"drive"``, or ``persist``.

    ``"drive"`` outside Colab warns and keeps nothing (returns None).
    """
    if persist is None or persist is False:
        return None
    if isinstance(persist, str) and persist.strip().lower() == "drive":
        if not in_colab():
            warnings.warn("persist='drive' keeps files on Google Drive, which only Colab mounts; files stay in "
                          f"{settings.cache_dir(create=False)} (pass a folder as persist= to keep them elsewhere)",
                          UserWarning, stacklevel=3)
            return None
        from google.colab import drive

        if not (DRIVE_MOUNT / "MyDrive").is_dir():
            drive.mount(str(DRIVE_MOUNT))
        folder = DRIVE_MOUNT / DRIVE_FOLDER
    else:
        folder = Path(persist).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _downloaded(root: Path, subset) -> bool:
    """True when ``root`` holds a finished download of at least ``subset`` records at 100 Hz."""
    try:
        manifest = json.loads((root / "protoecg_download.json").read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("sampling_rate") != 100 or not manifest.get("complete"):
        return False
    have = manifest.get("subset")
    return have == "full" or (subset != "full" and isinstance(have, int) and have >= int(subset))


def setup_chapter(title: str, *, mode: str = "auto", seed: int = 0, colab_subset: int | str = 2000,
                  root: str | Path | None = None, persist: str | Path | None = None) -> ChapterContext:
    """Seed, choose mode, device and data, and print the chapter's run header.

    Parameters
    ----------
    title : str
        The chapter's name, printed in the header.
    mode : {'auto', 'fast', 'paper'}
        The chapter's ``MODE`` switch: ``'auto'`` is paper on a GPU and fast on a CPU;
        ``PROTOECG_FAST=1`` forces fast. The resolved mode is exported as ``PROTOECG_MODE``, so every
        later ``cached_run`` of the chapter uses it.
    seed : int
        Seed for Python, NumPy and torch.
    colab_subset : int or 'full'
        On Colab, when no root is set, download this many PTB-XL records (about 50 MB for 2,000) or
        ``'full'`` (all 21,799 records: PhysioNet's 1.7 GB zip, 0.54 GB of 100 Hz records kept) once.
    root : path, optional
        A PTB-XL root to use; default: ``PROTOECG_DATA``, a cached download, a download when online,
        else a synthetic root (see :func:`protoecg_lib.data.resolve_root`).
    persist : 'drive' or path, optional
        Keep the data, the decoded-signal cache and trained runs in a folder that outlives the
        machine: ``'drive'`` mounts Google Drive on Colab (``MyDrive/protoecg``); a path is used as it is.
        ``PROTOECG_CACHE`` is pointed there, so later chapters (and later sessions) find the download
        and the trained pipeline instead of repeating them.
    """
    import torch

    from ..data import resolve_root

    seed_everything(seed)
    device = pick_device()
    described = settings.describe_mode(mode, device)
    resolved = settings.resolve_mode(mode, device)
    os.environ["PROTOECG_MODE"] = resolved
    keep = persist_folder(persist)
    if keep is not None:
        os.environ["PROTOECG_CACHE"] = str(keep / "cache")
    if in_colab() and root is None and settings.env_data_root() is None:
        from ..data.download import download_ptbxl, download_size

        root = (keep / "ptb-xl") if keep is not None else _COLAB_DATA
        if not _downloaded(root, colab_subset):
            print(f"downloading PTB-XL ({colab_subset} records, {download_size(100, colab_subset)}) into {root}")
            download_ptbxl(root, sampling_rate=100, subset=colab_subset)
        os.environ["PROTOECG_DATA"] = str(root)
    root = resolve_root(root)
    ctx = ChapterContext(title=title, root=root, fast=resolved == "fast", device=device, seed=seed, persist=keep)
    lines = [title, f"  mode: {described}", f"  data root: {root}",
             f"  device: {ctx.device} (torch {torch.__version__}), seed {seed}"]
    if keep is not None:
        lines.append(f"  kept in: {keep} (data, cache and trained runs outlive this machine)")
    print("\n".join(lines))
    return ctx
