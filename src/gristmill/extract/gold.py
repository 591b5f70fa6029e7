"""Load gold-annotated pages (as in ../shared/data/web/pages) to measure extraction.

Five sources (see ../shared/data/README.md), each a `GoldPage.collection`:

* ``wceb``: ``wceb/NNNN.html.gz`` + ``wceb/gold/NNNN.json``
  (tiptopjaw/web-content-extraction-benchmark): gold ``ground_truth.main_content`` plus
  ``with``/``without`` snippets.
* ``trafilatura``: ``trafilatura/*.html.gz`` + ``evaldata.json`` (adbar/trafilatura
  tests/eval): only ``with``/``without`` snippets; entries whose file is missing are skipped.
* ``cleaneval``, ``dragnet``, ``cleanportaleval``: gold main text in ``archive-gold.jsonl.gz``,
  HTML in the PAGES-ARCHIVE WARC mirror, joined on URL (`gristmill.extract.gold_archive`).

Pages are read in place, never copied.

`load_warc_page_texts` reads the same pages from their WARC mirror (the PAGES-2026 "crawl")
and extracts them as DCLM-Pool did: the documents the filter tests and benchmark run on.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

# Where the project's shared data lies beside a source checkout; callers may pass any root.
SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
PAGES_DIR = SHARED_DATA / "web" / "pages"
# The five gold sources, in the order reports list them.
SOURCES: tuple[str, ...] = ("wceb", "trafilatura", "cleaneval", "cleanportaleval", "dragnet")
# The WARC mirror of PAGES_DIR, relative to the shared data root.
PAGES_WARC = "commoncrawl/crawl-data/PAGES-2026/segments/sample/warc"


@dataclass(frozen=True)
class GoldPage:
    """One page with its gold annotations."""

    collection: str  # the source: one of SOURCES
    key: str  # wceb "0001", trafilatura file name, archive pages their URL
    url: str
    html: bytes
    main_content: str | None  # None for trafilatura (snippets only)
    with_snippets: tuple[str, ...] = ()
    without_snippets: tuple[str, ...] = ()
    content_type: str = "text/html"  # the HTTP Content-Type (archive pages: from the WARC)


def _read_gz(path: Path) -> bytes:
    with gzip.open(path, "rb") as fh:
        return fh.read()


def load_wceb(
    limit: int | None = None,
    root: Path = PAGES_DIR,
    keys: Collection[str] | None = None,
    with_html: bool = True,
) -> list[GoldPage]:
    """wceb pages in page-number order: the first ``limit``, or those numbered in ``keys``.

    ``with_html=False`` reads only the gold files (``html`` is then empty).
    """
    gold_files = sorted((root / "wceb" / "gold").glob("*.json"))
    if not gold_files:
        raise FileNotFoundError(f"no wceb gold files under {root / 'wceb' / 'gold'}")
    if keys is not None:
        gold_files = [f for f in gold_files if f.stem in keys]
    pages = []
    for gold_file in gold_files[:limit]:
        record = json.loads(gold_file.read_text(encoding="utf-8"))
        truth = record["ground_truth"]
        html = _read_gz(root / "wceb" / f"{gold_file.stem}.html.gz") if with_html else b""
        pages.append(
            GoldPage(
                collection="wceb",
                key=gold_file.stem,
                url=record.get("url", ""),
                html=html,
                main_content=truth.get("main_content") or "",
                with_snippets=tuple(truth.get("with") or ()),
                without_snippets=tuple(truth.get("without") or ()),
            )
        )
    return pages


def load_trafilatura(
    limit: int | None = None, root: Path = PAGES_DIR, keys: Collection[str] | None = None
) -> list[GoldPage]:
    """trafilatura evaluation pages in evaldata.json order: the first ``limit`` present, or
    those whose file name is in ``keys``."""
    folder = root / "trafilatura"
    evaldata = json.loads((folder / "evaldata.json").read_text(encoding="utf-8"))
    pages = []
    for url, entry in evaldata.items():
        path = folder / f"{entry['file']}.gz"
        if (keys is not None and entry["file"] not in keys) or not path.is_file():
            continue
        html = _read_gz(path)
        pages.append(
            GoldPage(
                collection="trafilatura",
                key=entry["file"],
                url=url,
                html=html,
                main_content=None,
                with_snippets=tuple(entry.get("with") or ()),
                without_snippets=tuple(entry.get("without") or ()),
            )
        )
        if limit is not None and len(pages) >= limit:
            break
    return pages


def load_warc_page_texts(shared_data: Path = SHARED_DATA) -> list[tuple[str, str, str]]:
    """(record id, URL, extracted text) of every response record of the PAGES-2026 mirror
    under ``shared_data``, in file order, extracted as DCLM-Pool did (`extract_dclm_pool`)."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    from gristmill.extract.resiliparse_backend import extract_dclm_pool

    docs = []
    for path in sorted((shared_data / PAGES_WARC).glob("*.warc.gz")):
        with path.open("rb") as f:
            for record in ArchiveIterator(f, record_types=WarcRecordType.response):
                text = extract_dclm_pool(record.reader.read())
                docs.append((record.record_id, record.headers.get("WARC-Target-URI", ""), text))
    return docs
