"""Run-wide switches, read in one place: fast mode, the cache folder, the data root.

Environment variables (see the architecture guide):

* ``PROTOECG_FAST=1``: fast mode (CI, laptops) -- fewer records and epochs, same code.
* ``PROTOECG_CACHE``: folder for decoded-signal caches, downloads and trained models
  (default ``~/.cache/protoecg``).
* ``PROTOECG_DATA``: the PTB-XL root to use when none is passed explicitly.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["is_fast", "cache_dir", "env_data_root"]

_TRUE = {"1", "true", "yes", "on"}


def is_fast() -> bool:
    """True when ``PROTOECG_FAST`` asks for fast mode."""
    return os.environ.get("PROTOECG_FAST", "").strip().lower() in _TRUE


def cache_dir(*parts: str, create: bool = True) -> Path:
    """The cache folder (``PROTOECG_CACHE`` or ``~/.cache/protoecg``), or a sub-folder of it."""
    base = Path(os.environ.get("PROTOECG_CACHE") or Path.home() / ".cache" / "protoecg").expanduser()
    path = base.joinpath(*parts)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def env_data_root() -> Path | None:
    """The root named by ``PROTOECG_DATA``, if set."""
    value = os.environ.get("PROTOECG_DATA", "").strip()
    return Path(value).expanduser() if value else None
