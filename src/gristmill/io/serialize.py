"""A document as the bytes every writer stores: one JSON object, keys id, text, url, metadata.

The top-level key order is fixed (DCLM/Dolma readers look for ``text`` and ``url``); metadata
is serialised with sorted keys at every depth, so equal documents give equal bytes whatever
order the steps added their metadata in. Lone surrogates (from lenient decoding upstream)
are replaced by U+FFFD rather than failing the shard.
"""

from __future__ import annotations

from typing import Any

import orjson

from gristmill.core.document import Document
from gristmill.io.surrogates import scrub_surrogates

_METADATA_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY
_dumps = orjson.dumps


def utf8_size(text: str) -> int:
    """Bytes of ``text`` in UTF-8 (``isascii`` is O(1) in CPython, so ASCII costs nothing)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _line(doc_id: Any, text: Any, url: Any, metadata: Any) -> bytes:
    return b'{"id":%b,"text":%b,"url":%b,"metadata":%b}\n' % (
        _dumps(doc_id), _dumps(text), _dumps(url), _dumps(metadata, option=_METADATA_OPTIONS)
    )


def encode_document(doc: Document) -> tuple[bytes, str]:
    """``(JSON line with trailing newline, the text as written)`` for one document.

    Raises ValueError naming the document when its metadata is not JSON-serialisable.
    """
    try:
        return _line(doc.id, doc.text, doc.url, doc.metadata), doc.text
    except TypeError:
        pass
    text = scrub_surrogates(doc.text)
    try:
        line = _line(scrub_surrogates(doc.id), text, scrub_surrogates(doc.url),
                     scrub_surrogates(doc.metadata))
    except TypeError as exc:
        raise ValueError(f"document {doc.id!r} cannot be written as JSON: {exc}") from exc
    return line, text


def encode_metadata(metadata: dict[str, Any], doc_id: str) -> bytes:
    """The metadata of one document as JSON bytes (sorted keys, surrogates replaced)."""
    try:
        return _dumps(metadata, option=_METADATA_OPTIONS)
    except TypeError:
        pass
    try:
        return _dumps(scrub_surrogates(metadata), option=_METADATA_OPTIONS)
    except TypeError as exc:
        raise ValueError(f"document {doc_id!r}: metadata cannot be written as JSON: {exc}") from exc
