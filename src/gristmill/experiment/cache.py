"""Stage folders named by the content hash of their inputs and configuration.

A stage's folder is ``WORK/<kind>/<name>-<hash12>``; it is finished when it holds ``done.json``
(written last, atomically: what the stage produced, its seconds and its full key). A folder
without ``done.json`` is an interrupted stage: its stage resumes or restarts it. Changing
anything a stage depends on changes its hash, so an edited arm gets new folders and the old
ones stay valid for the arms that still use them; rerunning an unchanged experiment finds
every ``done.json`` and does nothing (DCLM's runs chain by UUID instead, copied by hand).

Pool files are identified by the sha256 of their bytes, memoised per (path, size, mtime) in
``WORK/file-digests.json`` so that a rerun does not read the pool again.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gristmill.experiment.spec import digest
from gristmill.io.atomic import write_atomic

DONE = "done.json"
DIGESTS = "file-digests.json"


@dataclass(frozen=True)
class Stage:
    kind: str
    name: str
    key: dict[str, Any]
    folder: Path

    @property
    def hash(self) -> str:
        return digest(self.key)

    @property
    def done(self) -> bool:
        return (self.folder / DONE).is_file()

    def result(self) -> dict[str, Any]:
        return json.loads((self.folder / DONE).read_text())


class StageCache:
    """Where an experiment's stages live, and the record of which are finished."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self._digests: dict[str, str] | None = None

    def stage(self, kind: str, name: str, key: dict[str, Any]) -> Stage:
        full = {"kind": kind, **key}
        return Stage(kind, name, full, self.work / kind / f"{name}-{digest(full)[:12]}")

    def run(self, stage: Stage, work: Callable[[Path], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        """The stage's result, computing it with ``work(folder)`` unless already done.
        Returns (result, reused)."""
        if stage.done:
            return stage.result(), True
        stage.folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        out = work(stage.folder)
        out = {**out, "seconds": round(time.perf_counter() - started, 3), "key": stage.key}
        write_atomic(stage.folder / DONE, (json.dumps(out, indent=1, sort_keys=True) + "\n").encode())
        return out, False

    # -- pool file identity -------------------------------------------------------------

    def file_digest(self, path: Path) -> str:
        """sha256 of a file's bytes, memoised by (path, size, mtime)."""
        if self._digests is None:
            memo = self.work / DIGESTS
            self._digests = json.loads(memo.read_text()) if memo.is_file() else {}
        st = path.stat()
        memo_key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
        if memo_key not in self._digests:
            h = hashlib.sha256()
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            self._digests[memo_key] = h.hexdigest()
            self.work.mkdir(parents=True, exist_ok=True)
            write_atomic(self.work / DIGESTS, json.dumps(self._digests, indent=0).encode())
        return self._digests[memo_key]

