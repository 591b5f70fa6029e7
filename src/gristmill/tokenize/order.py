"""The data order (LLM360): which documents, and which of their tokens, every chunk row holds,
and so exactly which documents a training checkpoint has seen.

LLM360 (Amber) publishes numbered data chunks and a checkpoint per chunk so that any model
state can be tied to the exact training data before it. A gristmill token folder records:

* ``sources/part-NNNNN.<phase>.docs.jsonl.zst``: per input file (``index["inputs"][N]``) and
  data phase, one line per document in file order: ``id``, ``url``, ``phase``, ``start``
  (offset in the file's token stream of that phase), ``tokens`` (metadata + text + EOT) and
  ``meta_tokens``.
* ``chunk-NNNNN.spans.npy``: per chunk, an int64 table with one row per (chunk row, document)
  overlap, columns `SPAN_COLUMNS`: the chunk row, the input file (part), the document's line in
  that file's table of the chunk's phase, the document token range ``[doc_start, doc_end)`` it
  contributes and where that range begins in the row (``row_start``). Sorted by row, then
  position in the row.
* ``chunk-NNNNN.rows.npy``: the window id (before shuffling) of each chunk row.

`DataOrder` turns these into `DocumentSpan` records; `checkpoint_documents` lists what a run
saw up to a checkpoint, in training order (the trainer reads each phase's chunks in number order,
consecutive rows per step, wrapping into a new epoch at the end).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import zstandard

from gristmill.core.errors import InputError
from gristmill.io.run_folder import read_run_config, read_state, resolve_checkpoint
from gristmill.tokenize.shards import TokenDataset, chunk_stem

SPAN_COLUMNS = ("row", "part", "line", "doc_start", "doc_end", "row_start")
SOURCES_DIR = "sources"


def document_table_path(root: Path, part: int, phase: str) -> Path:
    """The document table of input file ``part`` and ``phase`` in the token folder ``root``."""
    return root / SOURCES_DIR / f"part-{part:05d}.{phase}.docs.jsonl.zst"


def spans_path(root: Path, number: int) -> Path:
    return root / f"{chunk_stem(number)}.spans.npy"


def read_document_table(path: Path) -> list[dict[str, Any]]:
    """All lines of a document table (a zstd stream of JSON lines)."""
    with open(path, "rb") as fh, zstandard.ZstdDecompressor().stream_reader(fh) as reader:
        return [orjson.loads(line) for line in io.BufferedReader(reader) if line.strip()]


class DocumentTableWriter:
    """Streams one document table: JSON lines through one zstd compressor, committed by rename.

    The compressed bytes depend only on the lines, not on how they were handed over in batches
    (zstd buffers whole blocks before emitting), so outputs stay byte-identical.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        self._file = open(self.tmp, "wb")  # noqa: SIM115 - closed in close/abort
        self._zstd = zstandard.ZstdCompressor(level=3).compressobj()

    def add(self, records: list[dict[str, Any]]) -> None:
        self._file.write(self._zstd.compress(b"".join(orjson.dumps(r) + b"\n" for r in records)))

    def close(self) -> None:
        self._file.write(self._zstd.flush())
        self._file.close()
        self.tmp.replace(self.path)

    def abort(self) -> None:
        self._file.close()
        self.tmp.unlink(missing_ok=True)


def window_spans(docs: np.ndarray, windows: np.ndarray, window: int) -> tuple[np.ndarray, ...]:
    """Document pieces inside windows of one file's phase stream, without a Python loop.

    Args:
        docs: ``(n, 2)`` int64 rows ``(start, tokens)`` of the file's documents of the phase,
            in stream (= table) order: starts increasing, contiguous.
        windows: window numbers within the file (the stream is cut into rows of ``window``).
        window: tokens per window.

    Returns ``(which, line, doc_start, doc_end, row_start)``: for every (window, document)
    overlap, the index into ``windows``, the document's table line, the token range of the
    document in the window and its offset in the window. Padding belongs to no document.
    """
    starts = docs[:, 0]  # (a memory map is only searched and indexed, never read whole)
    lo = windows.astype(np.int64) * window
    first = np.searchsorted(starts, lo, side="right") - 1  # the document holding the window's first token
    last = np.searchsorted(starts, lo + window, side="left")  # one past the last document starting inside
    count = last - first
    which = np.repeat(np.arange(len(windows)), count)
    doc = np.repeat(first, count) + np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    w_lo = lo[which]
    begin = np.maximum(starts[doc], w_lo)
    end = np.minimum(starts[doc] + docs[doc, 1], w_lo + window)
    return which, doc, begin - starts[doc], end - starts[doc], begin - w_lo


@dataclass(frozen=True)
class DocumentSpan:
    """The tokens ``[doc_start, doc_end)`` of one document, found at ``row_start`` of a row.

    Token offsets count the document's own rendered tokens: MeCo metadata (``meta_tokens``
    of them) first, then its text, then EOT.
    """

    chunk: int
    row: int
    phase: str
    source: str
    id: str
    url: str
    doc_start: int
    doc_end: int
    doc_tokens: int
    meta_tokens: int
    row_start: int
    step: int | None = None  # training step that read the row (`checkpoint_documents` only)

    @property
    def row_end(self) -> int:
        return self.row_start + self.doc_end - self.doc_start


class DataOrder:
    """Maps the rows of a token folder back to documents (document tables load on demand)."""

    def __init__(self, tokens: str | Path | TokenDataset) -> None:
        self.data = tokens if isinstance(tokens, TokenDataset) else TokenDataset(tokens)
        self.root = self.data.root
        self.inputs: list[dict[str, Any]] = self.data.index["inputs"]
        self._tables: dict[tuple[int, str], list[dict[str, Any]]] = {}
        self._spans: dict[int, np.ndarray] = {}

    def _table(self, part: int, phase: str) -> list[dict[str, Any]]:
        if (part, phase) not in self._tables:
            path = document_table_path(self.root, part, phase)
            if not path.is_file():
                raise InputError(f"{path} is missing: re-run gristmill tokenize to record the data order")
            self._tables[part, phase] = read_document_table(path)
        return self._tables[part, phase]

    def spans(self, number: int) -> np.ndarray:
        """The raw span table of chunk ``number`` (columns `SPAN_COLUMNS`)."""
        if number not in self._spans:
            path = spans_path(self.root, number)
            if not path.is_file():
                raise InputError(f"{path} is missing: re-run gristmill tokenize to record the data order")
            self._spans[number] = np.load(path)
        return self._spans[number]

    def chunk_documents(self, number: int, rows: slice | None = None, step: int | None = None) -> Iterator[DocumentSpan]:
        """Every document piece in chunk ``number`` (optionally only ``rows``), in row order."""
        chunk = self.data.chunks[number]
        table = self.spans(number)
        if rows is not None:
            lo, hi, _ = rows.indices(chunk.sequences)
            table = table[np.searchsorted(table[:, 0], lo) : np.searchsorted(table[:, 0], hi)]
        for row, part, line, d0, d1, r0 in table.tolist():
            doc = self._table(part, chunk.phase)[line]
            yield DocumentSpan(chunk.number, row, chunk.phase, self.inputs[part]["path"], doc["id"], doc["url"],
                               d0, d1, doc["tokens"], doc["meta_tokens"], r0, step)

    def stream_documents(self, phase: str, start: int, count: int, *, batch: int | None = None,
                         first_step: int = 0) -> Iterator[DocumentSpan]:
        """Documents of the rows ``start .. start+count`` of a phase's stream, as the trainer
        reads them (chunks in number order, wrapping into new epochs). With ``batch`` (rows per
        step) each span carries the step that read it, counted from ``first_step``."""
        done = 0
        for chunk, local, take in self.data.row_ranges(phase, start, count):
            if batch is None:
                yield from self.chunk_documents(chunk.number, slice(local, local + take))
            else:
                # Split at step boundaries so every span is tagged with its step.
                r = 0
                while r < take:
                    step_index = (start + done + r) // batch
                    n = min(take - r, (step_index + 1) * batch - (start + done + r))
                    yield from self.chunk_documents(chunk.number, slice(local + r, local + r + n),
                                                    first_step + step_index)
                    r += n
            done += take


def checkpoint_documents(run: str | Path, checkpoint: str | Path | None = None) -> Iterator[DocumentSpan]:
    """Every document piece a training run had read when ``checkpoint`` was written (default:
    the run's latest), in training order, each tagged with its training step.

    ``{s.id for s in checkpoint_documents(run)}`` is the set of documents the model has seen.
    """
    run = Path(run)
    path = resolve_checkpoint(checkpoint if checkpoint is not None else run)
    state = read_state(path)
    config = read_run_config(run)
    order = DataOrder(config["data"]["path"])
    batch = int(config["scale"]["global_batch"])
    cooldown_from = int(config["schedule"]["cooldown_start"])
    yield from order.stream_documents("main", 0, int(state["cursor"]["main"]), batch=batch)
    yield from order.stream_documents("cooldown", 0, int(state["cursor"]["cooldown"]), batch=batch,
                                      first_step=cooldown_from)
