"""Per-page cache of slow extraction results, for iterating on `benchmarks/extraction.py`.

trafilatura's outputs and resiliparse's renderings of the ~2,900 gold pages take minutes to
recompute; accuracy runs (``--by-source``, leave-one-source-out fits) read them from
``.cache/extraction/`` (git-ignored) instead. Entries are keyed by the SHA-1 of the page bytes
and its Content-Type, in one file per (kind, library version), so a library upgrade or a
changed page never reuses a stale result. Timings are never taken from the cache: the speed
columns always come from extractions run in the same benchmark process.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path

from gristmill.extract.gold import GoldPage
from gristmill.io.atomic import write_atomic

CACHE_DIR = Path(__file__).resolve().parents[1] / ".cache" / "extraction"


def page_key(page: GoldPage) -> str:
    return hashlib.sha1(page.html + b"\0" + page.content_type.encode()).hexdigest()


def cached_texts(kind: str, version: str, pages: Sequence[GoldPage], compute: Callable[[GoldPage], str]) -> list[str]:
    """``compute(page)`` for every page, read from the cache where an entry exists."""
    path = CACHE_DIR / f"{kind}-{version}.pkl"
    store: dict[str, str] = pickle.loads(path.read_bytes()) if path.is_file() else {}
    keys = [page_key(p) for p in pages]
    missing = [(k, p) for k, p in zip(keys, pages, strict=True) if k not in store]
    for key, page in missing:
        store[key] = compute(page)
    if missing:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, pickle.dumps(store, protocol=pickle.HIGHEST_PROTOCOL))
    return [store[k] for k in keys]
