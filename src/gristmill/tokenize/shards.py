"""The on-disk token dataset written by `gristmill tokenize` and read by the trainer.

Layout of a token folder (LLM360-style numbered chunks; DESIGN "token shards as numpy-memmap
.bin + JSON index with per-chunk manifests")::

    index.json                 format, seq_len, dtype, tokenizer, MeCo config, seed, inputs, chunks,
                               totals
    tokenizer.json             a copy of the tokenizer the tokens were made with
    chunk-00000.tokens.bin     raw (sequences, seq_len + 1) array of token ids (uint16/uint32)
    chunk-00000.mask.bin       raw (sequences, seq_len + 1) uint8 loss mask (0 = metadata/padding)
    chunk-00000.rows.npy       for each row, its window id before shuffling (the data order)
    chunk-00000.spans.npy      for each (row, document) overlap: file, table line, token range
    chunk-00000.json           manifest: phase, sequences, tokens, documents, windows per source
    sources/part-00000.main.docs.jsonl.zst   per input file (index "inputs"[i] is part i) and
                               phase (main, cooldown), per document in file order:
                               id, url, phase, start (token offset in the file's stream of that
                               phase), tokens (metadata + text + EOT), meta_tokens
    errors.jsonl               bad input records (file, record, message)

Chunks belong to a *phase*: ``main`` (with MeCo metadata when enabled) and ``cooldown`` (the
metadata-free MeCo cooldown pool). Within a phase the trainer reads chunks in number order.
Windows of a phase are numbered over the input files in index order; `gristmill.tokenize.order`
maps any chunk row back to the documents (and token spans) it holds: the LLM360 data order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gristmill.core.errors import InputError

FORMAT = "gristmill-tokens/1"
INDEX = "index.json"
TOKENIZER_FILE = "tokenizer.json"


def chunk_stem(number: int) -> str:
    return f"chunk-{number:05d}"


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 halves disk and page-cache use whenever ids fit (GPT-NeoX: 50,280 < 65,536)."""
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


@dataclass(frozen=True)
class Chunk:
    number: int
    phase: str
    sequences: int
    tokens: int
    documents: int


class TokenDataset:
    """Read access to a token folder: rows of ``seq_len + 1`` tokens and their loss mask."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        index_path = self.root / INDEX
        if not index_path.is_file():
            raise InputError(f"{self.root} is not a token folder (no {INDEX}; run gristmill tokenize)")
        self.index: dict[str, Any] = json.loads(index_path.read_text())
        if self.index.get("format") != FORMAT:
            raise InputError(f"{index_path}: unknown format {self.index.get('format')!r}")
        self.seq_len: int = int(self.index["seq_len"])
        self.window = self.seq_len + 1
        self.vocab_size: int = int(self.index["vocab_size"])
        self.eot_id: int = int(self.index["eot_id"])
        self.dtype = np.dtype(self.index["dtype"])
        self.meco: dict[str, Any] = self.index["meco"]
        self.chunks = [Chunk(**{k: c[k] for k in Chunk.__dataclass_fields__}) for c in self.index["chunks"]]
        self._maps: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def tokenizer_path(self) -> Path:
        """The tokenizer the tokens were made with (the folder's copy when it has one)."""
        copy = self.root / TOKENIZER_FILE
        return copy if copy.is_file() else Path(self.index["tokenizer"]["path"])

    def phase_chunks(self, phase: str) -> list[Chunk]:
        return [c for c in self.chunks if c.phase == phase]

    def phase_rows(self, phase: str) -> int:
        return sum(c.sequences for c in self.phase_chunks(phase))

    def chunk_bounds(self, phase: str) -> np.ndarray:
        """Cumulative row offsets of the phase's chunks: chunk i holds rows [b[i], b[i+1])."""
        sizes = [c.sequences for c in self.phase_chunks(phase)]
        return np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])

    def _arrays(self, chunk: Chunk) -> tuple[np.ndarray, np.ndarray]:
        if chunk.number not in self._maps:
            stem = self.root / chunk_stem(chunk.number)
            shape = (chunk.sequences, self.window)
            tokens = np.memmap(f"{stem}.tokens.bin", dtype=self.dtype, mode="r", shape=shape)
            mask = np.memmap(f"{stem}.mask.bin", dtype=np.uint8, mode="r", shape=shape)
            self._maps[chunk.number] = (tokens, mask)
        return self._maps[chunk.number]

    def read_rows(self, phase: str, start: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``start .. start+count`` of the phase's stream (chunks in order; wraps around
        into a new epoch when the data is exhausted). Returns int64 tokens and uint8 mask."""
        if self.phase_rows(phase) == 0:
            raise InputError(f"{self.root}: phase {phase!r} has no sequences")
        tokens = np.empty((count, self.window), dtype=np.int64)
        mask = np.empty((count, self.window), dtype=np.uint8)
        done = 0
        for chunk, local, take in self.row_ranges(phase, start, count):
            t, m = self._arrays(chunk)
            tokens[done : done + take] = t[local : local + take]
            mask[done : done + take] = m[local : local + take]
            done += take
        return tokens, mask

    def row_ranges(self, phase: str, start: int, count: int) -> Iterator[tuple[Chunk, int, int]]:
        """Where rows ``start .. start+count`` of the phase's stream lie, as consecutive
        ``(chunk, first local row, rows)`` pieces: chunks in number order, wrapping around into
        a new epoch when the data is exhausted. Nothing when the phase has no rows."""
        chunks = self.phase_chunks(phase)
        bounds = self.chunk_bounds(phase)
        total = int(bounds[-1])
        done = 0
        while done < count and total:
            pos = (start + done) % total
            ci = int(np.searchsorted(bounds, pos, side="right")) - 1
            local = pos - int(bounds[ci])
            take = min(count - done, chunks[ci].sequences - local)
            yield chunks[ci], local, take
            done += take

    def chunk_manifest(self, number: int) -> dict[str, Any]:
        return json.loads((self.root / f"{chunk_stem(number)}.json").read_text())
