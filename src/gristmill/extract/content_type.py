"""Which HTTP payloads are pages to extract text from.

Three kinds:

* ``"html"`` — ``text/html`` and the XHTML types; also ``text/xml`` / ``application/xml`` when
  the payload starts like an HTML document (XHTML served as XML), and a missing Content-Type
  when the first bytes look like HTML.
* ``"text"`` — ``text/plain`` and Markdown: already text, decoded and passed through as is.
* ``"other"`` — everything else (images, PDF, audio/video, fonts, JSON, JavaScript, CSS, feeds,
  ``application/octet-stream``): dropped with reason ``not_html``. DCLM-Pool kept only
  ``response`` records and relied on resiliparse emitting nothing for binary payloads; an
  explicit reason makes the loss countable instead.
"""

from __future__ import annotations

import re
from typing import Literal

ContentKind = Literal["html", "text", "other"]

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/vnd.wap.xhtml+xml"})
TEXT_TYPES = frozenset({"text/plain", "text/markdown", "text/x-markdown"})
XML_TYPES = frozenset({"text/xml", "application/xml"})

# A page "looks like HTML" when one of these tags appears in its first bytes (case-insensitive).
_HTML_SNIFF = re.compile(rb"<(?:!doctype\s+html|html|head|body|title|meta|div|p)[\s>/]", re.I)
_SNIFF_BYTES = 2048


def media_type(content_type: str | None) -> str:
    """The bare, lower-cased media type of a Content-Type value ("" when absent)."""
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def looks_like_html(content: bytes) -> bool:
    """Whether the first bytes of a payload contain an HTML tag."""
    return _HTML_SNIFF.search(content[:_SNIFF_BYTES]) is not None


def classify_content(content_type: str | None, content: bytes) -> ContentKind:
    """Classify a payload by its HTTP Content-Type, sniffing only when the type is missing/XML."""
    mtype = media_type(content_type)
    if mtype in HTML_TYPES:
        return "html"
    if mtype in TEXT_TYPES:
        return "text"
    if mtype in XML_TYPES or mtype == "":
        if looks_like_html(content):
            return "html"
        if mtype == "" and b"\x00" not in content[:_SNIFF_BYTES]:
            return "text"
    return "other"
