"""Parquet documents: read row group by row group, write with one fixed schema.

Reading accepts the layouts in the wild: DCLM-Baseline's Parquet mirror (``metadata`` as a
struct, extra columns such as ``language_id_whole_page_fasttext``) and gristmill's own
(``metadata`` as a JSON string). Columns other than id/text/url/metadata are folded into
``metadata`` by `Document.from_record`. Rows are numbered from 0 in errors and fallback ids.

Writing uses the schema ``id, text, url, metadata`` (all strings; metadata as sorted-key
JSON, the same bytes the JSONL writer stores) and closes a row group every `ROW_GROUP_ROWS`
documents or `ROW_GROUP_TEXT_BYTES` of text, whichever comes first, so equal input gives
equal row groups and equal files.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from gristmill.core.document import Document
from gristmill.core.errors import RecordError
from gristmill.io.base import DocumentReader, DocumentWriter
from gristmill.io.http import local_path
from gristmill.io.paths import open_binary
from gristmill.io.serialize import encode_metadata, utf8_size
from gristmill.io.surrogates import scrub_surrogates

SCHEMA = pa.schema(
    [("id", pa.string()), ("text", pa.string()), ("url", pa.string()), ("metadata", pa.string())]
)
# Row groups of ~10k web documents (~50 MB of text) keep readers' memory bounded while
# staying large enough for efficient column chunks (Apache Parquet docs suggest 128 MB-1 GB
# groups for analytics; documents are read whole, so smaller groups cost little).
ROW_GROUP_ROWS = 10_000
ROW_GROUP_TEXT_BYTES = 64 << 20
# zstd level 3, as for .jsonl.zst.
_COMPRESSION = "zstd"
_COMPRESSION_LEVEL = 3
# Rows converted to Python per batch while reading.
_READ_BATCH_ROWS = 1024


def _seekable_input(source: str) -> tuple[Any, BinaryIO | None]:
    """A local path, or a spooled copy of a remote file (Parquet needs random access)."""
    local = local_path(source)
    if local is not None:
        return str(local), None
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the reader)
    with open_binary(source) as remote:
        shutil.copyfileobj(remote, spool, 1 << 20)
    spool.seek(0)
    return spool, spool


class ParquetReader(DocumentReader):
    """Documents of a Parquet file, streamed one row batch at a time."""

    def _iter_records(self) -> Iterator[Document | RecordError]:
        where, spool = _seekable_input(self.source)
        row = 0
        try:
            try:
                parquet = pq.ParquetFile(where)
                batches = parquet.iter_batches(batch_size=_READ_BATCH_ROWS)
            except (pa.ArrowException, OSError) as exc:
                yield self.error(0, f"not a readable Parquet file: {exc}")
                return
            while True:
                try:
                    batch = next(batches, None)
                except (pa.ArrowException, OSError) as exc:
                    yield self.error(row, f"unreadable Parquet data from row {row}: {exc}")
                    return
                if batch is None:
                    return
                for record in batch.to_pylist():
                    item = self._document(record, row)
                    row += 1
                    yield item
        finally:
            if spool is not None:
                spool.close()

    def _document(self, record: dict[str, Any], row: int) -> Document | RecordError:
        metadata = record.get("metadata")
        if isinstance(metadata, str | bytes):
            if not metadata.strip():
                record["metadata"] = {}
            else:
                try:
                    record["metadata"] = orjson.loads(metadata)
                except orjson.JSONDecodeError as exc:
                    return self.error(row, f"column 'metadata' is not valid JSON: {exc}")
        try:
            return Document.from_record(record, fallback_id=f"{self.name}:{row}")
        except (TypeError, ValueError) as exc:
            return self.error(row, str(exc))


def _clean_str(value: Any) -> str:
    """A string Arrow can store: None -> "", lone surrogates replaced."""
    if value is None:
        return ""
    value = str(value)
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return scrub_surrogates(value)
    return value


class ParquetWriter(DocumentWriter):
    """Write documents to Parquet with the fixed `SCHEMA`."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        try:
            self._writer = pq.ParquetWriter(self._file, SCHEMA, compression=_COMPRESSION,
                                            compression_level=_COMPRESSION_LEVEL)
        except BaseException:
            self.abort()
            raise
        self._columns: tuple[list[str], list[str], list[str], list[str]] = ([], [], [], [])
        self._text_bytes = 0

    def write(self, doc: Document) -> None:
        text = _clean_str(doc.text)
        metadata = encode_metadata(doc.metadata, doc.id).decode("utf-8")
        ids, texts, urls, metas = self._columns
        ids.append(_clean_str(doc.id))
        texts.append(text)
        urls.append(_clean_str(doc.url))
        metas.append(metadata)
        size = utf8_size(text)
        self.documents += 1
        self.bytes_written += size
        self._text_bytes += size
        if len(ids) >= ROW_GROUP_ROWS or self._text_bytes >= ROW_GROUP_TEXT_BYTES:
            self._flush()

    def _flush(self) -> None:
        ids, texts, urls, metas = self._columns
        if not ids:
            return
        table = pa.Table.from_arrays(
            [pa.array(ids, pa.string()), pa.array(texts, pa.string()),
             pa.array(urls, pa.string()), pa.array(metas, pa.string())],
            schema=SCHEMA,
        )
        self._writer.write_table(table, row_group_size=len(ids))
        self._columns = ([], [], [], [])
        self._text_bytes = 0

    def _finish(self) -> None:
        self._flush()
        self._writer.close()

    def _release(self) -> None:
        # Close now: left to the garbage collector, pyarrow would write its footer into the
        # already closed temporary file.
        writer = getattr(self, "_writer", None)
        if writer is not None:
            writer.close()
