"""Real documents for the quality, SemDedup and mixing tests, cheap to make.

Pool pages are extracted with DCLM-Pool's resiliparse call (`extract_dclm_pool`, about 3 ms
a page), not the slower default extractor (these tests are about scorers, not extraction),
once per test session and WARC file.
"""

from __future__ import annotations

import functools
import gzip
import itertools
from pathlib import Path

import orjson

from gristmill.extract.resiliparse_backend import extract_dclm_pool

ARCHIVE = "commoncrawl/crawl-data/PAGES-ARCHIVE/segments/sample/warc"
PAGES = "commoncrawl/crawl-data/PAGES-2026/segments/sample/warc"


@functools.cache
def warc_pages(shared_data: Path, crawl: str, file_index: int) -> tuple[dict, ...]:
    """Documents ``{id, url, text}`` of one WARC file of the mirror (non-empty texts)."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    path = sorted((shared_data / crawl).glob("*.warc.gz"))[file_index]
    docs = []
    with path.open("rb") as f:
        for record in ArchiveIterator(f, record_types=WarcRecordType.response):
            text = extract_dclm_pool(record.reader.read())
            if text.strip():
                docs.append({"id": record.record_id, "url": record.headers.get("WARC-Target-URI", ""),
                             "text": text})
    return tuple(docs)


def archive_pages(shared_data: Path, file_index: int) -> tuple[dict, ...]:
    """The pages of one PAGES-ARCHIVE WARC file (2005-2019 web)."""
    return warc_pages(shared_data, ARCHIVE, file_index)


def pool_pages(shared_data: Path, n: int) -> list[dict]:
    """The first ``n`` PAGES-2026 pages with text (from as many WARC files as that takes)."""
    docs = (d for i in itertools.count() for d in warc_pages(shared_data, PAGES, i))
    return list(itertools.islice(docs, n))


def more_records(shared_data: Path, source: str, n: int) -> list[dict]:
    """The first ``n`` records of ``web/more/<source>-00000.jsonl.gz``."""
    with gzip.open(shared_data / "web" / "more" / f"{source}-00000.jsonl.gz", "rb") as fh:
        return [orjson.loads(line) for line in itertools.islice(fh, n)]


def write_jsonl(path: Path, docs: list[dict]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    return str(path)
