"""One HTTP payload in, main text (or a drop reason) out: the guards, decoding and backends together."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from resiliparse.parse.html import HTMLTree

from gristmill.core.step import Drop
from gristmill.extract.charset import charset_from_content_type, decode_html
from gristmill.extract.cleanup import extract_cleaned
from gristmill.extract.content_type import classify_content
from gristmill.extract.fallback import Fallback, extract_with_fallback
from gristmill.extract.guard import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DEPTH,
    DEFAULT_TIMEOUT_S,
    ExtractionTimeout,
    deeper_than,
    run_with_timeout,
)
from gristmill.extract.resiliparse_backend import extract_resiliparse, extract_resiliparse_full
from gristmill.extract.trafilatura_backend import TrafilaturaFavor, extract_trafilatura

HtmlBackend = Literal["cleaned", "resiliparse", "resiliparse_full", "trafilatura"]

# Drop reasons, as counted in stats.json.
TOO_LARGE = "too_large"
TOO_DEEP = "too_deep"
TIMEOUT = "timeout"
EMPTY = "empty"
NOT_HTML = "not_html"


class ExtractionError(Exception):
    """The HTML extractor raised on a page (a bug or an unhandled input, not a drop)."""


@dataclass(frozen=True, slots=True)
class Extraction:
    """Extracted text with the charset it was decoded from and the extractor that produced it."""

    text: str
    charset: str
    extractor: str


# Backends built on resiliparse: they take the page parsed once (and depth-checked) here.
_RESILIPARSE_BACKENDS = frozenset({"cleaned", "resiliparse", "resiliparse_full"})


def _html_extractor(backend: HtmlBackend, url: str | None, favor: TrafilaturaFavor) -> Callable[[Any], str]:
    if backend == "cleaned":
        return extract_cleaned
    if backend == "resiliparse":
        return extract_resiliparse
    if backend == "resiliparse_full":
        return extract_resiliparse_full
    if backend == "trafilatura":
        return lambda html: extract_trafilatura(html, url=url, favor=favor)
    raise ValueError(f"unknown HTML backend {backend!r}")


def _named_extractor(
    backend: HtmlBackend, url: str | None, favor: TrafilaturaFavor, fallback: Fallback | None, decoded: str
) -> Callable[[Any], tuple[str, str]]:
    """The extractor of ``backend`` returning (text, name of the extractor whose text it is)."""
    if fallback is not None:
        if backend != "cleaned":
            raise ValueError(f"a trafilatura fallback needs the cleaned backend, not {backend!r}")
        return lambda tree: extract_with_fallback(tree, decoded, url, fallback)
    extract = _html_extractor(backend, url, favor)
    return lambda page: (extract(page), backend)


def extract_page(
    content: bytes,
    *,
    content_type: str | None = None,
    declared_charset: str | None = None,
    url: str | None = None,
    backend: HtmlBackend = "cleaned",
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    trafilatura_favor: TrafilaturaFavor = "balanced",
    fallback: Fallback | None = None,
    where: str = "",
) -> Extraction | Drop:
    """Extract the main text of one HTTP payload.

    Args:
        content: raw payload bytes (HTTP body).
        content_type: the HTTP Content-Type value (may carry ``charset=``); None if unknown.
        declared_charset: the HTTP-declared charset when the reader already split it out;
            otherwise the ``charset=`` parameter of ``content_type`` is used.
        url: the page URL (trafilatura uses it for metadata only).
        backend: which HTML extractor runs (see `gristmill.extract.steps.ExtractText`).
        max_bytes: payloads larger than this are dropped as ``too_large`` unparsed.
        timeout_s: extraction wall-time limit (``timeout`` drop); 0 disables it.
        fallback: with the ``cleaned`` backend, send the pages its router picks to trafilatura
            for a second opinion (`gristmill.extract.fallback`); the extractor recorded is
            the one whose text was kept. The time limit covers both extractions.
        where: "file@offset" of the record, for the log line of an extractor crash.

    Returns:
        an `Extraction`, or a `Drop` whose reason is one of ``too_large``, ``too_deep``
        (elements nested deeper than `DEFAULT_MAX_DEPTH`, resiliparse backends), ``not_html``,
        ``timeout``, ``empty``.

    Raises:
        ExtractionError: the extractor itself raised; the runner counts the document as
            errored (not dropped), logs it in ``errors.jsonl`` and quarantines it.
    """
    if len(content) > max_bytes:
        return Drop(TOO_LARGE)
    kind = classify_content(content_type, content)
    if kind == "other":
        return Drop(NOT_HTML)
    declared = declared_charset or charset_from_content_type(content_type)
    decoded, charset = decode_html(content, declared)
    if kind == "text":
        text, extractor = decoded.strip(), "plain"
    else:
        page: Any = decoded
        if backend in _RESILIPARSE_BACKENDS:
            # Parsed once: the depth check and the extractor share the tree (resiliparse's
            # extract_plain_text takes an HTMLTree as well as a string).
            page = HTMLTree.parse(decoded)
            if deeper_than(page, DEFAULT_MAX_DEPTH):
                return Drop(TOO_DEEP)
        extract = _named_extractor(backend, url, trafilatura_favor, fallback, decoded)
        try:
            text, extractor = run_with_timeout(extract, timeout_s, page)
        except ExtractionTimeout:
            return Drop(TIMEOUT)
        except Exception as exc:
            raise ExtractionError(
                f"{where or url or 'page'}: {backend} extraction failed: {type(exc).__name__}: {exc}"
            ) from exc
        text = text.strip()
    if not text:
        return Drop(EMPTY)
    return Extraction(text=text, charset=charset, extractor=extractor)
