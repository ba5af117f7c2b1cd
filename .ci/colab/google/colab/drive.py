"""Stand-in for ``google.colab.drive``: ``mount(mountpoint)`` makes ``mountpoint/MyDrive`` a folder.

The folder is ``$COLAB_SIM_DRIVE`` (linked) when set, so a test can look at what was kept "on Drive"
after the kernel is gone; otherwise a plain folder under the mount point.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["mount", "mounts"]

#: Mount points mounted in this process, in order (a test reads it).
mounts: list[str] = []


def mount(mountpoint: str, force_remount: bool = False, timeout_ms: int = 120000, readonly: bool = False) -> None:
    """Make ``mountpoint/MyDrive`` exist, as Colab's ``drive.mount`` does after the user allows it."""
    point = Path(mountpoint)
    point.mkdir(parents=True, exist_ok=True)
    my_drive = point / "MyDrive"
    target = os.environ.get("COLAB_SIM_DRIVE")
    if not my_drive.exists():
        if target:
            Path(target).mkdir(parents=True, exist_ok=True)
            my_drive.symlink_to(Path(target).resolve(), target_is_directory=True)
        else:
            my_drive.mkdir()
    mounts.append(str(point))
    print(f"Mounted at {mountpoint}")
