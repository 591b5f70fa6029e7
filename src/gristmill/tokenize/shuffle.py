"""The global shuffle of packed windows in bounded memory: a two-pass bucketed shuffle.

DCLM's Rust tokshuf shuffles with fixed buffers instead of one permutation in memory (DCLM
§6, `rust_processing/tokshuf-rs`); at DCLM's size (3.8T tokens, about 1.9 billion 2049-token
windows) a permutation held by one process would take 15 GB. Here:

* every window gets a 64-bit shuffle key, a seeded SplitMix64 hash of (input file, window
  number within the file) (`shuffle_keys`), distinct for distinct windows. The shuffled order
  is *all windows sorted by key*: a function of the seed and the windows only, so the output
  is the same for any worker count, executor and bucket count;
* pass 1, per input file (inside `tokenize_file`): the file's windows are sorted by key and the
  sorted keys and window numbers are saved beside them (`save_part_order`);
* between the passes, the key space is cut into K equal ranges (buckets) sized so that one
  bucket's windows fit in ``buffer_bytes``; each file counts its windows per bucket
  (`count_buckets`, a search in its sorted keys) and the driver adds the counts up (K numbers);
* pass 2, per output chunk (`write_chunk`): a chunk is a range of positions in the sorted
  order, so it is made of consecutive buckets; it loads one bucket at a time from every file
  (a contiguous slice of each file's sorted keys), sorts it, gathers the windows it needs and
  appends them to the chunk files.

No process ever holds more than one bucket of windows, one file's keys (pass 1) or K counts
(the driver); the buffer bounds memory whatever the corpus size. Chunk sizes are those of
``np.array_split`` (equal to within one row).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gristmill.core.hashing import mix64
from gristmill.io.atomic import atomic_output, write_atomic
from gristmill.tokenize.order import spans_path, window_spans
from gristmill.tokenize.shards import chunk_stem

#: Default bound on the windows one shuffle task holds at once (bytes of tokens, mask and keys).
DEFAULT_BUFFER_BYTES = 256 << 20
MIN_BUFFER_BYTES = 64 << 10
# Buckets per chunk at least: a chunk's first and last buckets are shared with its neighbours
# and sorted by both, so more buckets per chunk waste less.
_MIN_BUCKETS_PER_CHUNK = 4
_KEY_SPACE = 1 << 64
_PART_BITS = 32


def shuffle_keys(seed: int, phase_index: int, part: int, count: int) -> np.ndarray:
    """The shuffle keys of windows ``0 .. count-1`` of input file ``part`` in one phase.

    SplitMix64 is a bijection of its input, so distinct (file, window) pairs never share a key
    (files and windows per file are below 2^32) and no tie needs breaking."""
    if count >= 1 << _PART_BITS or part >= 1 << _PART_BITS:
        raise ValueError("at most 2^32 input files and 2^32 windows per file")
    ids = (np.uint64(part) << np.uint64(_PART_BITS)) | np.arange(count, dtype=np.uint64)
    return mix64(ids, seed * 2 + phase_index)


def save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_output(path) as fh:
        np.save(fh, array)


def save_part_order(stem: Path, seed: int, phase_index: int, part: int, windows: int) -> None:
    """Pass 1: ``<stem>.keys.npy`` (the file's window keys, sorted) and ``<stem>.order.npy``
    (the window numbers in that order)."""
    keys = shuffle_keys(seed, phase_index, part, windows)
    order = np.argsort(keys, kind="stable")
    save_npy(Path(f"{stem}.keys.npy"), keys[order])
    save_npy(Path(f"{stem}.order.npy"), order.astype(np.int64))


def bucket_count(windows: int, chunks: int, bytes_per_window: int, buffer_bytes: int) -> int:
    """Buckets for ``windows`` windows: enough that one bucket fits ``buffer_bytes`` on average,
    and at least a few per chunk; never more than there are windows."""
    by_memory = math.ceil(windows * bytes_per_window / max(1, buffer_bytes))
    return max(1, min(max(windows, 1), max(by_memory, chunks * _MIN_BUCKETS_PER_CHUNK)))


def bucket_edges(buckets: int) -> list[int]:
    """The lowest key of each of ``buckets`` equal ranges of the 64-bit key space, and 2^64."""
    return [(i * _KEY_SPACE) // buckets for i in range(buckets + 1)]


def _key_slice(keys: np.ndarray, lo: int, hi: int) -> tuple[int, int]:
    """Index range of the sorted ``keys`` that lie in ``[lo, hi)`` (``hi`` may be 2^64)."""
    a = int(np.searchsorted(keys, np.uint64(lo), side="left"))
    b = len(keys) if hi >= _KEY_SPACE else int(np.searchsorted(keys, np.uint64(hi), side="left"))
    return a, b


@dataclass(frozen=True)
class CountTask:
    """Count one file's windows of one phase per bucket (between the passes)."""

    stem: str
    buckets: int


def count_buckets(task: CountTask) -> np.ndarray:
    keys = np.load(f"{task.stem}.keys.npy", mmap_mode="r")
    edges = np.array(bucket_edges(task.buckets)[1:-1], dtype=np.uint64)
    cuts = np.concatenate([[0], np.searchsorted(keys, edges, side="left"), [len(keys)]])
    return np.diff(cuts).astype(np.int64)


@dataclass(frozen=True)
class ChunkTask:
    """Pass 2: write one output chunk, positions ``[start, stop)`` of the phase's sorted order."""

    number: int
    phase: str
    start: int
    stop: int
    first_bucket: int
    bucket_starts: tuple[int, ...]  # sorted position of the first window of buckets first_bucket..
    buckets: int
    part_stems: tuple[str, ...]
    part_offsets: tuple[int, ...]  # first window id of each file in this phase (input order)
    part_windows: tuple[int, ...]
    sources: tuple[str, ...]
    out_dir: str
    dtype: str
    window: int


def plan_chunks(phase: str, windows: int, chunks: int, first_number: int, bucket_totals: np.ndarray,
                common: dict[str, Any]) -> list[ChunkTask]:
    """One task per chunk of the phase; ``bucket_totals`` are the windows per bucket."""
    starts = np.concatenate([[0], np.cumsum(bucket_totals)])
    bounds = np.concatenate([[0], np.cumsum([len(a) for a in np.array_split(np.empty(windows), chunks)])])
    tasks = []
    for i in range(chunks):
        start, stop = int(bounds[i]), int(bounds[i + 1])
        first = int(np.searchsorted(starts, start, side="right")) - 1
        last = int(np.searchsorted(starts, stop - 1, side="right")) - 1
        tasks.append(ChunkTask(first_number + i, phase, start, stop, first,
                               tuple(int(s) for s in starts[first : last + 2]), len(bucket_totals),
                               **common))
    return tasks


def _bucket_windows(task: ChunkTask, bucket: int) -> tuple[np.ndarray, np.ndarray]:
    """(file, window number) of every window in ``bucket``, in shuffled (key) order."""
    edges = bucket_edges(task.buckets)
    keys, parts, local = [], [], []
    for part, stem in enumerate(task.part_stems):
        if not task.part_windows[part]:
            continue
        part_keys = np.load(f"{stem}.keys.npy", mmap_mode="r")
        a, b = _key_slice(part_keys, edges[bucket], edges[bucket + 1])
        if a < b:
            keys.append(np.asarray(part_keys[a:b]))
            local.append(np.load(f"{stem}.order.npy", mmap_mode="r")[a:b])
            parts.append(np.full(b - a, part, dtype=np.int64))
    if not keys:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = np.argsort(np.concatenate(keys), kind="stable")
    return np.concatenate(parts)[order], np.concatenate(local)[order]


def _chunk_pieces(task: ChunkTask) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The chunk's windows as (file, window number) arrays, one bucket's share at a time."""
    for i, begin in enumerate(task.bucket_starts[:-1]):
        end = task.bucket_starts[i + 1]
        lo, hi = max(task.start, begin), min(task.stop, end)
        if lo >= hi:
            continue
        parts, local = _bucket_windows(task, task.first_bucket + i)
        assert len(parts) == end - begin, "bucket counts changed between the passes"
        yield parts[lo - begin : hi - begin], local[lo - begin : hi - begin]


def write_chunk(task: ChunkTask) -> dict[str, Any]:
    """Pass 2 worker: writes chunk tokens, mask, row ids, spans and manifest; returns the manifest."""
    out = Path(task.out_dir)
    stem = out / chunk_stem(task.number)
    offsets = np.asarray(task.part_offsets, dtype=np.int64)
    rows, spans = [], []
    per_part: dict[int, int] = {}
    loss_tokens = 0
    done = 0
    with atomic_output(Path(f"{stem}.tokens.bin")) as tok_fh, atomic_output(Path(f"{stem}.mask.bin")) as mask_fh:
        for parts, local in _chunk_pieces(task):
            tokens = np.empty((len(parts), task.window), dtype=task.dtype)
            masks = np.empty((len(parts), task.window), dtype=np.uint8)
            # Read each file front to back, one file at a time.
            by_file = np.lexsort((local, parts))
            for part in np.unique(parts).tolist():
                lo, hi = np.searchsorted(parts[by_file], [part, part + 1])
                where = by_file[lo:hi]
                p_stem = task.part_stems[part]
                shape = (task.part_windows[part], task.window)
                t = np.memmap(f"{p_stem}.tokens.bin", dtype=task.dtype, mode="r", shape=shape)
                m = np.memmap(f"{p_stem}.mask.bin", dtype=np.uint8, mode="r", shape=shape)
                tokens[where], masks[where] = t[local[where]], m[local[where]]
                docs = np.load(f"{p_stem}.docs.npy", mmap_mode="r")
                which, line, d0, d1, r0 = window_spans(docs, local[where], task.window)
                spans.append(np.column_stack([done + where[which], np.full(len(which), part),
                                              line, d0, d1, r0]))
                per_part[part] = per_part.get(part, 0) + int(hi - lo)
            tokens.tofile(tok_fh)
            masks.tofile(mask_fh)
            loss_tokens += int(masks.sum(dtype=np.int64))
            rows.append(offsets[parts] + local)
            done += len(parts)
    per_source: dict[str, int] = {}
    for part, count in sorted(per_part.items()):
        per_source[task.sources[part]] = per_source.get(task.sources[part], 0) + count
    span_table = np.concatenate(spans)
    span_table = span_table[np.lexsort((span_table[:, 5], span_table[:, 0]))].astype(np.int64)
    save_npy(Path(f"{stem}.rows.npy"), np.concatenate(rows).astype(np.int64))
    save_npy(spans_path(out, task.number), span_table)
    manifest = {
        "chunk": task.number,
        "phase": task.phase,
        "sequences": done,
        "tokens": done * task.window,
        "loss_tokens": loss_tokens,
        "documents": int((span_table[:, 3] == 0).sum()),  # documents that begin in this chunk
        "document_spans": len(span_table),
        "sources": per_source,
        # The data order (gristmill.tokenize.order): which window each row is, and which
        # documents (file, table line, token range) each row holds.
        "rows_file": f"{stem.name}.rows.npy",
        "spans_file": spans_path(out, task.number).name,
    }
    write_atomic(Path(f"{stem}.json"), json.dumps(manifest, indent=1).encode())
    return manifest
