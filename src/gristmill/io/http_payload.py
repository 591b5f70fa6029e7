"""Undo HTTP transfer and content encodings of a stored response body, never failing.

fastwarc can decode both itself (``auto_decode``), but a body that contradicts its headers
(ClueWeb09 stores already-decoded pages under ``Content-Encoding: gzip``; warcio's test files
include bodies that are not the chunked encoding they claim) makes its iterator raise and
stop, losing the rest of the file. Decoding here falls back to the stored bytes instead.
Most Common Crawl bodies carry neither encoding (the crawler stores decoded payloads), so
this code runs rarely.
"""

from __future__ import annotations

import zlib

# Cap on a decoded body: DESIGN.md's largest expected page is 50 MB; anything past this is a
# compression bomb, and the prefix is what extraction would use anyway.
MAX_DECODED_BYTES = 64 << 20

# zlib wbits: 32+15 detects a gzip or zlib header; -15 is a raw deflate stream (what some
# servers send for "deflate", against RFC 9110 §8.4.1.2).
_AUTO_HEADER_WBITS = 47
_RAW_DEFLATE_WBITS = -15


def dechunk(body: bytes) -> bytes | None:
    """Decode HTTP/1.1 chunked transfer coding (RFC 9112 §7.1); None if ``body`` is not that.

    A body cut inside its last chunk keeps the bytes present (WARC payloads may be truncated
    on purpose, see WARC-Truncated).
    """
    parts: list[bytes] = []
    pos = 0
    size_total = len(body)
    while pos < size_total:
        eol = body.find(b"\n", pos)
        if eol < 0:
            return None
        size_field = body[pos:eol].split(b";", 1)[0].strip()
        try:
            size = int(size_field, 16)
        except ValueError:
            return None
        if size < 0:
            return None
        if size == 0:
            break
        start = eol + 1
        parts.append(body[start : start + size])
        pos = start + size
        if body.startswith(b"\r\n", pos):
            pos += 2
        elif body.startswith(b"\n", pos):
            pos += 1
    return b"".join(parts)


def decode_content(body: bytes, encoding: str) -> bytes | None:
    """Undo a gzip/deflate Content-Encoding; None for other codings or a body that is not one."""
    coding = encoding.strip().lower()
    if coding in ("gzip", "x-gzip"):
        wbits_options: tuple[int, ...] = (_AUTO_HEADER_WBITS,)
    elif coding == "deflate":
        wbits_options = (_AUTO_HEADER_WBITS, _RAW_DEFLATE_WBITS)
    else:
        return None
    for wbits in wbits_options:
        try:
            return zlib.decompressobj(wbits).decompress(body, MAX_DECODED_BYTES)
        except zlib.error:
            continue
    return None


def decode_body(body: bytes, transfer_encoding: str | None, content_encoding: str | None) -> bytes:
    """The body with chunking and gzip/deflate removed where the headers ask and it works."""
    if transfer_encoding and "chunked" in transfer_encoding.lower():
        dechunked = dechunk(body)
        if dechunked is not None:
            body = dechunked
    if content_encoding and content_encoding.strip().lower() not in ("", "identity"):
        decoded = decode_content(body, content_encoding)
        if decoded is not None:
            body = decoded
    return body
