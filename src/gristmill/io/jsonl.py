"""JSON-lines documents (``.jsonl``, ``.jsonl.gz``, ``.jsonl.zst``; DCLM's ``.json.gz``).

Reading: one JSON object per line, parsed with orjson, built with `Document.from_record`
(which recovers DCLM-Pool's URL and id from ``metadata``). The codec comes from the stream's
magic bytes, not its name. A bad line is a `RecordError` naming its 1-based line number and
the file goes on. A truncated gzip/zstd stream is one `RecordError` at the first line it broke,
after every complete line before it. A corrupt one (a gzip member or zstd frame whose checksum
fails) stops the file at that member: none of its lines become documents (see
`gristmill.io.compression`), and one `RecordError` counts them all as errored.

Writing: one line per document (see `gristmill.io.serialize`), zstd level 3 by default.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from gristmill.core.document import Document
from gristmill.core.errors import RecordError
from gristmill.io.base import DocumentReader, DocumentWriter
from gristmill.io.compression import StreamError, compressed_sink, iter_decompressed, peek_codec
from gristmill.io.paths import open_binary
from gristmill.io.serialize import encode_document, utf8_size
from gristmill.io.surrogates import scrub_surrogates

# Serialised lines are handed to the compressor in batches of about this many bytes: fewer
# Python->C calls, same output bytes.
_FLUSH_BYTES = 1 << 20


class BrokenLines(Exception):
    """The line stream stopped because the compressed stream broke.

    Attributes:
        error: the underlying `StreamError`.
        partial: whether an incomplete line was dropped at the break.
    """

    def __init__(self, error: StreamError, partial: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.partial = partial


def iter_lines(blocks: Iterable[bytes]) -> Iterator[bytes]:
    """Split a stream of byte blocks into lines (without ``\\n``); C-level splits only.

    The last line is yielded even without a trailing newline. When the block stream raises
    `StreamError`, the incomplete line at the break is dropped and `BrokenLines` is raised.
    """
    pending: list[bytes] = []
    try:
        for block in blocks:
            if b"\n" not in block:
                pending.append(block)  # part of a long line; joined once it ends
                continue
            lines = block.split(b"\n")
            if pending:
                pending.append(lines[0])
                lines[0] = b"".join(pending)
                pending = []
            tail = lines.pop()
            if tail:
                pending.append(tail)
            yield from lines
    except StreamError as exc:
        raise BrokenLines(exc, partial=bool(pending)) from exc
    if pending:
        yield b"".join(pending)


class _BadLine(Exception):
    pass


def _lenient_loads(line: bytes) -> Any:
    """Parse a line orjson refused, with the stdlib (RFC 8259 allows lone ``\\ud800``
    escapes, which orjson rejects); surrogates are then replaced. Raises `_BadLine`."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _BadLine(f"line is not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise _BadLine(f"invalid JSON: {exc}") from exc
    return scrub_surrogates(value)


class JsonlReader(DocumentReader):
    """Documents of a JSON-lines file, plain or gzip/zstd compressed."""

    def _iter_records(self) -> Iterator[Document | RecordError]:
        name = self.name
        loads = orjson.loads
        line_no = 0
        with open_binary(self.source) as raw:
            lines = iter_lines(iter_decompressed(raw, peek_codec(raw)))
            try:
                for line in lines:
                    line_no += 1
                    try:
                        record = loads(line)
                    except orjson.JSONDecodeError:
                        if not line.strip():
                            self.skipped["jsonl:blank_line"] += 1
                            continue
                        try:
                            record = _lenient_loads(line)
                        except _BadLine as exc:
                            yield self.error(line_no, str(exc))
                            continue
                    if type(record) is not dict:
                        yield self.error(line_no, f"expected a JSON object, got {type(record).__name__}")
                        continue
                    try:
                        doc = Document.from_record(record, fallback_id=f"{name}:{line_no}")
                    except (TypeError, ValueError) as exc:
                        yield self.error(line_no, str(exc))
                        continue
                    yield doc
            except BrokenLines as exc:
                if exc.error.truncated:
                    where = (f"line {line_no + 1} is incomplete" if exc.partial
                             else f"nothing after line {line_no} could be read")
                    yield self.error(line_no + 1, f"{exc.error}; {where}")
                    return
                # The failed member's lines (and a line left open before it) are lost; what
                # follows the member is not read: the stream cannot be trusted past it.
                lost = max(1, exc.error.discarded_lines + (1 if exc.partial else 0))
                yield RecordError(self.source, line_no + 1,
                                  f"{exc.error}; the damaged block from line {line_no + 1} is "
                                  f"not used ({lost:,} line(s) in it counted as errored) and "
                                  "the rest of the file is not read", count=lost)


class JsonlWriter(DocumentWriter):
    """Write documents as JSON lines through a deterministic compressor."""

    def __init__(self, path: str | Path, codec: str = "zstd") -> None:
        super().__init__(path)
        try:
            self._sink = compressed_sink(self._file, codec)
        except BaseException:
            self.abort()
            raise
        self.codec = codec
        self._pending: list[bytes] = []
        self._pending_bytes = 0

    def write(self, doc: Document) -> None:
        line, text = encode_document(doc)
        self._pending.append(line)
        self._pending_bytes += len(line)
        self.documents += 1
        self.bytes_written += utf8_size(text) if isinstance(text, str) else 0
        if self._pending_bytes >= _FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._sink.write(b"".join(self._pending))
            self._pending = []
            self._pending_bytes = 0

    def _finish(self) -> None:
        self._flush()
        self._sink.finish()
