"""Copy the first N records of a WARC file while it streams in, stopping at a record boundary.

Common Crawl compresses WARC, WET and WAT files record by record: every record is its own gzip
member (the "record-at-time compression" of the WARC 1.1 standard, ISO 28500:2017 Annex D), so
the first N records are exactly the first N gzip members and can be copied byte for byte, with no
recompression and without reading past member N. Files compressed otherwise still give a correct
sample: whole members that end at or before the end of record N are copied as they are, and the
one member in which record N ends (a single-stream file, several records per member, or records
split across members) is decompressed up to the end of record N and compressed again as one new
member. Either way the output is a valid ``.warc.gz`` (or plain ``.warc`` for an uncompressed
input) whose decompressed bytes are exactly the first N records of the input.

Record boundaries come from the WARC header's ``Content-Length`` (WARC 1.1 §5.3): a record is
``WARC/x.y`` header lines, an empty line, ``Content-Length`` bytes of block, then CRLF CRLF. The
finder only looks at headers and skips blocks by counting, so it costs one ``bytes.find`` per
record; it is not a WARC reader (fastwarc is), only a ruler.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path
from typing import BinaryIO

from gristmill.core.errors import InputError
from gristmill.io.compression import GZIP_LEVEL
from gristmill.io.formats import GZIP_MAGIC

_HEADER_END = b"\r\n\r\n"
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)[ \t]*\r\n", re.IGNORECASE)
# No real WARC header comes near this; a longer one means we are not reading WARC at all.
_MAX_HEADER_BYTES = 1 << 20
_SCAN_CHUNK = 1 << 20

_HEADER, _BLOCK, _TRAILER, _FULL = range(4)


class WarcFormatError(InputError):
    """The bytes are not WARC (or not gzip) where a record or member should start."""


class RecordBoundaryFinder:
    """Finds where WARC records end in an uncompressed stream fed piece by piece.

    Offsets are counted from the first byte fed. After ``limit`` records the finder stops
    looking, so whatever follows record N (even garbage) is never parsed.
    """

    def __init__(self, source: str, limit: int | None = None) -> None:
        self.source = source
        self.limit = limit
        self.position = 0  # offset of the next byte to be fed
        self.records = 0  # records seen complete
        self.last_end = 0  # offset where the last complete record ends
        self._state = _HEADER
        self._header = bytearray()
        self._header_start = 0
        self._block_left = 0
        self._trailer_left = 0

    @property
    def between_records(self) -> bool:
        """True when everything fed so far is whole records (plus stray blank lines)."""
        return self._state == _FULL or (self._state == _HEADER and not self._header)

    def feed(self, data: bytes) -> list[int]:
        """Consume ``data``; return the end offsets of the records that complete in it."""
        ends: list[int] = []
        i, n = 0, len(data)
        while i < n and self._state != _FULL:
            if self._state == _HEADER:
                i = self._feed_header(data, i)
            elif self._state == _BLOCK:
                take = min(self._block_left, n - i)
                i += take
                self._block_left -= take
                if self._block_left == 0:
                    self._state, self._trailer_left = _TRAILER, len(_HEADER_END)
            else:
                # The CRLF CRLF after a block; tolerate a shorter one (some writers emit one).
                while self._trailer_left and i < n and data[i] in b"\r\n":
                    i += 1
                    self._trailer_left -= 1
                if self._trailer_left == 0 or i < n:
                    ends.append(self._end_record(self.position + i))
        self.position += n
        return ends

    def close_pending(self) -> list[int]:
        """End a record that only waits for (part of) its trailer, at the current position.

        Call it where no more bytes of the current record can come: the end of a gzip member
        or of the input.
        """
        if self._state == _TRAILER:
            return [self._end_record(self.position)]
        return []

    def _end_record(self, end: int) -> int:
        self.records += 1
        self.last_end = end
        self._state = _FULL if self.limit is not None and self.records >= self.limit else _HEADER
        return end

    def _feed_header(self, data: bytes, i: int) -> int:
        n = len(data)
        if not self._header:
            # Blank lines between records are not part of either record.
            while i < n and data[i] in b"\r\n":
                i += 1
            if i == n:
                return n
            self._header_start = self.position + i
        end = -1
        if self._header:
            # The CRLF CRLF may straddle the previous piece and this one.
            tail = bytes(self._header[-3:])
            k = (tail + data[i : i + 3]).find(_HEADER_END)
            if k >= 0:
                end = i + k + len(_HEADER_END) - len(tail)
        if end < 0:
            k = data.find(_HEADER_END, i)
            end = k + len(_HEADER_END) if k >= 0 else -1
        if end < 0:
            self._header += data[i:]
            if len(self._header) >= len(b"WARC/") and not self._header.startswith(b"WARC/"):
                raise self._error(
                    f"expected a WARC record header, found {bytes(self._header[:20])!r}"
                )
            if len(self._header) > _MAX_HEADER_BYTES:
                raise self._error("no end of WARC header within 1 MiB")
            return n
        self._header += data[i:end]
        header = bytes(self._header)
        self._header.clear()
        if not header.startswith(b"WARC/"):
            raise self._error(f"expected a WARC record header, found {header[:20]!r}")
        match = _CONTENT_LENGTH.search(header)
        if match is None:
            raise self._error("WARC record header without Content-Length")
        self._block_left = int(match.group(1))
        self._state = _BLOCK if self._block_left else _TRAILER
        self._trailer_left = len(_HEADER_END)
        return end

    def _error(self, message: str) -> WarcFormatError:
        return WarcFormatError(
            f"{self.source}: record {self.records + 1} (uncompressed offset "
            f"{self._header_start}): {message}"
        )


class WarcPrefixCopier:
    """Writes to ``out`` the first ``limit`` records of a WARC stream fed in raw pieces.

    ``offset`` is where in the source the fed bytes start (a point that is both a gzip member
    boundary and a record boundary, such as 0 or a `scan_prefix` safe point); ``out`` must
    already hold exactly the source's first ``offset`` bytes. ``compressed`` is sniffed from
    the first bytes when None. With ``out=None`` and ``limit=None`` the copier only measures.

    After each `feed`, ``safe_offset``/``safe_records`` name the last source offset up to which
    the output is a byte-for-byte copy ending on both a member and a record boundary: a cut
    transfer resumes there with an HTTP Range request. Once ``done``, ``safe_records`` is the
    number of records written.

    Damaged input (corrupt gzip, a malformed record, a file that ends inside a record) ends
    the sample early with the whole records before the damage and ``damage`` saying what was
    wrong; when measuring only, it raises `WarcFormatError` instead.
    """

    def __init__(
        self,
        source: str,
        out: BinaryIO | None,
        limit: int | None,
        *,
        compressed: bool | None = None,
        offset: int = 0,
    ) -> None:
        self.source = source
        self.compressed = compressed
        self.done = False
        self.damage: str | None = None
        self.safe_offset = offset
        self.safe_records = 0
        self._out = out
        self._limit = limit
        self._finder = RecordBoundaryFinder(source, limit)
        self._offset = offset  # source offset of the next raw byte
        self._sniffed = b""
        self._cut: int | None = None  # uncompressed offset where record `limit` ends
        self._plain_pos = 0
        self._inflater: zlib._Decompress | None = None
        self._member_raw: list[bytes] = []
        self._member_plain = bytearray()
        self._member_plain_start = 0

    @property
    def records(self) -> int:
        """Records seen complete so far."""
        return self._finder.records

    def feed(self, chunk: bytes) -> bool:
        """Consume a raw piece of the source; True once the output is final."""
        if self.done or not chunk:
            return self.done
        if self.compressed is None:
            self._sniffed += chunk
            if len(self._sniffed) < len(GZIP_MAGIC):
                return False
            chunk, self._sniffed = self._sniffed, b""
            self.compressed = chunk.startswith(GZIP_MAGIC)
        try:
            if self.compressed:
                self._feed_gzip(chunk)
            else:
                self._feed_plain(chunk)
        except WarcFormatError as exc:
            if self._out is None:
                raise
            self._salvage(str(exc))
        return self.done

    def end_of_input(self, complete: bool) -> None:
        """The source stream stopped. ``complete``: it reached the source's real end.

        A complete source with fewer than ``limit`` records ends the sample there (a damaged
        end is salvaged as in `feed`). An incomplete stream (a cut connection) changes
        nothing: resume from ``safe_offset``.
        """
        if self.done or not complete:
            return
        if self._sniffed:  # a source shorter than the gzip magic
            self.compressed = False
            self.feed(self._sniffed)
            self._sniffed = b""
            if self.done:
                return
        self._note_ends(self._finder.close_pending())
        if self.compressed and self._inflater is not None:
            self._salvage(f"{self.source}: the file ends inside a gzip member")
        elif not self._finder.between_records:
            self._salvage(f"{self.source}: the file ends inside record {self.records + 1}")
        else:
            self.safe_records = self.records
            self.done = True

    def _salvage(self, damage: str) -> None:
        """Finish the output with the whole records before the damage."""
        self.damage = damage
        self.done = True
        start, last_end = self._member_plain_start, self._finder.last_end
        if self.compressed and self._inflater is not None and last_end >= start:
            # Whole records of the current member: compress them as a member of their own.
            if last_end > start:
                self._write(_gzip_member(self._member_plain[: last_end - start]))
            self.safe_records = self.records
        elif self._out is not None:
            # Back to the last point where the output ends a member and a record.
            self._out.truncate(self.safe_offset)
        self._inflater = None

    # -- uncompressed input: the output is the input up to the end of record N ------------
    def _feed_plain(self, data: bytes) -> None:
        start = self._finder.position
        try:
            ends = self._finder.feed(data)
        except WarcFormatError:
            # Keep the records of this piece that are whole before the damage.
            keep = self._finder.last_end - start
            if keep > 0:
                self._write(data[:keep])
                self._offset += keep
                self._mark_safe()
            raise
        self._note_ends(ends)
        if self._cut is not None:
            keep = self._cut - start
            self._write(data[:keep])
            self._offset += keep
            self._mark_safe()
            self.done = True
            return
        self._write(data)
        self._offset += len(data)
        if ends:
            self.safe_offset = self._offset - (self._finder.position - ends[-1])
            self.safe_records = self.records

    # -- gzip input: copy whole members, recompress only the one where record N ends -------
    def _feed_gzip(self, data: bytes) -> None:
        while data and not self.done:
            if self._inflater is None:
                self._inflater = zlib.decompressobj(wbits=31)
                self._member_raw = []
                self._member_plain.clear()
                self._member_plain_start = self._plain_pos
            try:
                plain = self._inflater.decompress(data)
            except zlib.error as exc:
                raise WarcFormatError(
                    f"{self.source}: corrupt gzip data in the member starting at byte "
                    f"{self._offset}: {exc}"
                ) from exc
            rest = self._inflater.unused_data if self._inflater.eof else b""
            self._member_raw.append(data[: len(data) - len(rest)] if rest else data)
            if self._out is not None:
                self._member_plain += plain
            self._note_ends(self._finder.feed(plain))
            self._plain_pos += len(plain)
            if self._cut is not None and self._plain_pos > self._cut:
                # Record N ends inside this member and more follows in it: recompress.
                start = self._member_plain_start
                self._write(_gzip_member(self._member_plain[: self._cut - start]))
                self.safe_records = self.records
                self.done = True
                return
            if self._inflater.eof:
                self._end_member()
            data = rest

    def _end_member(self) -> None:
        self._note_ends(self._finder.close_pending())
        raw = b"".join(self._member_raw)
        self._write(raw)
        self._offset += len(raw)
        self._inflater = None
        if self._finder.between_records:
            self._mark_safe()
        if self._cut is not None:
            self.done = True

    def _note_ends(self, ends: list[int]) -> None:
        if ends and self._cut is None and self._limit is not None and self.records >= self._limit:
            self._cut = ends[-1]

    def _mark_safe(self) -> None:
        self.safe_offset = self._offset
        self.safe_records = self.records

    def _write(self, data: bytes | bytearray) -> None:
        if self._out is not None and data:
            self._out.write(data)


def _gzip_member(plain: bytes | bytearray) -> bytes:
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    return compressor.compress(plain) + compressor.flush()


def scan_prefix(path: Path) -> tuple[int, int, bool | None]:
    """Measure a partial sample: (safe offset, records before it, gzip or not; None if empty).

    The safe offset is the end of the last gzip member that also ends a record; everything
    before it is whole records copied from the source, everything after it must be refetched.
    Damaged bytes end the measurement at the last safe point instead of failing.
    """
    with path.open("rb") as fh:
        head = fh.read(len(GZIP_MAGIC))
        if not head:
            return 0, 0, None
        fh.seek(0)
        copier = WarcPrefixCopier(str(path), None, None, compressed=head == GZIP_MAGIC)
        try:
            while chunk := fh.read(_SCAN_CHUNK):
                copier.feed(chunk)
        except WarcFormatError:
            pass
    return copier.safe_offset, copier.safe_records, copier.compressed
