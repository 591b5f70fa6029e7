"""Open an output file for documents: `open_writer(path)`.

Formats: ``.jsonl.zst`` (the default, zstd level 3), ``.jsonl.gz``, ``.jsonl`` and
``.parquet``. Every writer commits atomically (temporary name, rename on clean close) and
produces identical bytes for identical input.
"""

from __future__ import annotations

from pathlib import Path

from gristmill.io.base import DocumentWriter

__all__ = ["WRITER_FORMATS", "DocumentWriter", "open_writer", "writer_format"]

# Output format -> JSONL codec (None: Parquet).
WRITER_FORMATS: dict[str, str | None] = {
    "jsonl.zst": "zstd",
    "jsonl.gz": "gzip",
    "jsonl": "none",
    "parquet": None,
}
DEFAULT_FORMAT = "jsonl.zst"


def writer_format(path: str | Path, fmt: str | None = None) -> str:
    """The output format for ``path``: ``fmt`` if given, else the path's suffix, else the
    default ``jsonl.zst``."""
    if fmt is not None:
        fmt = fmt.lower().lstrip(".")
        if fmt not in WRITER_FORMATS:
            raise ValueError(f"unknown output format {fmt!r} (expected one of {', '.join(WRITER_FORMATS)})")
        return fmt
    name = Path(path).name.lower()
    for candidate in sorted(WRITER_FORMATS, key=len, reverse=True):
        if name.endswith("." + candidate):
            return candidate
    return DEFAULT_FORMAT


def open_writer(path: str | Path, fmt: str | None = None) -> DocumentWriter:
    """A writer of documents to ``path`` (parent folders are created).

    Use it as a context manager: a clean exit renames the temporary file into place; an
    exception removes it and leaves ``path`` untouched.
    """
    fmt = writer_format(path, fmt)
    codec = WRITER_FORMATS[fmt]
    if codec is None:
        from gristmill.io.parquet import ParquetWriter  # pyarrow is imported only when needed

        return ParquetWriter(path)
    from gristmill.io.jsonl import JsonlWriter

    return JsonlWriter(path, codec)
