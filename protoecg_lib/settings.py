"""Run-wide switches, read in one place: the mode, the cache folder, the data root, the mirror.

Environment variables (see the architecture guide):

* ``PROTOECG_FAST=1``: fast mode (CI, laptops) -- fewer records and epochs, same code. It wins over
  any mode passed in code.
* ``PROTOECG_MODE``: ``fast`` or ``paper``, what ``"auto"`` means in this process; a chapter's setup
  (``setup_chapter(mode=MODE)``) sets it, so that every later call in the chapter (``cached_run``)
  runs in the mode the chapter printed.
* ``PROTOECG_CACHE``: folder for decoded-signal caches, downloads and trained models
  (default ``~/.cache/protoecg``).
* ``PROTOECG_DATA``: the PTB-XL root to use when none is passed explicitly.
* ``PROTOECG_PHYSIONET_URL``: a mirror of PhysioNet's PTB-XL v1.0.3 folder (default: PhysioNet).

The mode rule (:func:`resolve_mode`) is the one every entry point follows -- a chapter's
``MODE = "auto"`` switch (``setup_chapter(mode=...)``), ``cached_run`` and the CLI's ``--preset``:
``PROTOECG_FAST=1`` gives ``"fast"`` whatever is asked; ``"fast"`` and ``"paper"`` are taken as given;
``"auto"`` is ``PROTOECG_MODE`` when set, else ``"paper"`` on a CUDA GPU and ``"fast"`` on a CPU (and
on Apple's MPS, where the paper's three ResNet-18 branches take hours per epoch).
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["MODES", "is_fast", "resolve_mode", "describe_mode", "cache_dir", "env_data_root", "physionet_url"]

_TRUE = {"1", "true", "yes", "on"}
#: What a caller may ask for; ``resolve_mode`` turns each into ``'fast'`` or ``'paper'``.
MODES = ("auto", "fast", "paper")
_DEFAULT_PHYSIONET_URL = "https://physionet.org/files/ptb-xl/1.0.3/"


def is_fast() -> bool:
    """True when ``PROTOECG_FAST`` asks for fast mode."""
    return os.environ.get("PROTOECG_FAST", "").strip().lower() in _TRUE


def resolve_mode(mode: str | None = "auto", device: str | None = None) -> str:
    """The mode to run in: ``'fast'`` or ``'paper'``.

    Parameters
    ----------
    mode : {'auto', 'fast', 'paper'} or None
        ``None`` means ``'auto'``. ``PROTOECG_FAST=1`` forces ``'fast'`` whatever is passed.
    device : str, optional
        The device the work runs on (default: :func:`protoecg_lib.device.pick_device`); ``'auto'``
        gives ``'paper'`` when it is a CUDA device and ``'fast'`` otherwise.
    """
    mode = "auto" if mode is None else str(mode).strip().lower()
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: choose 'auto' (paper on a GPU, fast on a CPU), 'fast' or 'paper'")
    if is_fast():
        return "fast"
    if mode != "auto":
        return mode
    chosen = os.environ.get("PROTOECG_MODE", "").strip().lower()
    if chosen in ("fast", "paper"):
        return chosen
    if chosen and chosen != "auto":
        raise ValueError(f"PROTOECG_MODE={chosen!r}: set it to 'fast', 'paper' or 'auto' (or unset it)")
    if device is None:
        from .device import pick_device

        device = pick_device()
    return "paper" if str(device).startswith("cuda") else "fast"


def describe_mode(mode: str | None, device: str | None = None) -> str:
    """One line saying which mode ``mode`` resolves to and why (chapters print it)."""
    resolved = resolve_mode(mode, device)
    asked = "auto" if mode is None else str(mode).strip().lower()
    if is_fast():
        why = "PROTOECG_FAST=1 is set"
    elif asked == "auto" and os.environ.get("PROTOECG_MODE", "").strip().lower() in ("fast", "paper"):
        why = "MODE='auto', PROTOECG_MODE set"
    elif asked == "auto":
        why = f"MODE='auto' on {'a GPU' if resolved == 'paper' else 'a CPU'}"
    else:
        why = f"MODE={asked!r}"
    return f"{resolved} ({why})"


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


def physionet_url() -> str:
    """The folder PTB-XL is downloaded from: ``PROTOECG_PHYSIONET_URL`` or PhysioNet's v1.0.3 folder."""
    value = os.environ.get("PROTOECG_PHYSIONET_URL", "").strip()
    if not value:
        return _DEFAULT_PHYSIONET_URL
    return value if value.endswith("/") else value + "/"
