"""The setup every chapter of the book runs first, in one call.

``ctx = setup_chapter("03 The rhythm branch")`` seeds everything, picks the device, reads the fast
switch, finds the data (downloading PTB-XL on Colab when asked), and prints one block that says
which data, mode and device the chapter ran on.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from .. import settings
from ..device import pick_device, seed_everything

__all__ = ["ChapterContext", "setup_chapter", "in_colab"]


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

    @property
    def mode(self) -> str:
        return "fast" if self.fast else "paper"

    @property
    def preset(self) -> str:
        """The model/training preset matching the mode (``'fast'`` or ``'paper'``)."""
        return self.mode


def setup_chapter(title: str, *, seed: int = 0, colab_subset: int | str = 2000,
                  root: str | Path | None = None) -> ChapterContext:
    """Seed, choose device and data, and print the chapter's run header.

    Parameters
    ----------
    title : str
        The chapter's name, printed in the header.
    seed : int
        Seed for Python, NumPy and torch.
    colab_subset : int or 'full'
        On Colab, when no root is set, download this many PTB-XL records (or ``'full'``: all 21,799)
        to ``/content/ptb-xl`` once and use them.
    root : path, optional
        A PTB-XL root to use; default: ``PROTOECG_DATA``, a cached download, a download when online,
        else a synthetic root (see :func:`protoecg_lib.data.resolve_root`).
    """
    import torch

    from ..data import resolve_root

    seed_everything(seed)
    if in_colab() and root is None and settings.env_data_root() is None:
        from ..data.download import download_ptbxl

        root = Path("/content/ptb-xl")
        download_ptbxl(root, sampling_rate=100, subset=colab_subset)
        os.environ["PROTOECG_DATA"] = str(root)
    root = resolve_root(root)
    ctx = ChapterContext(title=title, root=root, fast=settings.is_fast(), device=pick_device(), seed=seed)
    print(f"{title}\n  mode: {ctx.mode} (PROTOECG_FAST={'1' if ctx.fast else 'unset'})\n"
          f"  data root: {root}\n  device: {ctx.device} (torch {torch.__version__}), seed {seed}")
    return ctx
