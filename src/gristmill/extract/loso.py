"""Leave-one-source-out: score what a model does on gold sources it was not fitted on.

Sources and folds. The five gold sources of `gristmill.extract.gold.SOURCES` make four folds:
CleanEval and CleanPortalEval are held out *together*. CleanPortalEval (71 pages) was annotated
to CleanEval's guidelines, in CleanEval's gold format (same ``<p>/<h>/<l>`` markup, same
``URL:`` header), so a model fitted on CleanEval has already learnt the annotation taste it is
then scored against on CleanPortalEval; holding both out is the stricter test, and 71 pages
alone would make a noisy fold. Each source is still scored and reported on its own.

Scores per source (`score_source`):
* sources with gold main text: word-set precision / recall / F1 per page (wceb's definition,
  `gristmill.extract.evaluation.word_prf`), mean over pages;
* trafilatura's evaluation pages (snippets only): trafilatura's own pooled snippet scores,
  precision = tp / (tp + fp), recall = tp / (tp + fn), F1 = 2tp / (2tp + fp + fn), where a
  ``with`` snippet found in the output is a tp, one missing a fn, a ``without`` snippet found a fp
  (adbar/trafilatura ``tests/comparison_small.py``, ``evaluate_result``).

`page_score` is the per-page F1 used to rank the pages where one extractor loses to another,
and, averaged per source, the objective the fitted thresholds are chosen on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from gristmill.extract.evaluation import SnippetCounts, word_prf
from gristmill.extract.gold import SHARED_DATA, SOURCES, GoldPage, load_trafilatura, load_wceb
from gristmill.extract.gold_archive import load_archive

# Sources that are always held out together (see the module docstring).
GROUPED: tuple[tuple[str, ...], ...] = (("cleaneval", "cleanportaleval"),)

M = TypeVar("M")


def folds(sources: Sequence[str] = SOURCES) -> list[tuple[str, ...]]:
    """The held-out source groups, in source order: one per source, grouped ones together."""
    out: list[tuple[str, ...]] = []
    for source in sources:
        group = next((g for g in GROUPED if source in g), (source,))
        held = tuple(s for s in group if s in sources)
        if held not in out:
            out.append(held)
    return out


def load_gold_sources(shared_data: Path = SHARED_DATA, limit: int | None = None) -> list[GoldPage]:
    """Every gold page of the five sources (at most ``limit`` per source), in `SOURCES` order."""
    pages_root = shared_data / "web" / "pages"
    return (
        load_wceb(limit, root=pages_root)
        + load_trafilatura(limit, root=pages_root)
        + load_archive(shared_data, limit=limit)
    )


def by_source(pages: Sequence[GoldPage]) -> dict[str, list[int]]:
    """Indices of the pages of each source, sources in `SOURCES` order."""
    out: dict[str, list[int]] = {s: [] for s in SOURCES}
    for i, page in enumerate(pages):
        out[page.collection].append(i)
    return {s: idx for s, idx in out.items() if idx}


def pages_digest(pages: Sequence[GoldPage]) -> str:
    """SHA-256 over every page's source, URL, HTML and gold: what a model was fitted on."""
    digest = hashlib.sha256()
    for page in sorted(pages, key=lambda p: (p.collection, p.key)):
        gold = page.main_content if page.main_content is not None else "\x1e".join(
            (*page.with_snippets, "\x1f", *page.without_snippets)
        )
        for part in (page.collection, page.key, page.content_type):
            digest.update(part.encode() + b"\0")
        digest.update(hashlib.sha256(page.html).digest())
        digest.update(hashlib.sha256(gold.encode()).digest())
    return digest.hexdigest()


def page_score(page: GoldPage, text: str) -> float:
    """F1 of one page's extraction: word-set F1, or snippet F1 on a snippet-only page."""
    if page.main_content is not None:
        return word_prf(text, page.main_content)[2]
    counts = SnippetCounts()
    counts.add(text, page.with_snippets, page.without_snippets)
    return counts.f1


def score_source(pages: Sequence[GoldPage], texts: Sequence[str]) -> tuple[float, float, float]:
    """(precision, recall, F1) of ``texts`` on pages of one source (see the module docstring)."""
    if not pages:
        return float("nan"), float("nan"), float("nan")
    if pages[0].main_content is not None:
        scores = np.mean([word_prf(t, p.main_content or "") for p, t in zip(pages, texts, strict=True)], axis=0)
        return float(scores[0]), float(scores[1]), float(scores[2])
    counts = SnippetCounts()
    for page, text in zip(pages, texts, strict=True):
        counts.add(text, page.with_snippets, page.without_snippets)
    found = counts.kept_with + counts.kept_without
    precision = counts.kept_with / found if found else 1.0
    return precision, counts.with_kept_share, counts.f1


def leave_one_source_out(
    indices_by_source: dict[str, Sequence[int]],
    fit: Callable[[list[int]], M],
    predict: Callable[[M, list[int]], list[str]],
) -> dict[str, list[str]]:
    """Held-out outputs for every source: for each fold, ``fit`` on the pages of the other
    sources (by index) and ``predict`` the held-out pages with that model."""
    out: dict[str, list[str]] = {}
    for held in folds([s for s in SOURCES if s in indices_by_source]):
        train = [i for s, idx in indices_by_source.items() if s not in held for i in idx]
        model = fit(train)
        for source in held:
            out[source] = predict(model, list(indices_by_source[source]))
    return out
