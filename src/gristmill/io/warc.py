"""WARC and WET files to documents, with fastwarc.

``response`` and ``resource`` records become documents holding the raw payload in
``content`` (HTML for extraction; ``text`` stays empty); ``conversion`` records (Common
Crawl's WET text) become documents with ``text`` set. Every other record type is counted in
``skipped`` as ``warc:<type>``. This mirrors DCLM's pool builder, which extracts text from
``response`` records only (mlfoundations/dclm, tools/commoncrawl/process_common_crawl_w_ray.py).

Metadata of each document: ``warc_record_id``, ``warc_date``, ``warc_type``, ``host``,
``content_type`` (HTTP, else WARC, MIME type), ``http_charset``, ``http_status``,
``source_file``, ``record_offset`` (fastwarc's ``stream_pos``: the byte offset of the record,
or of its gzip member), ``record_index`` (records read before it, of every type), plus
``warc_refers_to`` for WET text and ``warc_truncated`` when the crawler cut the payload.

Damage is reported, never skipped silently, and reading goes on where it can:

- a record shorter than its Content-Length (clipped file, cut gzip member) is a
  `RecordError` at its offset;
- a stream fastwarc cannot parse further is one `RecordError` after the last good record. A
  malformed record is then skipped by re-reading in fastwarc's lenient ``quirks_mode`` (which
  resynchronises on the next ``WARC/`` line); corrupt gzip data is skipped by resuming at the
  next intact gzip member. The strict pass comes first so that damage is seen at all;
- a compressed file that ends inside a member after its last record is one `RecordError`.
"""
from __future__ import annotations

import os
import zlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from fastwarc.warc import ArchiveIterator, WarcHeader, WarcRecord, WarcRecordType

from gristmill.core.document import Document
from gristmill.core.errors import RecordError
from gristmill.io.base import DocumentReader
from gristmill.io.compression import StreamError, codec_of, codec_of_name, iter_decompressed
from gristmill.io.formats import ARC_MAGIC, ARC_UNSUPPORTED, GZIP_MAGIC, decompressed_head
from gristmill.io.http import local_path
from gristmill.io.http_payload import decode_body
from gristmill.io.paths import open_binary
from gristmill.io.urls import clean_target_uri, url_host

# fastwarc's WarcRecordType is not hashable; its int value is.
_DOCUMENT_KINDS = {
    int(WarcRecordType.response): "response",
    int(WarcRecordType.resource): "resource",
    int(WarcRecordType.conversion): "conversion",
}
_H_RECORD_ID = WarcHeader.WARC_RECORD_ID
_H_TARGET_URI = WarcHeader.WARC_TARGET_URI
_H_DATE = WarcHeader.WARC_DATE
_H_CONTENT_TYPE = WarcHeader.CONTENT_TYPE
_H_REFERS_TO = WarcHeader.WARC_REFERS_TO
_H_TRUNCATED = WarcHeader.WARC_TRUNCATED
_SNIFF_BYTES = 1 << 12


def _strip_brackets(value: str | None) -> str | None:
    if value and value.startswith("<") and value.endswith(">"):
        return value[1:-1]
    return value


def _mime_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


@dataclass
class _Progress:
    """How far the reading of one file got, across its passes."""

    taken: int = 0  # archive records consumed, of every type
    last_key: tuple[int, str | None] | None = None  # (offset, record id) of the last one
    last_offset: int | None = None
    last_error_offset: int | None = None
    stream_errors: int = 0  # damage reported at the stream level (not in one record)


def _is_warc_member(f: BinaryIO, offset: int) -> bool:
    """Whether a complete gzip member starting at ``offset`` holds the start of a WARC record."""
    f.seek(offset)
    decompressor = zlib.decompressobj(wbits=31)
    head = b""
    try:
        while not decompressor.eof:
            chunk = f.read(1 << 16)
            if not chunk:
                return False
            out = decompressor.decompress(chunk)
            if len(head) < 5:
                head += out[:5]
    except zlib.error:
        return False
    return head.startswith(b"WARC/")


def _next_warc_member(path: Path, scan_from: int) -> int | None:
    """Offset of the first intact gzip member holding a WARC record at or after ``scan_from``.

    Common Crawl compresses each record as its own gzip member (WARC/1.1 Annex D), so a
    damaged member costs only its own records: reading resumes at the next good one.
    """
    magic = GZIP_MAGIC + b"\x08"  # gzip header + deflate method (RFC 1952 §2.3.1)
    with open(path, "rb") as scan, open(path, "rb") as probe:
        scan.seek(scan_from)
        base, carry = scan_from, b""
        while chunk := scan.read(1 << 20):
            data = carry + chunk
            i = data.find(magic)
            while i >= 0:
                if _is_warc_member(probe, base + i):
                    return base + i
                i = data.find(magic, i + 1)
            carry = data[-(len(magic) - 1):]
            base += len(data) - len(carry)
    return None


class WarcReader(DocumentReader):
    """Documents of a WARC (``format="warc"``) or WET (``format="wet"``) file."""

    def _iter_records(self) -> Iterator[Document | RecordError]:
        local = local_path(self.source)
        codec = "none"
        native = False
        if local is not None:
            with open(local, "rb") as f:
                head = f.read(_SNIFF_BYTES)
            if decompressed_head(head).startswith(ARC_MAGIC):
                yield self.error(0, ARC_UNSUPPORTED)
                return
            codec = codec_of(head)
            # fastwarc's own file reader (the fastest path) picks gzip/zstd by file suffix, so
            # use it only when the suffix tells the truth (not for "example.warc.gz.bad").
            native = codec_of_name(local.name) == codec
        progress = _Progress()
        broken = yield from self._read_pass(progress, native=native)
        if broken:
            # A malformed record: fastwarc's lenient mode resynchronises on the next "WARC/".
            broken = yield from self._read_pass(progress, native=native, lenient=True)
        scan_from = 0
        while broken and codec == "gzip" and local is not None:
            # Corrupt compressed data: jump to the next intact gzip member.
            scan_from = max(scan_from, (progress.last_offset or 0) + 1)
            resume = _next_warc_member(local, scan_from)
            if resume is None:
                return
            scan_from = resume + 1
            broken = yield from self._read_pass(progress, start=resume)
        if broken or local is None:
            return
        if progress.last_error_offset is None or progress.last_error_offset != progress.last_offset:
            tail_error = self._tail_error(local, codec, progress.last_offset or 0)
            if tail_error is not None:
                yield tail_error
                return
        if progress.taken == 0 and not progress.stream_errors and os.path.getsize(local):
            yield self.error(0, "no WARC records found (not a WARC file?)")

    def _open(self, native: bool, start: int) -> Any:
        """What ArchiveIterator reads: a path (fastwarc's reader) or a stream."""
        if start:
            f = open(local_path(self.source) or self.source, "rb")  # noqa: SIM115
            f.seek(start)
            return f
        if native:
            return str(local_path(self.source))
        return open_binary(self.source)

    def _read_pass(
        self, progress: _Progress, *, native: bool = False, lenient: bool = False, start: int = 0
    ) -> Generator[Document | RecordError, None, bool]:
        """Yield the records not yet taken; return True if the stream broke.

        A pass from the start of the file skips the ``progress.taken`` records already seen
        (checking it lands on the same record); a pass from byte ``start`` (a gzip member
        boundary after damage) takes every record it finds.
        """
        stream = self._open(native, start)
        to_skip = 0 if start else progress.taken
        taken_before = progress.taken
        try:
            for record in ArchiveIterator(stream, parse_http=False, quirks_mode=lenient,
                                          fsspec_args=False):
                if to_skip:
                    to_skip -= 1
                    if to_skip == 0 and (record.stream_pos, record.record_id) != progress.last_key:
                        return True  # this pass disagrees on what came before: stop
                    continue
                offset = record.stream_pos  # absolute: fastwarc counts from the stream's tell()
                progress.last_key = (offset, record.record_id)
                progress.last_offset = offset
                item = self._convert(record, progress.taken)
                progress.taken += 1
                if item is not None:
                    if isinstance(item, RecordError):
                        progress.last_error_offset = item.offset
                    yield item
            return False
        except OSError as exc:
            if progress.taken == taken_before and (lenient or start):
                return True  # broke again before new ground: the damage is already reported
            offset = progress.last_offset
            if offset is None:
                progress.stream_errors += 1
                yield self.error(0, f"unreadable WARC data at the start of the file: {exc}")
            elif offset != progress.last_error_offset:
                progress.stream_errors += 1
                yield self.error(offset, f"unreadable WARC data after the record at byte "
                                         f"{offset} (record {progress.taken - 1}): {exc}")
            return True
        finally:
            if not isinstance(stream, str):
                stream.close()

    def _tail_error(self, path: Path, codec: str, start: int) -> RecordError | None:
        """An error if the compressed file ends inside a member/frame after the last record.

        fastwarc yields nothing for a last gzip member cut inside its header and does not
        check trailers, so the tail from the last record's member on is decompressed once
        more (one record's worth of work for per-record gzip, as Common Crawl writes).
        """
        if codec == "none":
            return None
        with open(path, "rb") as f:
            f.seek(start)
            try:
                for _ in iter_decompressed(f, codec):
                    pass
            except StreamError as exc:
                what = ("ends inside a compressed block" if exc.truncated
                        else "holds corrupt compressed data")
                return self.error(start, f"the {codec} stream {what} after the record at byte "
                                         f"{start} (the file is cut short or damaged)")
        return None

    def _convert(self, record: WarcRecord, index: int) -> Document | RecordError | None:
        """One archive record as a document, an error, or None (counted in ``skipped``)."""
        kind = _DOCUMENT_KINDS.get(int(record.record_type))
        offset = record.stream_pos
        if kind is None:
            rtype = str(record.record_type)
            # Consuming the payload (the iterator would skip it anyway) tells whether the file
            # ends inside this record, which would otherwise go unnoticed.
            expected = record.content_length
            try:
                present = record.consume()
            except OSError as exc:
                return self.error(offset, f"{rtype} record unreadable: {exc}")
            if present < expected:
                return self.error(
                    offset, f"{rtype} record truncated: {present} of {expected} bytes present")
            self.skipped["warc:" + rtype] += 1
            return None
        http = kind == "response" and record.is_http
        try:
            if http:
                # quirks: ClueWeb09 and other old crawls end HTTP header lines with a bare LF.
                record.parse_http(quirks_mode=True)
            expected = record.content_length
            body = record.reader.read()
        except OSError as exc:
            return self.error(offset, f"{kind} record unreadable: {exc}")
        if len(body) < expected:
            return self.error(
                offset, f"{kind} record truncated: {len(body)} of {expected} payload bytes present"
            )
        headers = record.headers
        record_id = _strip_brackets(headers.get(_H_RECORD_ID))
        url = clean_target_uri(headers.get(_H_TARGET_URI))
        metadata: dict[str, Any] = {
            "warc_record_id": record_id,
            "warc_date": headers.get(_H_DATE),
            "warc_type": kind,
            "host": url_host(url),
        }
        if http:
            http_headers = record.http_headers
            metadata["content_type"] = record.http_content_type
            metadata["http_charset"] = record.http_charset
            metadata["http_status"] = http_headers.status_code
            body = decode_body(body, http_headers.get("Transfer-Encoding"),
                               http_headers.get("Content-Encoding"))
        else:
            metadata["content_type"] = _mime_type(headers.get(_H_CONTENT_TYPE))
            metadata["http_charset"] = None
            metadata["http_status"] = None
        truncated = headers.get(_H_TRUNCATED)
        if truncated:
            metadata["warc_truncated"] = truncated
        if kind == "conversion":
            metadata["warc_refers_to"] = _strip_brackets(headers.get(_H_REFERS_TO))
        metadata["source_file"] = self.name
        metadata["record_offset"] = offset
        metadata["record_index"] = index
        doc_id = record_id or f"{self.name}:{index}"
        if kind == "conversion":
            return Document(id=doc_id, text=body.decode("utf-8", "replace"), url=url,
                            metadata=metadata)
        return Document(id=doc_id, url=url, metadata=metadata, content=body)
