"""Real documents for the filter tests: the PAGES-2026 WARC mirror, extracted as DCLM does.

`gristmill.extract.gold.load_warc_page_texts` (DCLM-Pool's decoding and extraction of each
``response`` record), run once per test session (about 3 s for the 1,449 pages).
"""

from __future__ import annotations

import functools
from pathlib import Path

from gristmill.extract.gold import load_warc_page_texts


@functools.cache
def pages(shared_data: Path) -> tuple[tuple[str, str, str], ...]:
    """(record id, URL, extracted text) of every PAGES-2026 response record, in file order."""
    return tuple(load_warc_page_texts(shared_data))
