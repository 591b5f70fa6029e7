"""Attribute side files: per-document scores stored beside the documents, row by row.

Dolma's layout (allenai/dolma ``docs/data-format.md``, "attributes"): for a document file
``documents/<shard>.jsonl.zst`` an attribute file ``attributes/<name>/<shard>.jsonl.zst`` holds
one line per document, in the same order, ``{"id": ..., "attributes": {<name>: [[start, end,
value]]}}``; a whole-document score is one span covering the text, ``[0, len(text), value]``.
A threshold or a top fraction can then be recomputed from these small files without running
the scorer again (DCLM §4: "save enriched scores ... to retune thresholds").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from gristmill.core.document import Document
from gristmill.core.errors import InputError, RecordError
from gristmill.io.atomic import atomic_output
from gristmill.io.compression import StreamError, compressed_sink, iter_decompressed, peek_codec
from gristmill.io.jsonl import BrokenLines, iter_lines
from gristmill.io.readers import read_documents

ATTRIBUTES_DIR = "attributes"


def attribute_path(run_dir: Path, key: str, shard: str) -> Path:
    """``<run_dir>/attributes/<key>/<shard>.jsonl.zst``."""
    return run_dir / ATTRIBUTES_DIR / key / f"{shard}.jsonl.zst"


def attribute_row(doc: Document, key: str) -> bytes:
    """The Dolma attribute line of one document (a missing score is ``null``)."""
    value = doc.metadata.get(key)
    spans = [[0, len(doc.text), value]] if value is not None else []
    return orjson.dumps({"id": doc.id, "attributes": {key: spans}}) + b"\n"


def write_attribute_files(documents: str | Path, outputs: dict[str, str | Path]) -> int:
    """Write, for each ``key -> path`` of ``outputs``, the attribute file of ``documents``
    (one pass over the shard); returns the number of documents. Files appear atomically."""
    keys = list(outputs)
    rows: dict[str, list[bytes]] = {k: [] for k in keys}
    count = 0
    for item in read_documents(str(documents)):
        if isinstance(item, RecordError):
            raise InputError(f"{documents}: {item}")
        count += 1
        for key in keys:
            rows[key].append(attribute_row(item, key))
    for key in keys:
        with atomic_output(Path(outputs[key])) as fh:
            sink = compressed_sink(fh, "zstd")
            sink.write(b"".join(rows[key]))
            sink.finish()
    return count


def read_attribute(path: str | Path, key: str) -> Iterator[tuple[str, Any]]:
    """``(document id, value)`` of each row of an attribute file (``None`` without a span).

    A malformed row raises `InputError` naming the file and line.
    """
    p = Path(path)
    try:
        fh = open(p, "rb")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise InputError(f"attribute file {p} cannot be read: {exc}") from exc
    with fh:
        codec = peek_codec(fh) if hasattr(fh, "peek") else "none"
        blocks = iter_decompressed(fh, codec) if codec != "none" else iter(lambda: fh.read(1 << 20), b"")
        line_no = 0
        try:
            for line in iter_lines(blocks):
                line_no += 1
                if not line.strip():
                    continue
                try:
                    row = orjson.loads(line)
                    spans = row["attributes"][key]
                    value = spans[0][2] if spans else None
                    yield str(row["id"]), value
                except (orjson.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
                    raise InputError(f"{p} line {line_no}: not an attribute row for {key!r} ({exc})") from exc
        except (BrokenLines, StreamError) as exc:
            raise InputError(f"{p} after line {line_no}: {exc}") from exc


def attach_attribute(docs: Sequence[Document], values: Sequence[tuple[str, Any]], key: str,
                     where: str) -> None:
    """Set ``metadata[key]`` of each document from row-aligned ``values`` (ids must match)."""
    if len(values) != len(docs):
        raise InputError(f"{where}: {len(values)} attribute rows for {len(docs)} documents")
    for i, (doc, (doc_id, value)) in enumerate(zip(docs, values, strict=True)):
        if doc_id != doc.id:
            raise InputError(f"{where} row {i + 1}: id {doc_id!r} but the document is {doc.id!r}")
        doc.metadata[key] = value
