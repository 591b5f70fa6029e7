"""Streaming gzip/zstd decompression that notices truncation, and deterministic compressors.

Python's ``gzip`` module and zstandard's ``stream_reader`` differ in how (and whether) they
report a stream that stops inside a compressed block: ``stream_reader`` simply returns end of
file. Both codecs are therefore driven here through their decompression objects, which expose
``eof``: a stream is complete only if every member/frame that started also ended.
Multi-member gzip (one member per record, as Common Crawl writes) and multi-frame zstd are
both read through.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from typing import BinaryIO, Protocol

import zstandard

from gristmill.io.formats import GZIP_MAGIC, ZSTD_MAGIC

# Compressed bytes read per call. A gzip block expands at most ~1032x (zlib tech notes), so a
# chunk this size keeps one decompressed piece in the low hundreds of MB even for bombs.
READ_SIZE = 1 << 18

# zstd level 3 is the zstd CLI default and what DCLM-Baseline's .jsonl.zst shards use.
ZSTD_LEVEL = 3
# gzip level 6 is zlib's default: most of level 9's ratio at a fraction of its time.
GZIP_LEVEL = 6


class StreamError(Exception):
    """A compressed stream that is truncated or corrupt.

    Attributes:
        codec: "gzip" or "zstd".
        offset: compressed bytes read before the failure was noticed.
        truncated: True when the input ended inside a member/frame (else: corrupt data).
    """

    def __init__(self, codec: str, offset: int, truncated: bool, detail: str) -> None:
        what = "truncated" if truncated else "corrupt"
        super().__init__(f"{what} {codec} stream at compressed byte {offset}: {detail}")
        self.codec = codec
        self.offset = offset
        self.truncated = truncated


class _Decompressor(Protocol):
    eof: bool
    unused_data: bytes

    def decompress(self, data: bytes) -> bytes: ...


def codec_of(head: bytes) -> str:
    """"gzip", "zstd" or "none" from a stream's first bytes (magic numbers, not names)."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


def peek_codec(stream: BinaryIO) -> str:
    """The codec of a buffered stream, found without consuming it (needs ``peek``)."""
    peek = getattr(stream, "peek", None)
    return codec_of(peek(4)[:4]) if peek is not None else "none"


def _new_decompressor(codec: str) -> _Decompressor:
    if codec == "gzip":
        return zlib.decompressobj(wbits=31)
    return zstandard.ZstdDecompressor().decompressobj()


def iter_decompressed(stream: BinaryIO, codec: str) -> Iterator[bytes]:
    """Yield the decompressed bytes of ``stream`` in pieces.

    Raises `StreamError` after the last good piece when the input ends inside a gzip member
    or zstd frame, or when compressed data is corrupt.
    """
    if codec == "none":
        while chunk := stream.read(READ_SIZE):
            yield chunk
        return
    errors = (zlib.error, zstandard.ZstdError)
    decompressor: _Decompressor | None = None
    consumed = 0
    while chunk := stream.read(READ_SIZE):
        data = chunk
        while data:
            if decompressor is None:
                if codec == "gzip" and data[:1] == b"\x00" and not data.strip(b"\x00"):
                    break  # zero padding after the last member (tape/block writers add it)
                decompressor = _new_decompressor(codec)
            try:
                out = decompressor.decompress(data)
            except errors as exc:
                raise StreamError(codec, consumed, False, str(exc)) from exc
            if out:
                yield out
            if decompressor.eof:
                data = decompressor.unused_data
                decompressor = None
            else:
                data = b""
        consumed += len(chunk)
    if decompressor is not None:
        raise StreamError(codec, consumed, True, "input ends inside a compressed block")


class CompressedSink(Protocol):
    """What writers write serialised bytes into; ``finish`` ends the stream (not the file)."""

    def write(self, data: bytes) -> object: ...

    def finish(self) -> None: ...


class _PlainSink:
    def __init__(self, raw: BinaryIO) -> None:
        self.write = raw.write

    def finish(self) -> None:
        pass


class _GzipSink:
    def __init__(self, raw: BinaryIO) -> None:
        # mtime=0 and an empty name keep the header free of time and temp-file name, so equal
        # input gives equal bytes.
        self._gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                                 compresslevel=GZIP_LEVEL)
        self.write = self._gz.write

    def finish(self) -> None:
        self._gz.close()  # writes the trailer; leaves ``raw`` open


class _ZstdSink:
    def __init__(self, raw: BinaryIO) -> None:
        # threads=0: single-threaded, so the frame bytes do not depend on scheduling.
        cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True, threads=0)
        self._writer = cctx.stream_writer(raw, closefd=False)
        self.write = self._writer.write

    def finish(self) -> None:
        self._writer.close()  # ends the frame; closefd=False leaves ``raw`` open


def compressed_sink(raw: BinaryIO, codec: str) -> CompressedSink:
    """A deterministic compressing writer over ``raw`` for "zstd", "gzip" or "none"."""
    if codec == "zstd":
        return _ZstdSink(raw)
    if codec == "gzip":
        return _GzipSink(raw)
    if codec == "none":
        return _PlainSink(raw)
    raise ValueError(f"unknown codec {codec!r}")
