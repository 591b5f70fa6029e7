"""Packing a token stream into fixed windows of ``seq_len + 1`` tokens, written in large slabs.

DCLM (§6): documents are concatenated within an input file and cut into 2049-token contexts
(2048 + 1 for the next-token shift); contexts never span input files and the last partial one
of each file is padded. We pad with the EOT id and a 0 mask (instead of DCLM's out-of-vocabulary
PAD id), so padding is never a loss target and needs no extra embedding row.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: Tokens gathered before a write: few large writes, bounded memory (~20 MB per phase at uint32).
SLAB_TOKENS = 1 << 22


class WindowWriter:
    """Append a token stream (ids + loss mask) to ``<stem>.tokens.bin`` / ``<stem>.mask.bin``
    as raw rows of ``window`` tokens.

    Whole windows are cut from the pending stream with one reshape and written once
    `SLAB_TOKENS` have gathered; `close` pads the last row with ``pad_id`` (mask 0) and renames
    the files into place. Files are written under ``.tmp`` names until then, so a killed task
    leaves nothing that looks finished.
    """

    def __init__(self, stem: Path, window: int, dtype: np.dtype, pad_id: int) -> None:
        self.window, self.dtype, self.pad_id = window, np.dtype(dtype), pad_id
        self.paths = (Path(f"{stem}.tokens.bin"), Path(f"{stem}.mask.bin"))
        self._files = [open(p.with_name(p.name + ".tmp"), "wb") for p in self.paths]  # noqa: SIM115
        self._ids: list[np.ndarray] = []
        self._mask: list[np.ndarray] = []
        self._pending = 0
        self.rows = 0
        self.tokens = 0

    def append(self, ids: np.ndarray, mask: np.ndarray) -> None:
        """Add tokens (and their mask) to the stream."""
        self._ids.append(ids)
        self._mask.append(mask)
        self._pending += len(ids)
        self.tokens += len(ids)
        if self._pending >= SLAB_TOKENS:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        if not self._ids:
            return
        ids = np.concatenate(self._ids) if len(self._ids) > 1 else self._ids[0]
        mask = np.concatenate(self._mask) if len(self._mask) > 1 else self._mask[0]
        whole = len(ids) - len(ids) % self.window
        if final and whole < len(ids):
            pad = self.window - (len(ids) - whole)
            ids = np.concatenate([ids, np.full(pad, self.pad_id, dtype=ids.dtype)])
            mask = np.concatenate([mask, np.zeros(pad, dtype=mask.dtype)])
            whole = len(ids)
        ids[:whole].astype(self.dtype, copy=False).tofile(self._files[0])
        mask[:whole].tofile(self._files[1])
        self.rows += whole // self.window
        self._ids = [ids[whole:]] if whole < len(ids) else []
        self._mask = [mask[whole:]] if whole < len(mask) else []
        self._pending = len(ids) - whole

    def close(self) -> None:
        """Write the padded tail and commit the files."""
        self._flush(final=True)
        for f, path in zip(self._files, self.paths, strict=True):
            f.close()
            os.replace(f.name, path)

    def abort(self) -> None:
        for f in self._files:
            f.close()
            Path(f.name).unlink(missing_ok=True)
