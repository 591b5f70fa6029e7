"""One writer per output folder: an advisory lock held for the length of a run.

Two runs into one folder would mix their outputs, and each would take the other's temporary
files for a killed run's leftovers. ``flock`` (not a pid file) is used because the kernel
releases it when its holder dies, however it dies: a SIGKILLed run never blocks the rerun
that resumes it. The lock file stays (hidden, empty: never rewritten, so a no-op rerun changes
no file) in the folder; the holder's pid comes from ``/proc/locks`` where there is one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from gristmill.core.errors import GristmillError

LOCK_NAME = ".gristmill.lock"


class FolderInUseError(GristmillError):
    """Another process holds the folder's lock."""


@contextlib.contextmanager
def folder_lock(folder: Path, what: str = "gristmill run") -> Iterator[None]:
    """Hold ``folder``'s lock (creating the folder) until the block ends.

    Raises `FolderInUseError`, naming the holder, when another process holds it.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise GristmillError(f"{folder} is a file, not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _holder_pid(fd)
            holder = f" (pid {pid})" if pid else ""
            raise FolderInUseError(
                f"{folder} is in use by another {what}{holder}; wait for it to finish or "
                "choose another output folder"
            ) from None
        yield
    finally:
        os.close(fd)  # releases the lock


def _holder_pid(fd: int) -> int | None:
    """The pid holding a flock on ``fd``'s file, from Linux's ``/proc/locks``; None elsewhere."""
    st = os.fstat(fd)
    try:
        with open("/proc/locks") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].endswith(f":{st.st_ino}"):
            try:
                return int(fields[4])
            except ValueError:
                return None
    return None
