"""Gold pages of the PAGES-ARCHIVE mirror: CleanEval, CleanPortalEval and Dragnet.

``../shared/data/web/pages/archive-gold.jsonl.gz`` holds ``{url, source, gold_text}`` per page;
the HTML is the ``response`` record of ``commoncrawl/crawl-data/PAGES-ARCHIVE`` whose
``WARC-Target-URI`` is that URL (j-szulc/html-cleaning-dataset-merged, see
../shared/data/README.md). Pages are joined on the URL and read in WARC file order.

Gold normalisation (`normalize_gold`). CleanEval's gold format (CleanEval 2007 annotation
guidelines; CleanPortalEval uses the same format) is a text rendering with block markers, which
are annotation, not page text, so for scoring:

1. a first non-blank line ``URL: ...`` (the annotators' header) is removed;
2. ``<p>``, ``<h>`` or ``<l>`` markers opening a line (after any indentation; sometimes
   doubled, "<p><p>") are removed;
3. a lone list bullet the text renderer drew after ``<l>`` (``*``, or ``&bull;``) is removed;
4. HTML character references (``&#039;``, ``&amp;``: left in by CleanPortalEval) are
   unescaped, only in their complete ``&...;`` form so that text such as "AT&T" is kept;
5. invisible characters are removed (byte-order marks opening 78 CleanEval files, soft hyphens,
   zero-width spaces), as the extraction's own output drops them (`gristmill.extract.blocks`):
   they would glue onto the first word and make it unmatchable for every extractor.

Dragnet gold is plain text: only steps 4 and 5 can change it (one entity, a few invisibles).
Pages whose gold is empty after normalisation are skipped (nothing to score against).
"""

from __future__ import annotations

import gzip
import html
import json
import re
from collections.abc import Collection
from pathlib import Path

from gristmill.extract.blocks import INVISIBLE
from gristmill.extract.gold import SHARED_DATA, GoldPage

ARCHIVE_GOLD = "web/pages/archive-gold.jsonl.gz"
ARCHIVE_WARC = "commoncrawl/crawl-data/PAGES-ARCHIVE/segments/sample/warc"
ARCHIVE_SOURCES: tuple[str, ...] = ("cleaneval", "cleanportaleval", "dragnet")

_URL_HEADER = re.compile(r"\A\s*URL:[^\n]*\n")
_MARKER = re.compile(r"(?m)^(?:[ \t]*<[phl]>)+")
_LIST_BULLET = re.compile(r"(?m)^([ \t]*)<l>[ \t]*(?:\*|&bull;|•)(?=\s)")
_CHAR_REF = re.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")


def normalize_gold(text: str) -> str:
    """Gold text without CleanEval's annotation markup (see the module docstring)."""
    text = INVISIBLE.sub("", text.replace("\r\n", "\n"))
    text = _URL_HEADER.sub("", text, count=1)
    text = _LIST_BULLET.sub(r"\1<l>", text)
    text = _MARKER.sub("", text)
    return _CHAR_REF.sub(lambda m: html.unescape(m.group(0)), text).strip()


def load_archive(
    shared_data: Path = SHARED_DATA,
    sources: Collection[str] = ARCHIVE_SOURCES,
    limit: int | None = None,
) -> list[GoldPage]:
    """Archive gold pages of ``sources`` in WARC order; at most ``limit`` per source."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    unknown = set(sources) - set(ARCHIVE_SOURCES)
    if unknown:
        raise ValueError(f"unknown archive sources {sorted(unknown)}; known: {ARCHIVE_SOURCES}")
    gold: dict[str, tuple[str, str]] = {}
    with gzip.open(shared_data / ARCHIVE_GOLD, "rt", encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            if record["source"] in sources:
                text = normalize_gold(record["gold_text"])
                if text:
                    gold[record["url"]] = (record["source"], text)
    taken = dict.fromkeys(sources, 0)
    pages = []
    for path in sorted((shared_data / ARCHIVE_WARC).glob("*.warc.gz")):
        with path.open("rb") as f:
            for record in ArchiveIterator(f, record_types=WarcRecordType.response):
                url = record.headers.get("WARC-Target-URI", "")
                if url not in gold:
                    continue
                source, text = gold.pop(url)
                if limit is not None and taken[source] >= limit:
                    continue
                taken[source] += 1
                content_type = (record.http_headers.get("Content-Type") if record.http_headers else None) or ""
                pages.append(
                    GoldPage(
                        collection=source,
                        key=url,
                        url=url,
                        html=record.reader.read(),
                        main_content=text,
                        content_type=content_type or "text/html",
                    )
                )
        if limit is not None and all(n >= limit for n in taken.values()):
            break
    return pages
