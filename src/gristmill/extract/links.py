"""Outgoing links of a page: the ``<a href>`` targets, resolved to absolute http(s) URLs.

Kept in ``metadata["links"]`` when ``extract_text`` is given ``keep_links: true``; the host
link graph of `gristmill.quality.pagerank` is built from them (DCLM Table 4's PageRank
filter; Common Crawl's host-level web graph uses the same edges). The HTML is parsed by
resiliparse (entities decoded, any attribute quoting); a ``<base href>`` changes the base of
relative links as browsers do; fragments are dropped and duplicates kept once, in page order.
"""

from __future__ import annotations

from urllib.parse import urldefrag, urljoin, urlsplit

from resiliparse.parse.html import HTMLTree

# More outgoing links than this on one page are link farms or site maps; the first ones are kept.
MAX_LINKS = 1000


def page_links(html: str | bytes, base_url: str | None, encoding: str = "utf-8",
               limit: int = MAX_LINKS) -> list[str]:
    """Absolute http(s) targets of the page's ``<a href>`` elements (at most ``limit``);
    bytes are decoded with ``encoding`` (the codec extraction used), bad bytes replaced."""
    if isinstance(html, bytes):
        try:
            html = html.decode(encoding, errors="replace")
        except LookupError:
            html = html.decode("utf-8", errors="replace")
    tree = HTMLTree.parse(html)
    if tree.document is None:
        return []
    base = base_url or ""
    tag = tree.document.query_selector("base[href]")
    if tag is not None:
        base = urljoin(base, tag.getattr("href").strip())
    seen: dict[str, None] = {}
    for el in tree.document.query_selector_all("a[href]"):
        href = (el.getattr("href") or "").strip()
        if not href or href.startswith(("#", "javascript:", "mailto:")):
            continue
        try:
            target = urldefrag(urljoin(base, href))[0]
            parts = urlsplit(target)
        except ValueError:  # a malformed URL (bad IPv6 literal, port) is no link
            continue
        if parts.scheme in ("http", "https") and parts.hostname:
            seen.setdefault(target)
            if len(seen) >= limit:
                break
    return list(seen)
