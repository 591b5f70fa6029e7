"""`tokenize_corpus`: documents → packed, globally shuffled, numbered token chunks.

Two phases, each a list of independent tasks on any executor (DCLM tokshuf §6: per-file
tokenize-and-pack, then a shuffle; §12.8: deterministic seeds instead of Python ``hash``):

1. per input file: read, render (MeCo prefix + text + EOT), pack into windows of seq_len + 1
   (never across files, tail padded), write the windows and a document table. A done marker per
   file lets a killed run resume. Within a task three stages overlap: a reader thread parses
   documents into batches, an encoder thread runs `tokenizers` (Rust, GIL released, on all of
   the task's cores) and the task's thread lays tokens out and writes them in large slabs.
   The file's windows are also ordered by their seeded shuffle keys (pass 1 of the bucketed
   shuffle, `gristmill.tokenize.shuffle`).
2. per output chunk: the chunk's range of the phase's key order, gathered one bucket of the key
   space at a time (pass 2), so that no task holds more than the shuffle buffer.

The order depends only on the seed and the windows, so the output is byte-identical for any
worker count, shuffle buffer and for the local and Ray executors.
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
from gristmill.io.atomic import write_atomic
from gristmill.tokenize.canaries import DEFAULT_COPIES, write_canaries
from gristmill.tokenize.documents import Batch, ReadReport, document_batches, prefetch
from gristmill.tokenize.meco import MecoConfig, cooldown_document
from gristmill.tokenize.order import (
    SOURCES_DIR,
    DocumentTableWriter,
    document_table_path,
)
from gristmill.tokenize.pack import WindowWriter
from gristmill.tokenize.render import Encoded, assemble, encode_batch
from gristmill.tokenize.shards import FORMAT, INDEX, TOKENIZER_FILE, token_dtype
from gristmill.tokenize.shuffle import (
    DEFAULT_BUFFER_BYTES,
    MIN_BUFFER_BYTES,
    ChunkTask,
    CountTask,
    bucket_count,
    count_buckets,
    plan_chunks,
    save_npy,
    save_part_order,
    write_chunk,
)
from gristmill.tokenize.vocab import eot_id, load_tokenizer, tokenizer_sha256

PHASES = ("main", "cooldown")
# What an input file feeds: "main" = the main phase, minus the MeCo cooldown documents chosen by
# id hash when the cooldown comes from the same pool; "cooldown" = the separate cooldown pool.
POOLS = ("main", "cooldown")
# DCLM writes webdataset shards of 8192 sequences (tokshuf wds_chunk_size); the default chunk size.
DEFAULT_CHUNK_SEQUENCES = 8192
PARTS_DIR = "_parts"


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
    for k, phase in enumerate(PHASES):
        stem = part_stem(work, task.part, phase)
        docs = np.concatenate(doc_rows[phase]) if doc_rows[phase] else np.zeros((0, 2), np.int64)
        save_npy(Path(f"{stem}.docs.npy"), docs.astype(np.int64))
        save_part_order(stem, task.seed, k, task.part, writers[phase].rows)
    stats["seconds"] = round(time.perf_counter() - started, 3)
    write_atomic(marker, json.dumps(stats).encode())
    return stats


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
    shuffle_buffer: int = DEFAULT_BUFFER_BYTES,
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

    The shuffle is bucketed (`gristmill.tokenize.shuffle`): no task holds more than about
    ``shuffle_buffer`` bytes of windows, and the order does not depend on it.

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
    if shuffle_buffer < MIN_BUFFER_BYTES:
        raise GristmillError(f"--shuffle-buffer must be at least {MIN_BUFFER_BYTES >> 10} KiB, "
                             f"got {shuffle_buffer} bytes")
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
        bytes_per_window = (seq_len + 1) * (dtype.itemsize + 1) + 24  # tokens, mask, key, number
        stems = tuple(str(part_stem(out / PARTS_DIR, i, phase)) for i in range(len(sources))
                      for phase in PHASES)
        chunk_tasks: list[ChunkTask] = []
        buckets: dict[str, int] = {}
        for k, phase in enumerate(PHASES):
            if not counts[phase]:
                continue
            per_part = tuple(int(s["windows"][phase]) for s in parts)
            phase_stems = stems[k :: len(PHASES)]
            buckets[phase] = bucket_count(windows[phase], counts[phase], bytes_per_window, shuffle_buffer)
            totals = np.zeros(buckets[phase], dtype=np.int64)
            count_tasks = [CountTask(stem, buckets[phase]) for stem, n in zip(phase_stems, per_part, strict=True) if n]
            for _, part_counts in pool.imap(count_buckets, count_tasks):
                totals += part_counts
            common = {
                "part_stems": phase_stems,
                "part_offsets": tuple(int(x) for x in np.cumsum((0, *per_part[:-1]))),
                "part_windows": per_part,
                "sources": tuple(src for src, _ in sources),
                "out_dir": str(out),
                "dtype": dtype.name,
                "window": seq_len + 1,
            }
            chunk_tasks += plan_chunks(phase, windows[phase], counts[phase], len(chunk_tasks), totals, common)
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
        "shuffle_buffer_bytes": shuffle_buffer,
        "shuffle_buckets": buckets,
        **index["totals"],
    }
    write_atomic(out / "stats.json", json.dumps(run_stats, indent=1).encode())
    shutil.rmtree(out / PARTS_DIR, ignore_errors=True)
    return index
