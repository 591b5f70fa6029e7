"""`tokenize_corpus`: documents → packed, globally shuffled, numbered token chunks.

Two phases, each a list of independent tasks on any executor (DCLM tokshuf §6: per-file
tokenize-and-pack, then a shuffle; §12.8: deterministic seeds instead of Python ``hash``):

1. per input file: read, render (MeCo prefix + text + EOT), pack into windows of seq_len + 1
   (never across files, tail padded), write the windows and a document table. A done marker per
   file lets a killed run resume.
2. per output chunk: one seeded permutation of all windows of a phase (windows numbered in input
   order) is cut into consecutive slices, one per chunk; each chunk gathers its windows.

The permutation depends only on the seed and the window count, so the output is byte-identical
for any worker count and for the local and Ray executors.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import zstandard

from gristmill.core.errors import GristmillError, RecordError
from gristmill.core.executors import make_executor
from gristmill.tokenize.documents import read_documents
from gristmill.tokenize.meco import MecoConfig, cooldown_document
from gristmill.tokenize.pack import document_starts_per_window, pack_windows
from gristmill.tokenize.render import BATCH_DOCS_DEFAULT, render_batch
from gristmill.tokenize.shards import FORMAT, INDEX, chunk_stem, token_dtype
from gristmill.tokenize.vocab import eot_id, load_tokenizer, tokenizer_sha256

PHASES = ("main", "cooldown")
# DCLM writes webdataset shards of 8192 sequences (tokshuf wds_chunk_size); the default chunk size.
DEFAULT_CHUNK_SEQUENCES = 8192
PARTS_DIR = "_parts"


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, array)
    os.replace(tmp, path)


@dataclass(frozen=True)
class FileTask:
    """Tokenize and pack one input file (phase 1)."""

    part: int
    source: str
    tokenizer_path: str
    seq_len: int
    meco: dict[str, Any]
    seed: int
    out_dir: str
    fingerprint: str


def tokenize_file(task: FileTask) -> dict[str, Any]:
    """Phase 1 worker: returns the file's stats (documents, tokens, windows per phase, errors)."""
    out = Path(task.out_dir)
    work = out / PARTS_DIR
    marker = work / f"part-{task.part:05d}.done.json"
    if marker.is_file():
        stats = json.loads(marker.read_text())
        if stats.get("fingerprint") == task.fingerprint:
            return stats
    started = time.perf_counter()
    tokenizer = load_tokenizer(task.tokenizer_path)
    eot = eot_id(tokenizer)
    vocab = tokenizer.get_vocab_size(with_added_tokens=True)
    dtype = token_dtype(vocab)
    meco = MecoConfig(**task.meco)
    window = task.seq_len + 1

    pieces: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {p: [] for p in PHASES}
    offsets = dict.fromkeys(PHASES, 0)
    errors: list[dict[str, Any]] = []
    empty = 0
    doc_lines: list[bytes] = []
    batch: dict[str, list[Any]] = {p: [] for p in PHASES}

    def flush(phase: str) -> None:
        docs = batch[phase]
        if not docs:
            return
        prefixes = [meco.prefix_text(d.url, d.metadata) for d in docs] if phase == "main" and meco.enabled else None
        rendered = render_batch(tokenizer, [d.text for d in docs], prefixes, eot)
        pieces[phase].append((rendered.ids, rendered.mask, rendered.lengths))
        for d, n in zip(docs, rendered.lengths.tolist(), strict=True):
            doc_lines.append(orjson.dumps({"id": d.id, "url": d.url, "phase": phase, "start": offsets[phase], "tokens": n}))
            offsets[phase] += n
        batch[phase] = []

    for item in read_documents(task.source):
        if isinstance(item, RecordError):
            errors.append({"source": item.source, "record": item.offset, "message": item.message})
            continue
        if not item.text:
            empty += 1
            continue
        phase = "main"
        if meco.enabled and cooldown_document(item.id, meco.cooldown_fraction, task.seed):
            phase = "cooldown"
        batch[phase].append(item)
        if len(batch[phase]) >= BATCH_DOCS_DEFAULT:
            flush(phase)
    for phase in PHASES:
        flush(phase)

    stats: dict[str, Any] = {
        "part": task.part,
        "source": task.source,
        "fingerprint": task.fingerprint,
        "documents": {},
        "tokens": {},
        "windows": {},
        "empty_documents": empty,
        "errors": errors,
    }
    for phase in PHASES:
        chunks = pieces[phase]
        if chunks:
            ids = np.concatenate([c[0] for c in chunks])
            mask = np.concatenate([c[1] for c in chunks])
            lengths = np.concatenate([c[2] for c in chunks])
        else:
            ids, mask, lengths = np.zeros(0, np.uint32), np.zeros(0, np.uint8), np.zeros(0, np.int64)
        tokens, wmask = pack_windows(ids.astype(dtype), mask, window, eot)
        starts = document_starts_per_window(lengths, window, len(tokens))
        stem = work / f"part-{task.part:05d}.{phase}"
        _save_npy(Path(f"{stem}.tokens.npy"), tokens)
        _save_npy(Path(f"{stem}.mask.npy"), wmask)
        _save_npy(Path(f"{stem}.starts.npy"), starts)
        stats["documents"][phase] = len(lengths)
        stats["tokens"][phase] = len(ids)
        stats["windows"][phase] = len(tokens)
    sources = out / "sources"
    _write_atomic(
        sources / f"part-{task.part:05d}.docs.jsonl.zst",
        zstandard.ZstdCompressor(level=3).compress(b"\n".join(doc_lines) + (b"\n" if doc_lines else b"")),
    )
    stats["seconds"] = round(time.perf_counter() - started, 3)
    _write_atomic(marker, json.dumps(stats).encode())
    return stats


@dataclass(frozen=True)
class ChunkTask:
    """Gather one output chunk's windows (phase 2)."""

    number: int
    phase: str
    rows: np.ndarray  # window ids (numbered over the phase in input order), in shuffled order
    part_offsets: tuple[int, ...]  # first window id of each part in this phase
    sources: tuple[str, ...]
    out_dir: str


def write_chunk(task: ChunkTask) -> dict[str, Any]:
    """Phase 2 worker: writes chunk tokens, mask, row ids and manifest; returns the manifest."""
    out = Path(task.out_dir)
    work = out / PARTS_DIR
    offsets = np.asarray(task.part_offsets, dtype=np.int64)
    part_of = np.searchsorted(offsets, task.rows, side="right") - 1
    tokens = masks = None
    documents = 0
    per_source: dict[str, int] = {}
    for part in np.unique(part_of).tolist():
        where = np.nonzero(part_of == part)[0]
        local = task.rows[where] - offsets[part]
        stem = work / f"part-{part:05d}.{task.phase}"
        t = np.load(f"{stem}.tokens.npy", mmap_mode="r")
        m = np.load(f"{stem}.mask.npy", mmap_mode="r")
        s = np.load(f"{stem}.starts.npy", mmap_mode="r")
        if tokens is None:
            tokens = np.empty((len(task.rows), t.shape[1]), dtype=t.dtype)
            masks = np.empty((len(task.rows), t.shape[1]), dtype=np.uint8)
        order = np.argsort(local, kind="stable")  # read each part front to back
        tokens[where[order]] = t[local[order]]
        masks[where[order]] = m[local[order]]
        documents += int(s[local].sum())
        per_source[task.sources[part]] = len(local)
    assert tokens is not None and masks is not None
    stem = out / chunk_stem(task.number)
    for suffix, array in (("tokens.bin", tokens), ("mask.bin", masks)):
        tmp = Path(f"{stem}.{suffix}.tmp")
        array.tofile(tmp)
        os.replace(tmp, f"{stem}.{suffix}")
    _save_npy(Path(f"{stem}.rows.npy"), task.rows.astype(np.int64))
    manifest = {
        "chunk": task.number,
        "phase": task.phase,
        "sequences": len(task.rows),
        "tokens": int(tokens.size),
        "loss_tokens": int(masks.sum(dtype=np.int64)),
        "documents": documents,
        "sources": per_source,
    }
    _write_atomic(Path(f"{stem}.json"), json.dumps(manifest, indent=1).encode())
    return manifest


def _chunk_counts(windows: dict[str, int], chunks: int | None) -> dict[str, int]:
    """Chunks per phase: the requested total split in proportion to windows (at least one each)."""
    total = sum(windows.values())
    if chunks is None:
        return {p: (math.ceil(w / DEFAULT_CHUNK_SEQUENCES) if w else 0) for p, w in windows.items()}
    counts = {p: 0 for p in windows}
    if windows.get("cooldown"):
        counts["cooldown"] = max(1, min(windows["cooldown"], round(chunks * windows["cooldown"] / total)))
    counts["main"] = max(1, min(windows["main"], chunks - counts["cooldown"]))
    return counts


def tokenize_corpus(
    inputs: list[str],
    tokenizer_path: str | Path,
    seq_len: int,
    out: str | Path,
    *,
    meco: MecoConfig | None = None,
    chunks: int | None = None,
    seed: int = 0,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Tokenize, pack, shuffle and chunk ``inputs`` into the token folder ``out``.

    Returns the index written to ``out/index.json``. Raises `GristmillError` for bad arguments
    or when ``out`` already holds a finished token folder.
    """
    meco = meco or MecoConfig()
    out = Path(out)
    if seq_len < 1:
        raise GristmillError("--seq-len must be positive")
    if chunks is not None and chunks < 1:
        raise GristmillError("--chunks must be positive")
    if (out / INDEX).exists():
        raise GristmillError(f"{out} already holds a token folder ({INDEX}); choose another --out")
    if not inputs:
        raise GristmillError("no input files")
    tokenizer = load_tokenizer(tokenizer_path)
    vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
    eot = eot_id(tokenizer)
    tok_sha = tokenizer_sha256(tokenizer_path)
    (out / PARTS_DIR).mkdir(parents=True, exist_ok=True)
    (out / "sources").mkdir(exist_ok=True)
    fingerprint = json.dumps([tok_sha, seq_len, meco.to_dict(), seed])
    started = time.perf_counter()

    pool = make_executor(executor, workers, address)
    try:
        file_tasks = [
            FileTask(i, src, str(tokenizer_path), seq_len, meco.to_dict(), seed, str(out), fingerprint + src)
            for i, src in enumerate(inputs)
        ]
        parts: list[dict[str, Any]] = [{}] * len(file_tasks)
        for n, (i, stats) in enumerate(pool.imap(tokenize_file, file_tasks), 1):
            parts[i] = stats
            if progress:
                progress("tokenize", n, len(file_tasks))

        windows = {p: sum(s["windows"][p] for s in parts) for p in PHASES}
        if windows["main"] == 0:
            raise GristmillError("no documents with text in the inputs")
        counts = _chunk_counts(windows, chunks)
        chunk_tasks: list[ChunkTask] = []
        number = 0
        for k, phase in enumerate(PHASES):
            if not counts[phase]:
                continue
            per_part = np.array([s["windows"][phase] for s in parts], dtype=np.int64)
            offsets = tuple(int(x) for x in np.concatenate([[0], np.cumsum(per_part)[:-1]]))
            # One permutation per phase, seeded by (seed, phase): independent of workers.
            perm = np.random.default_rng([seed, k]).permutation(windows[phase])
            for rows in np.array_split(perm, counts[phase]):
                chunk_tasks.append(ChunkTask(number, phase, rows, offsets, tuple(inputs), str(out)))
                number += 1
        manifests: list[dict[str, Any]] = [{}] * len(chunk_tasks)
        for n, (i, manifest) in enumerate(pool.imap(write_chunk, chunk_tasks), 1):
            manifests[i] = manifest
            if progress:
                progress("shuffle", n, len(chunk_tasks))
    finally:
        pool.close()

    errors = [e for s in parts for e in s["errors"]]
    with open(out / "errors.jsonl", "wb") as fh:
        for e in errors:
            fh.write(orjson.dumps(e) + b"\n")
    index = {
        "format": FORMAT,
        "seq_len": seq_len,
        "dtype": token_dtype(vocab_size).name,
        "vocab_size": vocab_size,
        "eot_id": eot,
        "pad_id": eot,
        "tokenizer": {"path": str(tokenizer_path), "sha256": tok_sha},
        "meco": meco.to_dict(),
        "seed": seed,
        "inputs": [
            {
                "path": s["source"],
                "part": s["part"],
                "documents": s["documents"],
                "tokens": s["tokens"],
                "windows": s["windows"],
                "empty_documents": s["empty_documents"],
                "errors": len(s["errors"]),
            }
            for s in parts
        ],
        "chunks": [
            {"number": m["chunk"]}
            | {k: m[k] for k in ("phase", "sequences", "tokens", "loss_tokens", "documents")}
            for m in manifests
        ],
        "totals": {
            "documents": {p: sum(s["documents"][p] for s in parts) for p in PHASES},
            "tokens": {p: sum(s["tokens"][p] for s in parts) for p in PHASES},
            "sequences": windows,
            "empty_documents": sum(s["empty_documents"] for s in parts),
            "errors": len(errors),
        },
    }
    # index.json is a pure function of inputs and settings; timings go to stats.json.
    _write_atomic(out / INDEX, json.dumps(index, indent=1).encode())
    run_stats = {
        "stage": "tokenize",
        "executor": executor,
        "workers": workers,
        "seconds": round(time.perf_counter() - started, 3),
        "file_seconds": [s["seconds"] for s in parts],
        **index["totals"],
    }
    _write_atomic(out / "stats.json", json.dumps(run_stats, indent=1).encode())
    shutil.rmtree(out / PARTS_DIR, ignore_errors=True)
    return index
