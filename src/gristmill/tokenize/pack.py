"""Packing a token stream into fixed windows of ``seq_len + 1`` tokens.

DCLM (§6): documents are concatenated within an input file and cut into 2049-token contexts
(2048 + 1 for the next-token shift); contexts never span input files and the last partial one
of each file is padded. We pad with the EOT id and a 0 mask (instead of DCLM's out-of-vocabulary
PAD id), so padding is never a loss target and needs no extra embedding row.
"""

from __future__ import annotations

import numpy as np


def pack_windows(
    ids: np.ndarray, mask: np.ndarray, window: int, pad_id: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``ids``/``mask`` into rows of ``window`` tokens, padding the last row.

    Returns ``(tokens, mask)`` of shape ``(ceil(len / window), window)``.
    """
    n = len(ids)
    rows = -(-n // window)
    pad = rows * window - n
    if pad:
        ids = np.concatenate([ids, np.full(pad, pad_id, dtype=ids.dtype)])
        mask = np.concatenate([mask, np.zeros(pad, dtype=mask.dtype)])
    return ids.reshape(rows, window), mask.reshape(rows, window)


def document_starts_per_window(lengths: np.ndarray, window: int, rows: int) -> np.ndarray:
    """How many documents begin in each window (counts documents per chunk after shuffling)."""
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(lengths) else np.zeros(0, np.int64)
    return np.bincount(starts // window, minlength=rows).astype(np.uint32)
