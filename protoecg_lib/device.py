"""Where computation runs: the device, seeding, and the process's peak memory (portable).

Core modules import :func:`pick_device` from here; the book's chapter set-up
(:mod:`protoecg_lib.teaching.chapter`) uses the same rule.
"""
from __future__ import annotations

import random
import sys

import numpy as np

__all__ = ["pick_device", "seed_everything", "peak_memory_mb"]


def pick_device(prefer: str | None = None) -> str:
    """``'cuda'`` when a GPU is there, else ``'mps'`` on Apple silicon, else ``'cpu'`` (or ``prefer``)."""
    import torch

    if prefer:
        return prefer
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def peak_memory_mb() -> float:
    """Peak resident memory of this process in MB (``ru_maxrss``: KiB on Linux, bytes on macOS;
    the peak working set on Windows; NaN where neither is available)."""
    try:
        import resource
    except ImportError:  # Windows
        try:
            import psutil

            info = psutil.Process().memory_info()
            return float(getattr(info, "peak_wset", info.rss)) / 2**20
        except Exception:  # pragma: no cover
            return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024
