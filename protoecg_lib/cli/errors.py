"""The errors a command reports in one line (no traceback) before exiting with status 2."""
from __future__ import annotations

__all__ = ["UsageError"]


class UsageError(ValueError):
    """A command-line argument that cannot work; raised before anything is read or written."""
