"""Atomic file commits: write beside the final path, then rename into place.

A rename within one folder is atomic on POSIX, so the final path either does not exist or
holds a whole file: a killed run never leaves a half-written output that a resumed run would
take for a finished one. ``durable`` adds an fsync before the rename, for outputs that must
survive a power cut once their name exists (documents, downloads), not for scratch data that
a rerun recomputes anyway.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

# What `temp_path` names look like: ".<name>.<pid>.tmp".
_TEMP_NAME = re.compile(r"^\..+\.\d+\.tmp$")


def temp_path(path: Path) -> Path:
    """The temporary name ``path`` is written under before its commit.

    Hidden and ending in ``.tmp``, so input globs and folder walks never pick it up; the pid
    keeps two processes that target one path from sharing a temp file. A killed attempt's
    leftovers are removed with `remove_stale_temps`.
    """
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def remove_stale_temps(folder: Path) -> int:
    """Delete the temporary files that killed writers left anywhere under ``folder``.

    Only safe while no other process writes there: callers hold the folder's lock
    (`gristmill.io.lock.folder_lock`). Returns how many were removed.
    """
    removed = 0
    for parent, _, files in os.walk(folder):
        for name in files:
            if _TEMP_NAME.match(name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(parent, name))
                    removed += 1
    return removed


def sync(fh: BinaryIO) -> None:
    """Push ``fh``'s buffered bytes through the OS cache to disk."""
    fh.flush()
    os.fsync(fh.fileno())


def commit(fh: BinaryIO, temp: Path, path: Path, *, durable: bool) -> None:
    """Close ``fh`` (open on ``temp``), fsync it first when ``durable``, and rename it to ``path``."""
    if durable:
        sync(fh)
    fh.close()
    os.replace(temp, path)


@contextlib.contextmanager
def atomic_output(path: Path, *, durable: bool = False) -> Iterator[BinaryIO]:
    """A binary file that becomes ``path`` when the ``with`` block ends without an exception.

    On an exception the temporary file is deleted and ``path`` is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path(path)
    fh = open(temp, "wb")  # noqa: SIM115 (closed by commit, or below)
    try:
        yield fh
        commit(fh, temp, path, durable=durable)
    except BaseException:
        fh.close()
        temp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: bytes, *, durable: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (see `atomic_output`)."""
    with atomic_output(path, durable=durable) as fh:
        fh.write(data)


def _umask() -> int:
    """The process umask: from ``/proc/self/status`` where Linux reports it (no change to the
    process), else by setting and restoring it."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def give_usual_mode(paths: Iterable[Path]) -> None:
    """Give files the permissions ``open()`` would have: ``0o666`` less the umask.

    safetensors (and so ``save_pretrained``) creates its files with mode 0600, readable by
    their owner only: a checkpoint or export another user should read would fail for them.
    """
    mode = 0o666 & ~_umask()
    for path in paths:
        os.chmod(path, mode)
