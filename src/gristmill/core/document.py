"""The one record type that flows through every curation stage.

A `Document` carries the four fields DCLM and Dolma tooling read (`id`, `text`, `url`,
`metadata`). `content` holds the raw payload (HTML bytes of a WARC response) between reading
and extraction; it is never written out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Document:
    """A web document.

    Attributes:
        id: stable identifier (WARC-Record-ID, else ``<source file>:<record index>``).
        text: the document text (empty until extraction for WARC responses).
        url: the source URL ("" when unknown).
        metadata: free-form metadata; scores and provenance live here.
        content: raw payload bytes before extraction; dropped on write.
    """

    id: str
    text: str = ""
    url: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    content: bytes | None = None

    def to_record(self) -> dict[str, Any]:
        """The serialisable form written to `.jsonl.zst` / Parquet (never `content`)."""
        return {"id": self.id, "text": self.text, "url": self.url, "metadata": self.metadata}

    @classmethod
    def from_record(cls, record: dict[str, Any], fallback_id: str) -> Document:
        """Build a document from a DCLM/Dolma-style JSON record.

        DCLM-Pool records keep the URL only in ``metadata["WARC-Target-URI"]`` and have no
        ``id``; both are recovered here so every document has an id and, where known, a URL.
        """
        metadata = record.get("metadata") or {}
        if not isinstance(metadata, dict):
            metadata = {"value": metadata}
        extra = {k: v for k, v in record.items() if k not in ("id", "text", "url", "metadata")}
        if extra:
            metadata = {**metadata, **extra}
        url = record.get("url") or metadata.get("WARC-Target-URI") or ""
        doc_id = record.get("id")
        if doc_id is None or doc_id == "":
            doc_id = metadata.get("WARC-Record-ID") or fallback_id
        text = record.get("text")
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise TypeError(f"field 'text' must be a string, got {type(text).__name__}")
        return cls(id=str(doc_id), text=text, url=str(url), metadata=metadata)
