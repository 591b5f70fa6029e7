"""Which document format a file holds: by its extension, else by its first bytes.

Formats are the four the readers know: ``warc`` (WARC response/resource records, raw HTML),
``wet`` (Common Crawl WET ``conversion`` records, plain text), ``jsonl`` (one JSON object per
line, DCLM/Dolma style) and ``parquet``. WAT and ARC files are recognised only to refuse them
with a clear message: WAT holds link/header metadata, not documents, and fastwarc (the WARC
parser used here) does not parse the older ARC format.
"""

from __future__ import annotations

import os
import urllib.parse
import zlib

import zstandard

from gristmill.core.errors import InputError
from gristmill.io.http import local_path

DOCUMENT_FORMATS = ("warc", "wet", "jsonl", "parquet")

# Suffix -> format. DCLM writes ``.json.gz``/``.json.zst`` for JSON-lines shards, so those count
# as JSONL too; a bare ``.json`` is left out because folders of shards often hold a
# ``manifest.json`` that is a single JSON document.
_EXTENSIONS: dict[str, str] = {
    ".warc": "warc",
    ".warc.gz": "warc",
    ".warc.zst": "warc",
    ".warc.wet": "wet",
    ".warc.wet.gz": "wet",
    ".wet": "wet",
    ".wet.gz": "wet",
    ".warc.wat": "wat",
    ".warc.wat.gz": "wat",
    ".wat": "wat",
    ".wat.gz": "wat",
    ".arc": "arc",
    ".arc.gz": "arc",
    ".jsonl": "jsonl",
    ".jsonl.gz": "jsonl",
    ".jsonl.zst": "jsonl",
    ".jsonl.zstd": "jsonl",
    ".json.gz": "jsonl",
    ".json.zst": "jsonl",
    ".json.zstd": "jsonl",
    ".parquet": "parquet",
}
# Longest first, so ".warc.wet.gz" wins over ".wet.gz" and ".jsonl.gz" over ".gz"-less forms.
_SUFFIXES = sorted(_EXTENSIONS, key=len, reverse=True)

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
PARQUET_MAGIC = b"PAR1"
# An ARC v1 file starts with its "filedesc://" version block (IA ARC file format spec, 1996).
ARC_MAGIC = b"filedesc://"
_SNIFF_BYTES = 1 << 16

ARC_UNSUPPORTED = (
    "ARC files are not supported (fastwarc reads WARC only); convert it to WARC first, "
    "for example with warcio"
)
WAT_UNSUPPORTED = "WAT files hold metadata, not documents; read the WARC or WET file instead"


def file_name(path_or_url: str) -> str:
    """The last path segment of a local path or URL (query and fragment dropped)."""
    if "://" in path_or_url:
        path_or_url = urllib.parse.urlsplit(path_or_url).path
    return os.path.basename(path_or_url.rstrip("/\\"))


def split_extension(name: str) -> tuple[str, str | None]:
    """``(stem, suffix)`` for a known document/crawl suffix, else ``(name, None)``."""
    lowered = name.lower()
    for suffix in _SUFFIXES:
        if lowered.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], name[-len(suffix) :]
    return name, None


def format_from_extension(name: str) -> str | None:
    """The format a file name's suffix names ("warc", "wet", "wat", "arc", ...), or None."""
    _, suffix = split_extension(file_name(name))
    return None if suffix is None else _EXTENSIONS[suffix.lower()]


def is_document_file(name: str) -> bool:
    """True when a name has the suffix of a format the readers turn into documents."""
    return format_from_extension(name) in DOCUMENT_FORMATS


def sniff_format(path: str) -> str | None:
    """Guess a local file's format from its first bytes (after gzip/zstd), or None.

    Returns "warc", "arc", "jsonl" or "parquet". Only the head of the file is read.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(_SNIFF_BYTES)
    except OSError:
        return None
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    head = decompressed_head(head)
    if head.startswith(b"WARC/"):
        return "warc"
    if head.startswith(ARC_MAGIC):
        return "arc"
    if head.lstrip(b" \t\r\n").startswith(b"{"):
        return "jsonl"
    return None


def decompressed_head(head: bytes, size: int = 64) -> bytes:
    """Up to ``size`` leading bytes of ``head`` after gzip/zstd decompression (raw otherwise)."""
    try:
        if head.startswith(GZIP_MAGIC):
            return zlib.decompressobj(wbits=31).decompress(head, size)
        if head.startswith(ZSTD_MAGIC):
            return zstandard.ZstdDecompressor().decompressobj().decompress(head)[:size]
    except (zlib.error, zstandard.ZstdError):
        return b""
    return head[:size]


def detect_format(path: str) -> str:
    """The document format of ``path``: "warc" | "wet" | "jsonl" | "parquet".

    The extension decides; a local file with an unknown extension (such as warcio's
    ``example.warc.gz.bad``) is recognised from its first bytes. WAT and ARC files, and
    anything unrecognisable, raise `InputError` naming the file.
    """
    fmt = format_from_extension(path)
    if fmt is None:
        local = local_path(path)
        if local is not None and local.is_file():
            fmt = sniff_format(str(local))
    if fmt == "wat":
        raise InputError(f"{path}: {WAT_UNSUPPORTED}")
    if fmt == "arc":
        raise InputError(f"{path}: {ARC_UNSUPPORTED}")
    if fmt is None:
        raise InputError(
            f"{path}: unknown document format (expected .warc[.gz], .warc.wet.gz, "
            ".jsonl[.gz|.zst], .json.gz/.json.zst or .parquet)"
        )
    return fmt
