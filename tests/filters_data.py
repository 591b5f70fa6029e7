"""Real documents for the filter tests: the PAGES-2026 WARC mirror, extracted as DCLM does.

``extract_plain_text(main_content=True)`` over each ``response`` record (DCLM-Pool's
extraction), decoded as UTF-8 or, failing that, with resiliparse's encoding detection. The
extraction runs once per test session (about 3 s for the 1,449 pages).
"""

from __future__ import annotations

import functools
from pathlib import Path


@functools.cache
def pages(shared_data: Path) -> tuple[tuple[str, str, str], ...]:
    """(record id, URL, extracted text) of every PAGES-2026 response record, in file order."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    root = shared_data / "commoncrawl" / "crawl-data" / "PAGES-2026" / "segments" / "sample" / "warc"
    docs = []
    for path in sorted(root.glob("*.warc.gz")):
        with path.open("rb") as f:
            for record in ArchiveIterator(f, record_types=WarcRecordType.response):
                body = record.reader.read()
                try:
                    html = body.decode("utf-8")
                except UnicodeDecodeError:
                    html = bytes_to_str(body, detect_encoding(body))
                text = extract_plain_text(html, main_content=True)
                docs.append((record.record_id, record.headers.get("WARC-Target-URI", ""), text))
    return tuple(docs)
