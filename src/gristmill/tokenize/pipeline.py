"""`tokenize_corpus`: documents → packed, globally shuffled, numbered token chunks.

Two phases, each a list of independent tasks on any executor (DCLM tokshuf §6: per-file
tokenize-and-pack, then a shuffle; §12.8: deterministic seeds instead of Python ``hash``):

1. per input file: read, render (MeCo prefix + text + EOT), pack into windows of seq_len + 1
   (never across files, tail padded), write the windows and a document table. A done marker per
   file lets a killed run resume. Within a task three stages overlap: a reader thread parses
   documents into batches, an encoder thread runs `tokenizers` (Rust, GIL released, on all of
   the task's cores) and the task's thread lays tokens out and writes them in large slabs.
2. per output chunk: one seeded permutation of all windows of a phase (windows numbered in input
   order) is cut into consecutive slices, one per chunk; each chunk gathers its windows.

The permutation depends only on the seed and the window count, so the output is byte-identical
for any worker count and for the local and Ray executors.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from tokenizers import Tokenizer

from gristmill.core.document import Document
from gristmill.core.errors import GristmillError, InputError
from gristmill.core.executor import Executor, InProcessExecutor
from gristmill.io.atomic import atomic_output, write_atomic
from gristmill.tokenize.canaries import DEFAULT_COPIES, write_canaries
from gristmill.tokenize.documents import Batch, ReadReport, document_batches, prefetch
from gristmill.tokenize.meco import MecoConfig, cooldown_document
from gristmill.tokenize.order import (
    SOURCES_DIR,
    DocumentTableWriter,
    document_table_path,
    spans_path,
    window_spans,
)
from gristmill.tokenize.pack import WindowWriter
from gristmill.tokenize.render import Encoded, assemble, encode_batch
from gristmill.tokenize.shards import FORMAT, INDEX, TOKENIZER_FILE, chunk_stem, token_dtype
from gristmill.tokenize.vocab import eot_id, load_tokenizer, tokenizer_sha256

PHASES = ("main", "cooldown")
# What an input file feeds: "main" = the main phase, minus the MeCo cooldown documents chosen by
# id hash when the cooldown comes from the same pool; "cooldown" = the separate cooldown pool.
POOLS = ("main", "cooldown")
# DCLM writes webdataset shards of 8192 sequences (tokshuf wds_chunk_size); the default chunk size.
DEFAULT_CHUNK_SEQUENCES = 8192
PARTS_DIR = "_parts"


def _save_npy(path: Path, array: np.ndarray) -> None:
    # np.save to an open file adds no ".npy" suffix, so the atomic temp name is kept.
    with atomic_output(path) as fh:
        np.save(fh, array)


def part_stem(work: Path, part: int, phase: str) -> Path:
    return work / f"part-{part:05d}.{phase}"


@functools.lru_cache(maxsize=4)
def _cached_tokenizer(path: str, sha256: str) -> Tokenizer:
    # Keyed by content hash too: a file replaced between runs in one process is reloaded.
    return load_tokenizer(path)


@dataclass(frozen=True)
class FileTask:
    """Tokenize and pack one input file (phase 1)."""

    part: int
    source: str
    pool: str  # one of POOLS
    tokenizer_path: str
    tokenizer_sha256: str
    seq_len: int
    meco: dict[str, Any]
    seed: int
    out_dir: str
    fingerprint: str
    encoder_threads: int  # Rayon threads of a worker process (the driver keeps its own setting)
    driver_pid: int


def _limit_encoder_threads(task: FileTask) -> None:
    """In a worker process, give `tokenizers` (Rayon) its share of the cores: N workers each
    running Rayon on every core oversubscribe the machine N-fold. Takes effect when Rayon's
    pool starts, i.e. at the worker's first encode; an explicit RAYON_NUM_THREADS wins."""
    if os.getpid() != task.driver_pid:
        os.environ.setdefault("RAYON_NUM_THREADS", str(task.encoder_threads))


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
    _limit_encoder_threads(task)
    tokenizer = _cached_tokenizer(task.tokenizer_path, task.tokenizer_sha256)
    eot = eot_id(tokenizer)
    dtype = token_dtype(tokenizer.get_vocab_size(with_added_tokens=True))
    meco = MecoConfig(**task.meco)
    split = task.pool == "main" and meco.splits_cooldown

    def phase_of(doc: Document) -> str:
        if task.pool == "cooldown" or (split and cooldown_document(doc.id, meco.cooldown_fraction, task.seed)):
            return "cooldown"
        return "main"

    report = ReadReport()

    def prepared() -> Iterator[tuple[Batch, list[str] | None]]:
        # Runs in the reader thread: parsing and metadata strings overlap the encoder.
        for batch in document_batches(task.source, phase_of, report):
            with_meta = batch.phase == "main" and meco.enabled
            yield batch, ([meco.prefix_text(d.url, d.metadata) for d in batch.docs] if with_meta else None)

    def encoded(batches: Iterator[tuple[Batch, list[str] | None]]) -> Iterator[tuple[Batch, Encoded]]:
        # Runs in the encoder thread: tokenizers releases the GIL while it encodes.
        for batch, prefixes in batches:
            yield batch, encode_batch(tokenizer, [d.text for d in batch.docs], prefixes)

    window = task.seq_len + 1
    writers = {p: WindowWriter(part_stem(work, task.part, p), window, dtype, eot) for p in PHASES}
    offsets = dict.fromkeys(PHASES, 0)
    # Per phase: (start, tokens) of every document, in table order, for the chunk span tables.
    doc_rows: dict[str, list[np.ndarray]] = {p: [] for p in PHASES}
    tables: dict[str, DocumentTableWriter] = {}
    try:
        for batch, enc in prefetch(encoded(prefetch(prepared()))):
            rendered = assemble(enc, eot)
            phase = batch.phase
            writers[phase].append(rendered.ids, rendered.mask)
            starts = offsets[phase] + np.cumsum(rendered.lengths) - rendered.lengths
            offsets[phase] += int(rendered.lengths.sum())
            doc_rows[phase].append(np.column_stack([starts, rendered.lengths]))
            if phase not in tables:
                tables[phase] = DocumentTableWriter(document_table_path(out, task.part, phase))
            tables[phase].add([
                {"id": d.id, "url": d.url, "phase": phase, "start": s, "tokens": k, "meta_tokens": m}
                for d, s, k, m in zip(batch.docs, starts.tolist(), rendered.lengths.tolist(),
                                      rendered.prefix_lengths.tolist(), strict=True)
            ])
        for w in writers.values():
            w.close()
        for t in tables.values():
            t.close()
    except BaseException:
        for w in writers.values():
            w.abort()
        for t in tables.values():
            t.abort()
        raise

    stats: dict[str, Any] = {
        "part": task.part,
        "source": task.source,
        "pool": task.pool,
        "fingerprint": task.fingerprint,
        "documents": {p: sum(len(d) for d in doc_rows[p]) for p in PHASES},
        "tokens": {p: writers[p].tokens for p in PHASES},
        "windows": {p: writers[p].rows for p in PHASES},
        "empty_documents": report.empty,
        "errors": [{"source": e.source, "record": e.offset, "message": e.message} for e in report.errors],
    }
    for phase in PHASES:
        docs = np.concatenate(doc_rows[phase]) if doc_rows[phase] else np.zeros((0, 2), np.int64)
        _save_npy(Path(f"{part_stem(work, task.part, phase)}.docs.npy"), docs.astype(np.int64))
    stats["seconds"] = round(time.perf_counter() - started, 3)
    write_atomic(marker, json.dumps(stats).encode())
    return stats


@dataclass(frozen=True)
class ChunkTask:
    """Gather one output chunk's windows (phase 2)."""

    number: int
    phase: str
    rows: np.ndarray  # window ids (numbered over the phase in input order), in shuffled order
    part_offsets: tuple[int, ...]  # first window id of each part in this phase
    part_windows: tuple[int, ...]  # windows of each part in this phase
    sources: tuple[str, ...]
    out_dir: str
    dtype: str


def write_chunk(task: ChunkTask) -> dict[str, Any]:
    """Phase 2 worker: writes chunk tokens, mask, row ids and manifest; returns the manifest."""
    out = Path(task.out_dir)
    work = out / PARTS_DIR
    offsets = np.asarray(task.part_offsets, dtype=np.int64)
    # Visit rows in window order, so each part file is read front to back, one part at a time.
    order = np.argsort(task.rows, kind="stable")
    ordered = task.rows[order]
    part_of = np.searchsorted(offsets, ordered, side="right") - 1
    tokens: np.ndarray | None = None
    masks: np.ndarray | None = None
    spans: list[np.ndarray] = []
    per_source: dict[str, int] = {}
    for part in np.unique(part_of).tolist():
        lo, hi = np.searchsorted(part_of, [part, part + 1])
        local = ordered[lo:hi] - offsets[part]
        stem = part_stem(work, part, task.phase)
        t = np.memmap(f"{stem}.tokens.bin", dtype=task.dtype, mode="r").reshape(task.part_windows[part], -1)
        m = np.memmap(f"{stem}.mask.bin", dtype=np.uint8, mode="r").reshape(t.shape)
        if tokens is None:
            tokens = np.empty((len(task.rows), t.shape[1]), dtype=t.dtype)
            masks = np.empty((len(task.rows), t.shape[1]), dtype=np.uint8)
        tokens[order[lo:hi]] = t[local]
        masks[order[lo:hi]] = m[local]
        which, line, d0, d1, r0 = window_spans(np.load(f"{stem}.docs.npy"), local, t.shape[1])
        spans.append(np.column_stack([order[lo:hi][which], np.full(len(which), part), line, d0, d1, r0]))
        source = task.sources[part]
        per_source[source] = per_source.get(source, 0) + int(hi - lo)
    assert tokens is not None and masks is not None
    span_table = np.concatenate(spans)
    span_table = span_table[np.lexsort((span_table[:, 5], span_table[:, 0]))]
    stem = out / chunk_stem(task.number)
    for suffix, array in (("tokens.bin", tokens), ("mask.bin", masks)):
        with atomic_output(Path(f"{stem}.{suffix}")) as fh:
            array.tofile(fh)
    _save_npy(Path(f"{stem}.rows.npy"), task.rows.astype(np.int64))
    _save_npy(spans_path(out, task.number), span_table.astype(np.int64))
    manifest = {
        "chunk": task.number,
        "phase": task.phase,
        "sequences": len(task.rows),
        "tokens": int(tokens.size),
        "loss_tokens": int(masks.sum(dtype=np.int64)),
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
    cooldown_inputs: list[str] | None = None,
    chunks: int | None = None,
    seed: int = 0,
    executor: Executor | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    canaries: int = 0,
    canary_copies: int = DEFAULT_COPIES,
) -> dict[str, Any]:
    """Tokenize, pack, shuffle and chunk ``inputs`` into the token folder ``out``.

    With MeCo, the metadata-free cooldown data comes either from ``inputs`` themselves (a
    ``meco.cooldown_fraction`` share of documents chosen by id hash) or, when
    ``cooldown_inputs`` are given, from those files only: a separate pool never seen in the
    main phase, as MeCo trained its cooldown (training.md §1.3).

    ``canaries`` > 0 plants that many canary sequences, ``canary_copies`` times each, as an
    extra input file (`gristmill.tokenize.canaries`), a control for memorization analysis.

    Tasks run on ``executor`` (the caller's process pool or Ray; in this process when None);
    the result does not depend on which. Returns the index written to ``out/index.json``.
    Raises `GristmillError` for bad arguments or when ``out`` already holds a finished token
    folder.
    """
    meco = meco or MecoConfig()
    out = Path(out)
    cooldown_inputs = list(cooldown_inputs or [])
    if seq_len < 1:
        raise GristmillError("--seq-len must be positive")
    if chunks is not None and chunks < 1:
        raise GristmillError("--chunks must be positive")
    if (out / INDEX).exists():
        raise GristmillError(f"{out} already holds a token folder ({INDEX}); choose another --out")
    if not inputs:
        raise GristmillError("no input files")
    if cooldown_inputs and not meco.enabled:
        raise GristmillError("--cooldown-input is the MeCo cooldown pool; it needs --meco")
    if cooldown_inputs:
        # The separate pool replaces the hash split: main inputs all feed the main phase.
        meco = dataclasses.replace(meco, cooldown_pool="inputs")
    if not Path(tokenizer_path).is_file():
        raise InputError(f"tokenizer file not found: {tokenizer_path}")
    tok_sha = tokenizer_sha256(tokenizer_path)
    tokenizer = _cached_tokenizer(str(tokenizer_path), tok_sha)
    vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
    eot = eot_id(tokenizer)
    (out / PARTS_DIR).mkdir(parents=True, exist_ok=True)
    (out / SOURCES_DIR).mkdir(exist_ok=True)
    # The token folder carries its tokenizer, so training and export never depend on the
    # original file staying where it was.
    shutil.copyfile(tokenizer_path, out / TOKENIZER_FILE)
    canary_record = None
    if canaries:
        canary_path, canary_record = write_canaries(out, tokenizer, canaries, canary_copies, seed)
        inputs = [*inputs, str(canary_path)]
    fingerprint = json.dumps([tok_sha, seq_len, meco.to_dict(), seed, canaries, canary_copies])
    started = time.perf_counter()
    sources = [(src, "main") for src in inputs] + [(src, "cooldown") for src in cooldown_inputs]
    dtype = token_dtype(vocab_size)

    pool = executor or InProcessExecutor()
    try:
        threads = max(1, (os.cpu_count() or 1) // max(1, min(pool.workers, len(sources))))
        file_tasks = [
            FileTask(i, src, role, str(tokenizer_path), tok_sha, seq_len, meco.to_dict(), seed, str(out),
                     json.dumps([fingerprint, src, role]), threads, os.getpid())
            for i, (src, role) in enumerate(sources)
        ]
        parts: list[dict[str, Any]] = [{}] * len(file_tasks)
        for n, (i, stats) in enumerate(pool.imap(tokenize_file, file_tasks), 1):
            parts[i] = stats
            if progress:
                progress("tokenize", n, len(file_tasks))

        windows = {p: sum(s["windows"][p] for s in parts) for p in PHASES}
        if windows["main"] == 0:
            raise GristmillError("no documents with text in the inputs")
        if cooldown_inputs and windows["cooldown"] == 0:
            raise GristmillError("no documents with text in the --cooldown-input files")
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
                chunk_tasks.append(ChunkTask(number, phase, rows, offsets, tuple(int(w) for w in per_part),
                                             tuple(src for src, _ in sources), str(out), dtype.name))
                number += 1
        manifests: list[dict[str, Any]] = [{}] * len(chunk_tasks)
        for n, (i, manifest) in enumerate(pool.imap(write_chunk, chunk_tasks), 1):
            manifests[i] = manifest
            if progress:
                progress("shuffle", n, len(chunk_tasks))
    finally:
        if executor is None:
            pool.close()  # the caller's executor is the caller's to close

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
        "tokenizer": {"path": str(tokenizer_path), "sha256": tok_sha, "file": TOKENIZER_FILE},
        "meco": meco.to_dict(),
        "seed": seed,
        **({"canaries": canary_record} if canary_record else {}),
        "inputs": [
            {
                "path": s["source"],
                "part": s["part"],
                "pool": s["pool"],
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
    write_atomic(out / INDEX, json.dumps(index, indent=1).encode())
    run_stats = {
        "stage": "tokenize",
        "executor": pool.kind,
        "workers": pool.workers,
        "seconds": round(time.perf_counter() - started, 3),
        "file_seconds": [s["seconds"] for s in parts],
        **index["totals"],
    }
    write_atomic(out / "stats.json", json.dumps(run_stats, indent=1).encode())
    shutil.rmtree(out / PARTS_DIR, ignore_errors=True)
    return index
