"""Streaming gzip/zstd decompression that verifies before it yields, and deterministic compressors.

Python's ``gzip`` module and zstandard's ``stream_reader`` differ in how (and whether) they
report a stream that stops inside a compressed block: ``stream_reader`` simply returns end of
file. Both codecs are therefore driven here through their decompression objects, which expose
``eof``: a stream is complete only if every member/frame that started also ended.
Multi-member gzip (one member per record, as Common Crawl writes) and multi-frame zstd are
both read through.

Integrity: a flipped byte inside deflate data usually decompresses to other bytes without
complaint; only the member's CRC-32 (RFC 1952 §2.3.1), checked at its end, tells. zstd is the
same with its optional content checksum (RFC 8878 §3.1.1). So the bytes of a member/frame are
held back until it ends and its check passes, and only then yielded: data that failed its
check is never handed on. Held bytes stay in memory up to `HOLD_IN_MEMORY`, then go to an
anonymous temporary file (a single-member file of gigabytes is held on disk, not in memory).
Our own writers start a new member/frame every `FRAME_BYTES`, so reading them back never
spills. A member cut short by the end of the input has no check to pass: its bytes are
yielded and the cut is reported (`StreamError` with ``truncated``).

`EndCheck` follows the same members/frames as bytes arrive, without keeping their output, to
tell whether a transfer whose server announced no size stopped at a place a file can end.
"""

from __future__ import annotations

import gzip
import tempfile
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO, Protocol

import zstandard

from gristmill.io.formats import GZIP_MAGIC, ZSTD_MAGIC

# Compressed bytes read per call. A gzip block expands at most ~1032x (zlib tech notes), so a
# chunk this size keeps one decompressed piece in the low hundreds of MB even for bombs.
READ_SIZE = 1 << 18
# Compressed bytes per decompress call: the output of the call that fails a check is lost to
# the count of discarded lines, so it is kept small.
_FEED_SIZE = 1 << 15

# Decompressed bytes of one member/frame held in memory while its check is pending; beyond
# this they are held in a temporary file.
HOLD_IN_MEMORY = 32 << 20
# Writers end a gzip member / zstd frame after about this many uncompressed bytes, so a reader
# verifies (and holds) at most this much at a time. zstd level 3 looks back 2 MiB (its window),
# gzip 32 KiB, so the ratio barely changes.
FRAME_BYTES = 8 << 20

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
        discarded_lines: for corrupt data, the lines (newline-ended, plus an unended tail) of
            the member/frame whose check failed: decompressed, never yielded.
    """

    def __init__(self, codec: str, offset: int, truncated: bool, detail: str,
                 discarded_lines: int = 0) -> None:
        what = "truncated" if truncated else "corrupt"
        super().__init__(f"{what} {codec} stream at compressed byte {offset}: {detail}")
        self.codec = codec
        self.offset = offset
        self.truncated = truncated
        self.discarded_lines = discarded_lines


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


class _Held:
    """Decompressed bytes of the current member/frame, held until its check passes."""

    def __init__(self) -> None:
        self._pieces: list[bytes] = []
        self._size = 0
        self._spill: Any = None

    def add(self, data: bytes) -> None:
        if self._spill is None and self._size + len(data) > HOLD_IN_MEMORY:
            self._spill = tempfile.TemporaryFile()  # noqa: SIM115 (closed in release)
            self._spill.writelines(self._pieces)
            self._pieces = []
        if self._spill is not None:
            self._spill.write(data)
        else:
            self._pieces.append(data)
        self._size += len(data)

    def release(self) -> Iterator[bytes]:
        """Yield the held bytes (verified, or the last cut member) and forget them."""
        if self._spill is not None:
            spill, self._spill = self._spill, None
            with spill:
                spill.seek(0)
                while piece := spill.read(READ_SIZE):
                    yield piece
        else:
            yield from self._pieces
        self._pieces, self._size = [], 0

    def discard(self) -> int:
        """Forget the held bytes (they failed their check); how many lines they held."""
        lines, last = 0, b""
        for piece in self.release():
            lines += piece.count(b"\n")
            last = piece[-1:] or last
        return lines + (1 if last and last != b"\n" else 0)


class _Members:
    """Push decompression of a multi-member gzip / multi-frame zstd stream, piece by piece.

    ``feed`` yields ``(output, ended)``: ``ended`` is True when a member/frame ended with that
    output and its check passed. ``consumed`` counts the compressed bytes fed before the
    current piece; ``inside`` is True while a member/frame has started and not ended.
    """

    def __init__(self, codec: str) -> None:
        self.codec = codec
        self.consumed = 0
        self._decompressor: _Decompressor | None = None

    @property
    def inside(self) -> bool:
        return self._decompressor is not None

    def feed(self, data: bytes) -> Iterator[tuple[bytes, bool]]:
        """Decompress ``data``; raises ``zlib.error`` / ``zstandard.ZstdError`` on bad data."""
        while data:
            if self._decompressor is None:
                if self.codec == "gzip" and data[:1] == b"\x00" and not data.strip(b"\x00"):
                    return  # zero padding after the last member (tape/block writers add it)
                self._decompressor = _new_decompressor(self.codec)
            out = self._decompressor.decompress(data)
            if self._decompressor.eof:  # the member/frame ended and its check passed
                rest = self._decompressor.unused_data
                self.consumed += len(data) - len(rest)
                data = rest
                self._decompressor = None
                yield out, True
            else:
                self.consumed += len(data)
                data = b""
                yield out, False


_CODEC_ERRORS = (zlib.error, zstandard.ZstdError)


def iter_decompressed(stream: BinaryIO, codec: str) -> Iterator[bytes]:
    """Yield the decompressed bytes of ``stream`` in pieces, each member/frame once verified.

    Raises `StreamError` after the last good piece when compressed data is corrupt (the failed
    member/frame's bytes are not yielded) or when the input ends inside a gzip member or zstd
    frame (its bytes up to the cut are yielded first).
    """
    if codec == "none":
        while chunk := stream.read(READ_SIZE):
            yield chunk
        return
    members = _Members(codec)
    held = _Held()
    while chunk := stream.read(READ_SIZE):
        for start in range(0, len(chunk), _FEED_SIZE):
            try:
                for out, ended in members.feed(chunk[start:start + _FEED_SIZE]):
                    if out:
                        held.add(out)
                    if ended:
                        yield from held.release()
            except _CODEC_ERRORS as exc:
                raise StreamError(codec, members.consumed, False, str(exc),
                                  held.discard()) from exc
    if members.inside:
        yield from held.release()
        raise StreamError(codec, members.consumed, True, "input ends inside a compressed block")


def codec_of_name(name: str) -> str:
    """"gzip" for a ``.gz`` name, "zstd" for ``.zst`` / ``.zstd``, else "none"."""
    lowered = name.lower()
    if lowered.endswith(".gz"):
        return "gzip"
    if lowered.endswith((".zst", ".zstd")):
        return "zstd"
    return "none"


class EndCheck:
    """Whether the bytes of a transfer so far end where the whole file may end.

    For a body whose server announced no size, the end of the stream may be a closed
    connection. A compressed file tells: every gzip member (RFC 1952) or zstd frame
    (RFC 8878) that started must have ended and passed its check. ``promised`` is the codec
    the file's name promises (`codec_of_name`): a body that is empty or lacks that codec's
    magic bytes is then not the file. With "none" the first bytes decide, and a body without
    magic bytes has no end that can be checked (`checkable` stays False).

    What cannot be told: a cut exactly at a member/frame boundary (Common Crawl's WARC files
    hold one gzip member per record) leaves a shorter file that is itself whole.

    ``feed`` every byte from the first on, in order; they are decompressed and dropped.
    """

    def __init__(self, promised: str) -> None:
        self.promised = promised
        self.size = 0
        self.last_byte = b""
        self._head = b""  # the first bytes, until there are enough to tell the codec
        self._members: _Members | None = None
        self._decided = False
        self._problem: StreamError | None = None

    @property
    def checkable(self) -> bool:
        """Whether the body holds compressed data whose members/frames are being followed."""
        return self._members is not None

    def feed(self, data: bytes) -> None:
        self.size += len(data)
        self.last_byte = data[-1:] or self.last_byte
        if self._problem is not None:
            return
        if not self._decided:
            self._head += data
            if len(self._head) < len(ZSTD_MAGIC):
                return
            data, self._head = self._head, b""
            self._decide(data)
        self._inflate(data)

    def _inflate(self, data: bytes) -> None:
        if self._members is None or self._problem is not None:
            return
        try:
            for start in range(0, len(data), _FEED_SIZE):
                for _ in self._members.feed(data[start:start + _FEED_SIZE]):
                    pass
        except _CODEC_ERRORS as exc:
            self._problem = StreamError(self._members.codec, self._members.consumed, False,
                                        str(exc))

    def _decide(self, head: bytes) -> None:
        """Pick the codec from the first bytes (at least 4, or all there are)."""
        self._decided = True
        found = codec_of(head)
        codec = found if self.promised == "none" else self.promised
        magic = GZIP_MAGIC if codec == "gzip" else ZSTD_MAGIC
        if found != codec and not (len(head) < len(magic) and magic.startswith(head)):
            self._problem = StreamError(
                codec, 0, False, f"the body is not {codec} data (it starts with "
                f"{head[:8]!r}, not the {codec} magic bytes)")
        elif codec != "none":
            self._members = _Members(codec)

    def problem(self) -> StreamError | None:
        """Why the bytes fed so far are not a whole file; None when they may be."""
        if not self._decided:
            if self.size == 0:
                if self.promised == "none":
                    return None  # nothing promised: an empty body may be an empty file
                return StreamError(self.promised, 0, True,
                                   f"the body is empty, which a {self.promised} file never is")
            head, self._head = self._head, b""  # fewer than 4 bytes: a cut body
            self._decide(head)
            self._inflate(head)
        if self._problem is not None:
            return self._problem
        if self._members is not None and self._members.inside:
            return StreamError(self._members.codec, self._members.consumed, True,
                               "input ends inside a compressed block")
        return None


class CompressedSink(Protocol):
    """What writers write serialised bytes into; ``finish`` ends the stream (not the file)."""

    def write(self, data: bytes) -> object: ...

    def finish(self) -> None: ...


class _PlainSink:
    def __init__(self, raw: BinaryIO) -> None:
        self.write = raw.write

    def finish(self) -> None:
        pass


class _FramedSink:
    """A compressor that ends its member/frame and starts another every `FRAME_BYTES` bytes
    written (at write boundaries, so the output depends only on the bytes and their writes)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._frame: Any = None
        self._in_frame = 0
        self._frames = 0

    def _open_frame(self) -> Any:
        raise NotImplementedError

    def write(self, data: bytes) -> None:
        if self._frame is None:
            self._frame = self._open_frame()
        self._frame.write(data)
        self._in_frame += len(data)
        if self._in_frame >= FRAME_BYTES:
            self._end_frame()

    def _end_frame(self) -> None:
        self._frame.close()  # writes the trailer / checksum; leaves ``raw`` open
        self._frame = None
        self._in_frame = 0
        self._frames += 1

    def finish(self) -> None:
        if self._frame is None and self._frames == 0:
            self._frame = self._open_frame()  # an empty file is still one (empty) frame
        if self._frame is not None:
            self._end_frame()


class _GzipSink(_FramedSink):
    def _open_frame(self) -> Any:
        # mtime=0 and an empty name keep the header free of time and temp-file name, so equal
        # input gives equal bytes.
        return gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0,
                             compresslevel=GZIP_LEVEL)


class _ZstdSink(_FramedSink):
    def __init__(self, raw: BinaryIO) -> None:
        super().__init__(raw)
        # threads=0: single-threaded, so the frame bytes do not depend on scheduling; the
        # content checksum is what lets a reader reject a damaged frame.
        self._cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True, threads=0)

    def _open_frame(self) -> Any:
        return self._cctx.stream_writer(self._raw, closefd=False)


def compressed_sink(raw: BinaryIO, codec: str) -> CompressedSink:
    """A deterministic compressing writer over ``raw`` for "zstd", "gzip" or "none"."""
    if codec == "zstd":
        return _ZstdSink(raw)
    if codec == "gzip":
        return _GzipSink(raw)
    if codec == "none":
        return _PlainSink(raw)
    raise ValueError(f"unknown codec {codec!r}")
