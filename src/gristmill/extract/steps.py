"""The ``extract_text`` step: raw page bytes → main text, for recipes."""

from __future__ import annotations

from typing import Literal

from gristmill.core.document import Document
from gristmill.core.step import Drop, Step, register
from gristmill.extract.fallback import fallback_for
from gristmill.extract.guard import DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_S
from gristmill.extract.links import page_links
from gristmill.extract.page import EMPTY, HtmlBackend, extract_page
from gristmill.extract.trafilatura_backend import TrafilaturaFavor

Backend = Literal["auto", "cleaned", "resiliparse", "resiliparse_full", "trafilatura", "wet"]


@register("extract_text")
class ExtractText(Step):
    """Extract main text from the raw payload of each document.

    Reads ``doc.content`` (the HTTP body the WARC reader stored) and the reader's metadata
    ``content_type`` / ``http_charset``; sets ``doc.text``, clears ``doc.content`` and records
    ``metadata["charset"]`` (codec the page was decoded with) and ``metadata["extractor"]``.

    Backends:
        auto: ``cleaned`` for HTML payloads; documents without a payload whose text is
            already set (WET records, JSONL/Parquet inputs) keep their text as is.
        cleaned: resiliparse main content + the block model of `gristmill.extract.cleanup`
            (held out by source, above resiliparse on all five gold sources and above
            trafilatura on two, at ~5x trafilatura's speed;
            ``benchmarks/extraction.py --by-source`` prints the table).
        resiliparse: DCLM's extractor, ``extract_plain_text(html, main_content=True)``.
        resiliparse_full: every visible text node (a WET-like rendering of the HTML).
        trafilatura: trafilatura with its benchmark settings (``trafilatura_favor`` selects
            its precision/recall presets).
        wet: keep ``doc.text`` as the reader set it, whatever the payload.

    ``text/plain`` payloads are decoded and passed through (extractor ``plain``) by every
    HTML backend. Drops: ``too_large`` (payload over ``max_bytes``), ``too_deep`` (elements
    nested deeper than a browser renders; resiliparse backends), ``not_html`` (images,
    PDF, other binary or non-page types), ``timeout`` (extraction over ``timeout_s``),
    ``empty`` (nothing extracted). An extractor that raises makes the document an error
    (counted, listed in ``errors.jsonl`` and quarantined), never a silent drop.
    Size, depth and time defaults and their sources: `gristmill.extract.guard`.
    With ``fallback_fraction: f`` (0 < f <= 1; ``cleaned``/``auto`` only), the pages the block
    model is least sure of, about a share ``f`` of them, also go to trafilatura, whose text
    is kept unless it is much shorter (`gristmill.extract.fallback`; ``metadata["extractor"]``
    then says ``trafilatura``). Quality for speed: held-out F1 and MB/s of each share are
    printed by ``benchmarks/extraction.py --by-source --tradeoff``. The default, 0, keeps the
    default path's speed.
    With ``keep_links: true``, ``metadata["links"]`` lists the page's outgoing ``<a href>``
    targets (`gristmill.extract.links`; what ``pagerank_score`` builds its host graph from).
    """

    kind = "extractor"

    def __init__(
        self,
        *,
        backend: Backend = "auto",
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        trafilatura_favor: TrafilaturaFavor = "balanced",
        keep_links: bool = False,
        fallback_fraction: float = 0.0,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        if timeout_s < 0:
            raise ValueError(f"timeout_s must be >= 0 (0 disables the limit), got {timeout_s}")
        self.html_backend: HtmlBackend = "cleaned" if backend in ("auto", "wet") else backend
        if fallback_fraction and backend not in ("auto", "cleaned"):
            raise ValueError(f"fallback_fraction needs backend auto or cleaned, not {backend!r}")
        self.fallback = fallback_for(fallback_fraction, trafilatura_favor)

    def apply(self, doc: Document) -> Document | Drop:
        cfg = self.config
        if doc.content is None or cfg["backend"] == "wet":
            doc.content = None
            if not doc.text.strip():
                return Drop(EMPTY)
            doc.metadata.setdefault("extractor", "wet")
            return doc
        meta = doc.metadata
        source = meta.get("source_file")
        where = f"{source}@{meta.get('record_offset')}" if source else doc.id
        result = extract_page(
            doc.content,
            content_type=meta.get("content_type"),
            declared_charset=meta.get("http_charset"),
            url=doc.url,
            backend=self.html_backend,
            max_bytes=cfg["max_bytes"],
            timeout_s=float(cfg["timeout_s"]),
            trafilatura_favor=cfg["trafilatura_favor"],
            fallback=self.fallback,
            where=where,
        )
        content, doc.content = doc.content, None
        if isinstance(result, Drop):
            return result
        doc.text = result.text
        meta["charset"] = result.charset
        meta["extractor"] = result.extractor
        if cfg["keep_links"] and result.extractor != "plain":
            meta["links"] = page_links(content, doc.url, result.charset)
        return doc
