"""Fit the block model of `gristmill.extract.cleanup` from gold pages of several sources.

The shipped model (`gristmill.extract.block_model`) is fitted on every page of the five gold
sources by ``python benchmarks/extraction.py --fit --write-model``; its features and settings
were chosen by leave-one-source-out (`gristmill.extract.loso`, ``--by-source``). Everything
here is deterministic: Newton's method from zero weights, a fixed threshold grid, ties broken
by grid order.

Labels. On a page with gold main text, a block is main text when at least half of its word
3-grams occur in the gold text (lower-cased, whitespace words); blocks under three words count
as main text when all their words occur in the gold. Shingle containment rather than exact
matching because gold texts were re-typed (quotes, bullets, spacing differ from the page). On
a snippet-only page (trafilatura's evaluation set) a block containing a ``with`` snippet is
main text, one containing a ``without`` snippet is not, and the other blocks are left out of
the fit (their label is unknown).

Weights. A block weighs ``log1p(words)`` (long blocks matter more to the word-set F1, but one
400-word paragraph is not worth 100 four-word menu items), and each source weighs the same in
total, so that the largest source does not set the model's taste. The two selection thresholds
maximise the mean over sources of the mean page score (`gristmill.extract.loso.page_score`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gristmill.extract.blocks import Blocks, block_features
from gristmill.extract.cleanup import (
    BlockModel,
    expand_features,
    render_blocks,
    select_blocks,
)
from gristmill.extract.gold import GoldPage
from gristmill.extract.loso import page_score

LABEL_NGRAM = 3
LABEL_CONTAINMENT = 0.5
# Chosen by leave-one-source-out (benchmarks/extraction.py --by-source --sweep).
L2_PENALTY = 1.0
REGION_GRID = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)
KEEP_GRID = (0.0, 0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)


@dataclass(frozen=True)
class FitPage:
    """A gold page with the blocks the default path scores on it."""

    page: GoldPage
    blocks: Blocks


def _shingles(words: list[str]) -> set[tuple[str, ...]]:
    return set(zip(*(words[i:] for i in range(LABEL_NGRAM)), strict=False))


def gold_block_labels(blocks: Blocks, gold: str) -> np.ndarray:
    """Boolean main-text label of each block, by word 3-gram containment in ``gold``."""
    gold_words = gold.lower().split()
    gold_set = set(gold_words)
    gold_grams = _shingles(gold_words)
    labels = np.zeros(len(blocks), dtype=bool)
    for i, text in enumerate(blocks.texts):
        words = text.lower().split()
        if len(words) < LABEL_NGRAM:
            labels[i] = all(w in gold_set for w in words)
        else:
            grams = _shingles(words)
            labels[i] = len(grams & gold_grams) >= LABEL_CONTAINMENT * len(grams)
    return labels


def snippet_block_labels(blocks: Blocks, keep: Sequence[str], drop: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(labels, known) from snippets: a block holding a ``keep`` snippet is main text, one
    holding only ``drop`` snippets is not, the rest are unknown."""
    labels = np.zeros(len(blocks), dtype=bool)
    known = np.zeros(len(blocks), dtype=bool)
    for i, text in enumerate(blocks.texts):
        if any(s in text for s in keep):
            labels[i] = known[i] = True
        elif any(s in text for s in drop):
            known[i] = True
    return labels, known


def block_targets(fit_page: FitPage) -> tuple[np.ndarray, np.ndarray]:
    """(labels, known) for the blocks of one page, from whichever gold it has."""
    page, blocks = fit_page.page, fit_page.blocks
    if page.main_content is not None:
        return gold_block_labels(blocks, page.main_content), np.ones(len(blocks), dtype=bool)
    return snippet_block_labels(blocks, page.with_snippets, page.without_snippets)


def fit_logistic(
    x: np.ndarray, y: np.ndarray, weights: np.ndarray, l2: float = L2_PENALTY, iterations: int = 100
) -> tuple[np.ndarray, float]:
    """Weighted, L2-penalised logistic regression by Newton's method (intercept unpenalised).

    Minimises ``sum_i w_i * logloss_i + l2/2 * |coef|^2``; returns (coef, intercept).
    """
    n, d = x.shape
    design = np.hstack([x, np.ones((n, 1))])
    theta = np.zeros(d + 1)
    penalty = np.full(d + 1, l2)
    penalty[-1] = 0.0
    target = y.astype(float)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(design @ theta)))
        grad = design.T @ (weights * (p - target)) + penalty * theta
        hess = (design * (weights * p * (1 - p))[:, None]).T @ design + np.diag(penalty)
        step = np.linalg.solve(hess + 1e-9 * np.eye(d + 1), grad)
        theta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return theta[:-1], float(theta[-1])


def _balanced_weights(sources: list[str], block_weights: list[np.ndarray]) -> list[np.ndarray]:
    """Scale block weights so that every source sums to the same total (the mean total)."""
    totals: dict[str, float] = {}
    for source, w in zip(sources, block_weights, strict=True):
        totals[source] = totals.get(source, 0.0) + float(w.sum())
    mean_total = sum(totals.values()) / len(totals)
    return [w * (mean_total / totals[s]) for s, w in zip(sources, block_weights, strict=True)]


def source_balanced_score(pages: Sequence[FitPage], texts: Sequence[str]) -> float:
    """Mean over sources of the mean page score: the objective the thresholds are chosen on."""
    return _mean_of_sources([p.page.collection for p in pages], [page_score(p.page, t) for p, t in zip(pages, texts, strict=True)])


def _mean_of_sources(sources: Sequence[str], scores: Sequence[float]) -> float:
    by_source: dict[str, list[float]] = {}
    for source, score in zip(sources, scores, strict=True):
        by_source.setdefault(source, []).append(score)
    return float(np.mean([np.mean(v) for v in by_source.values()]))


class _PageScorer:
    """`page_score` of one page for a set of kept blocks, memoised by the kept set (most
    threshold pairs keep the same blocks). For gold-text pages the rendered text's word set is
    the union of the kept blocks' word sets (`render_blocks` never joins two blocks' words),
    so nothing is rendered."""

    def __init__(self, fit_page: FitPage) -> None:
        self.fit_page = fit_page
        self.memo: dict[tuple[int, ...], float] = {}
        gold = fit_page.page.main_content
        self.gold = set(gold.lower().split()) if gold is not None else None
        if self.gold is not None:
            blocks = fit_page.blocks
            self.words = [
                set(("- " + t if k == "li" else t).lower().split()) for k, t in zip(blocks.kinds, blocks.texts, strict=True)
            ]

    def __call__(self, keep: list[int]) -> float:
        key = tuple(keep)
        score = self.memo.get(key)
        if score is None:
            if self.gold is None:
                score = page_score(self.fit_page.page, render_blocks(self.fit_page.blocks, keep))
            else:
                got: set[str] = set().union(*(self.words[i] for i in keep))
                score = _set_f1(got, self.gold)
            self.memo[key] = score
        return score


def _set_f1(got: set[str], want: set[str]) -> float:
    """`word_prf`'s F1 on word sets already made."""
    if not got and not want:
        return 1.0
    common = len(got & want)
    if not common:
        return 0.0
    return 2 * common / (len(got) + len(want))


def fit_block_model(pages: Sequence[FitPage], l2: float = L2_PENALTY, balance_sources: bool = True) -> BlockModel:
    """Fit the block model on gold pages (see the module docstring); ``balance_sources=False``
    weighs blocks by length only (the alternative compared by leave-one-source-out)."""
    pages = [p for p in pages if len(p.blocks)]
    feats, labels, weights, fit_sources = [], [], [], []
    for fit_page in pages:
        y, known = block_targets(fit_page)
        if not known.any():
            continue
        feats.append(block_features(fit_page.blocks)[known])
        labels.append(y[known])
        weights.append(np.log1p(fit_page.blocks.word_counts()[known]))
        fit_sources.append(fit_page.page.collection)
    balanced = np.concatenate(_balanced_weights(fit_sources, weights) if balance_sources else weights)
    x = expand_features(np.vstack(feats))
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    coef, intercept = fit_logistic((x - mean) / scale, np.concatenate(labels), balanced, l2=l2)
    model = BlockModel(tuple(mean), tuple(scale), tuple(coef), intercept, 0.5, 0.0)
    probs = [model.probabilities(p.blocks) for p in pages]
    scorers = [_PageScorer(p) for p in pages]
    sources = [p.page.collection for p in pages]
    best: tuple[float, float, float] | None = None
    for region in REGION_GRID:
        for keep in KEEP_GRID:
            trial = dataclasses.replace(model, region_threshold=region, keep_threshold=keep)
            scores = [scorer(select_blocks(p.blocks, pr, trial)) for p, pr, scorer in zip(pages, probs, scorers, strict=True)]
            score = _mean_of_sources(sources, scores)
            if best is None or score > best[0]:
                best = (score, region, keep)
    assert best is not None
    return dataclasses.replace(model, region_threshold=best[1], keep_threshold=best[2])


def fit_provenance(pages: Sequence[GoldPage], blocks: Sequence[Blocks]) -> dict[str, object]:
    """What a model fitted on ``pages`` records about its fit (`gristmill.extract.block_model`)."""
    import datetime
    from importlib.metadata import version

    from gristmill.core.version import code_version
    from gristmill.extract import cleanup
    from gristmill.extract.loso import folds, pages_digest

    counts: dict[str, dict[str, int]] = {}
    for page, page_blocks in zip(pages, blocks, strict=True):
        entry = counts.setdefault(page.collection, {"pages": 0, "blocks": 0})
        entry["pages"] += 1
        entry["blocks"] += len(page_blocks)
    return {
        "fitted_on": counts,
        "pages_sha256": pages_digest(pages),
        "gold": "../shared/data/web/pages (wceb, trafilatura evaldata.json, archive-gold.jsonl.gz "
        "joined with commoncrawl/crawl-data/PAGES-ARCHIVE)",
        "selected_by": "leave-one-source-out over folds " + "; ".join("+".join(f) for f in folds()),
        "settings": {
            "l2_penalty": L2_PENALTY,
            "label_ngram": LABEL_NGRAM,
            "label_containment": LABEL_CONTAINMENT,
            "region_grid": list(REGION_GRID),
            "keep_grid": list(KEEP_GRID),
            "weights": "log1p(words) per block, each source the same total",
            "fallback_max_words": cleanup.FALLBACK_MAX_WORDS,
            "fallback_ratio": cleanup.FALLBACK_RATIO,
            "main_content_options": dict(cleanup.MAIN_CONTENT_OPTIONS),
        },
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "code_version": code_version(),
        "libraries": {name: version(name) for name in ("resiliparse", "numpy")},
    }
