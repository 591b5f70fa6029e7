"""Decode raw HTML bytes to text, recording which charset was used.

Order of evidence, most trusted first (WHATWG "encoding sniffing" order, simplified):

1. a byte-order mark (it overrides every declaration in browsers too);
2. the charset declared in the HTTP ``Content-Type`` header, if it names a known codec *and*
   the bytes decode under it without error (a wrong header is common: DCLM simply skipped
   pages whose ``html.decode("utf-8")`` failed, in mlfoundations/dclm
   ``tools/commoncrawl/process_common_crawl_w_ray.py``; we try harder);
3. a ``<meta charset>`` / ``http-equiv`` declaration in the first 1,024 bytes, then
   ``uchardet`` statistics — both through resiliparse's ``detect_encoding(from_html_meta=True)``;
4. the guess is tried strictly, then UTF-8 and Windows-1252 (the fallbacks of resiliparse's
   ``bytes_to_str``), and last the guess with replacement characters, so undecodable bytes
   never raise. The charset recorded is the one that actually decoded the page.

Labels are mapped to their WHATWG canonical codec (``iso-8859-1`` → ``cp1252``,
``gb2312`` → ``gbk``), which is what browsers actually decode with.
"""

from __future__ import annotations

import codecs

from resiliparse.parse.encoding import detect_encoding, map_encoding_to_html5

# (BOM, codec that decodes the rest, charset name recorded)
_BOMS: tuple[tuple[bytes, str, str], ...] = (
    (codecs.BOM_UTF8, "utf-8", "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16"),
)
_FALLBACKS = ("utf-8", "cp1252")


def canonical_charset(label: str | None) -> str | None:
    """The WHATWG codec name for a charset label, or None when Python knows no such codec.

    ``map_encoding_to_html5`` returns "utf-8" for labels it does not know, so an unknown
    label is first checked with `codecs.lookup` to tell "declared UTF-8" from "garbage".
    """
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    if not label:
        return None
    try:
        codecs.lookup(label)
    except LookupError:
        return None
    return map_encoding_to_html5(label)


def charset_from_content_type(content_type: str | None) -> str | None:
    """The ``charset=`` parameter of an HTTP Content-Type value, if any (not validated)."""
    if not content_type:
        return None
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


def decode_html(content: bytes, declared: str | None = None) -> tuple[str, str]:
    """Decode page bytes; return ``(text, charset)`` where charset is the codec used.

    Args:
        content: the raw HTTP payload.
        declared: the charset from the HTTP header (a label such as "ISO-8859-1"), if any.

    Never raises on bad bytes: the last resort decodes with replacement characters.
    """
    for bom, codec, name in _BOMS:
        if content.startswith(bom):
            return content[len(bom) :].decode(codec, errors="replace"), name
    declared_codec = canonical_charset(declared)
    if declared_codec is not None:
        try:
            return content.decode(declared_codec), declared_codec
        except UnicodeDecodeError:
            pass  # a wrong header: fall through to the page's own declaration and statistics
    guess = canonical_charset(detect_encoding(content, from_html_meta=True)) or "utf-8"
    for codec in (guess, *_FALLBACKS):
        try:
            return content.decode(codec), codec
        except UnicodeDecodeError:
            continue
    return content.decode(guess, errors="replace"), guess
