"""Benchmark: gristmill's RefinedWeb filter chain against datatrove's equivalent filters.

Both run in this process, one core, on the same documents: the text that resiliparse extracts
(``extract_plain_text(main_content=True)``, DCLM's setting) from the PAGES-2026 WARC mirror of
``../shared/data/web/pages`` (1,449 real pages with URLs), optionally plus the documents of
``../shared/data/web/more``. Each side's setup (loading blocklists and the fastText model) is
timed apart from its per-document work; the ratio compares documents per second.

gristmill side: ``recipes/refinedweb.yaml`` (DCLM's ``dclm_baseline_refinedweb.yaml``, 25
steps), assets from ``../shared/data/filters``.

datatrove side (0.10.1): ``URLFilter`` (UT1 + its word lists) → ``LanguageFilter(en, 0.65)``
(the same ``lid.176.ftz``) → ``GopherRepetitionFilter`` → ``GopherQualityFilter`` →
``C4QualityFilter(filter_no_terminal_punct=False)`` → ``FineWebQualityFilter``, FineWeb's
chain, with the English spaCy tokenizer datatrove assigns to English. A document dropped by a
filter skips the later ones, as in both pipelines. Filters are called directly
(``filter(doc)``), without datatrove's pipeline bookkeeping, which only favours datatrove.

Run: ``python benchmarks/filters.py [--more N] [--repeat R]`` (needs ``pip install datatrove
spacy tldextract fasteners pyahocorasick``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from gristmill.extract.gold import PAGES_WARC, load_warc_page_texts

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
ASSETS = SHARED / "filters"


def more_documents(limit: int) -> list[tuple[str, str, str]]:
    """Up to ``limit`` documents from each web/more source (text already plain)."""
    docs = []
    for path in sorted((SHARED / "web" / "more").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for i, line in enumerate(f):
                if i >= limit:
                    break
                rec = json.loads(line)
                docs.append((rec["id"], rec.get("url") or "", rec["text"]))
    return docs


def run_gristmill(records, batch_size: int = 256):
    from gristmill.core.document import Document
    from gristmill.engine.funnel import recipe_filter_steps, run_funnel

    t0 = time.perf_counter()
    steps = recipe_filter_steps("refinedweb", ASSETS)
    setup = time.perf_counter() - t0
    docs = [Document(id=i, url=u, text=t) for i, u, t in records]
    t0 = time.perf_counter()
    funnel = run_funnel(steps, docs, batch_size)
    return setup, time.perf_counter() - t0, {d.id for d in funnel.kept}, funnel.drops


class _NumpyTwoFastText:
    """datatrove calls fastText's Python single-text predict, which breaks on numpy 2 (and the
    fasttext-predict build installed here has no probabilities in its list form); the binding's
    own predict, which gristmill's language id uses too, returns the same numbers."""

    def __init__(self, path: str) -> None:
        from fasttext.FastText import _FastText

        self._model = _FastText(model_path=path)

    def predict(self, text: str, k: int = 1):
        top = self._model.f.predict(text + "\n", k, 0.0, "replace")
        return tuple(label for _, label in top), np.array([prob for prob, _ in top])


def datatrove_chain():
    import datatrove.utils._import_utils as dt_imports

    # datatrove insists on the fasttext-numpy2-wheel distribution; the fasttext installed here
    # provides the same module, and _NumpyTwoFastText below covers its numpy-2 incompatibility.
    is_available = dt_imports._is_distribution_available
    dt_imports._is_distribution_available = lambda name: name == "fasttext-numpy2-wheel" or is_available(name)

    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LanguageFilter,
        URLFilter,
    )
    from tldextract import TLDExtract

    from gristmill.filters.language import packaged_model_path

    url_filter = URLFilter()
    url_filter.tldextractor = TLDExtract(suffix_list_urls=())  # offline: bundled suffix list
    url_filter.download_data()
    lang = LanguageFilter(languages=["en"], language_threshold=0.65)
    lang.model._model = _NumpyTwoFastText(str(packaged_model_path()))
    return [
        url_filter,
        lang,
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False),
        FineWebQualityFilter(),
    ]


def run_datatrove(records):
    from datatrove.data import Document

    t0 = time.perf_counter()
    filters = datatrove_chain()
    # The spaCy tokenizer loads lazily; load it during setup so it is not timed per document.
    filters[2].filter(Document(text="Warm up the tokenizer.\nTwo lines.", id="warmup"))
    setup = time.perf_counter() - t0
    docs = [Document(text=t, id=i, metadata={"url": u}) for i, u, t in records]
    reasons: Counter[str] = Counter()
    kept_ids = set()
    t0 = time.perf_counter()
    for doc in docs:
        for f in filters:
            result = f.filter(doc)
            ok, reason = (result, f.name) if isinstance(result, bool) else result
            if not ok:
                reasons[f"{type(f).__name__}:{reason}"] += 1
                break
        else:
            kept_ids.add(doc.id)
    return setup, time.perf_counter() - t0, kept_ids, reasons


def language_agreement(records) -> tuple[int, int]:
    """Where the definitions coincide: English > 0.65 with the same model on the same text.

    Both read the page with newlines as spaces and keep it iff P(en) > 0.65 (datatrove looks at
    every label's score, gristmill at the top-1, which is the same test above 0.5).
    """
    from datatrove.data import Document as DatatroveDocument

    from gristmill.core.document import Document
    from gristmill.engine.registry import build_step

    ours = build_step("language_filter", {"languages": ["en"], "threshold": 0.65})
    theirs = datatrove_chain()[1]
    kept_ours = [
        not hasattr(r, "reason") for r in ours.apply_batch([Document(id=i, text=t) for i, _, t in records])
    ]
    kept_theirs = [bool(theirs.filter(DatatroveDocument(text=t, id=i))) for i, _, t in records]
    return sum(a == b for a, b in zip(kept_ours, kept_theirs, strict=True)), len(records)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--more", type=int, default=0, help="add N documents of each web/more source")
    parser.add_argument("--repeat", type=int, default=1, help="run each side R times, keep the fastest")
    args = parser.parse_args()
    if not (SHARED / PAGES_WARC).is_dir():
        print(f"shared data not found at {SHARED}", file=sys.stderr)
        return 1
    records = load_warc_page_texts(SHARED) + more_documents(args.more)
    # Empty extractions are dropped by both sides' first text rule; datatrove's URL filter
    # asserts a URL, so documents without one get a placeholder.
    records = [(i, u or f"https://unknown.invalid/{i}", t) for i, u, t in records]
    n = len(records)
    print(f"{n} documents, {sum(len(t) for _, _, t in records) / 1e6:.1f} MB of text")

    g_best = d_best = float("inf")
    for _ in range(args.repeat):
        g_setup, g_time, g_kept, g_reasons = run_gristmill(records)
        d_setup, d_time, d_kept, d_reasons = run_datatrove(records)
        g_best, d_best = min(g_best, g_time), min(d_best, d_time)

    print(f"gristmill refinedweb: setup {g_setup:.1f} s, {g_best:.2f} s, {n / g_best:,.0f} docs/s, kept {len(g_kept)}")
    print(f"datatrove equivalent: setup {d_setup:.1f} s, {d_best:.2f} s, {n / d_best:,.0f} docs/s, kept {len(d_kept)}")
    print(f"ratio (gristmill / datatrove docs/s, one core): {d_best / g_best:.2f}x")
    both = len(g_kept & d_kept)
    agree = n - len(g_kept ^ d_kept)
    print(f"kept by both: {both}; same keep/drop decision: {agree}/{n} ({agree / n:.1%})")
    same, total = language_agreement(records)
    print(f"language id (same definition on both sides): same decision on {same}/{total} documents")
    print("gristmill drops:", dict(g_reasons.most_common()))
    print("datatrove drops:", dict(d_reasons.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
