"""Open any input file as a stream of documents: `read_documents(path)`.

The format comes from the file name (or, for unknown names, the first bytes); see
`gristmill.io.formats`. Readers yield `Document` or `RecordError` in file order and count
non-document records in ``reader.skipped``.
"""

from __future__ import annotations

from gristmill.core.errors import InputError
from gristmill.io.base import DocumentReader
from gristmill.io.formats import DOCUMENT_FORMATS, detect_format
from gristmill.io.http import local_path

__all__ = ["DocumentReader", "detect_format", "read_documents"]


def read_documents(path: str, fmt: str | None = None, *, name: str | None = None) -> DocumentReader:
    """A reader over the documents of one file (local path, ``file://`` or http(s) URL).

    Args:
        path: the input file.
        fmt: "warc" | "wet" | "jsonl" | "parquet"; detected from the name when None.
        name: the stable file name stored in metadata and fallback ids (default: base name).

    Raises `InputError` for a missing local file or an unknown/unsupported format. Nothing
    is read until iteration starts.
    """
    fmt = detect_format(path) if fmt is None else fmt
    if fmt not in DOCUMENT_FORMATS:
        raise InputError(f"{path}: unknown format {fmt!r} (expected one of {', '.join(DOCUMENT_FORMATS)})")
    local = local_path(path)
    if local is not None and not local.is_file():
        raise InputError(f"input not found: {path}")
    if fmt in ("warc", "wet"):
        from gristmill.io.warc import WarcReader

        return WarcReader(path, fmt, name)
    if fmt == "jsonl":
        from gristmill.io.jsonl import JsonlReader

        return JsonlReader(path, fmt, name)
    from gristmill.io.parquet import ParquetReader  # pyarrow is imported only when needed

    return ParquetReader(path, fmt, name)
