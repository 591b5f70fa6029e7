"""Fit the block model of `gristmill.extract.cleanup` from pages with gold main text.

The shipped model (`gristmill.extract.block_model`) was produced by
``python benchmarks/extraction.py --fit --write-model`` on the even-numbered wceb pages; the
odd-numbered ones are held out and the benchmark prints F1 on both halves. Everything here is
deterministic: Newton's method from zero weights, a fixed threshold grid, ties broken by order.

Labels. A block is main text when at least half of its word 3-grams occur in the gold text
(lower-cased, whitespace words); blocks under three words count as main text when all their
words occur in the gold. Shingle containment rather than exact matching because the gold
texts were re-typed (quotes, bullets, spacing differ from the page).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gristmill.extract.blocks import Blocks, block_features
from gristmill.extract.cleanup import (
    EXPANDED_NAMES,
    BlockModel,
    expand_features,
    main_content_blocks,
    render_blocks,
    select_blocks,
)
from gristmill.extract.evaluation import word_prf

LABEL_NGRAM = 3
LABEL_CONTAINMENT = 0.5
# Held-out F1 moved by <0.003 for L2 in 0.1..100 and containment 0.3..0.7 (tried on the
# odd-numbered wceb pages), so both sit at the plain middle values.
L2_PENALTY = 1.0
REGION_GRID = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)
KEEP_GRID = (0.0, 0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)


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


def fit_block_model(pages: Sequence[tuple[str, str]]) -> BlockModel:
    """Fit the block model on (decoded HTML, gold main text) pairs.

    Sample weights are ``log1p(words)``: long blocks matter more to the word-set F1, but not
    linearly (one 400-word paragraph is not worth 100 four-word menu items).
    """
    page_blocks = [main_content_blocks(html) for html, _ in pages]
    feats, labels, weights = [], [], []
    for blocks, (_, gold) in zip(page_blocks, pages, strict=True):
        if len(blocks) == 0:
            continue
        feats.append(expand_features(block_features(blocks)))
        labels.append(gold_block_labels(blocks, gold))
        weights.append(np.log1p(blocks.word_counts()))
    x = np.vstack(feats)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    coef, intercept = fit_logistic((x - mean) / scale, np.concatenate(labels), np.concatenate(weights))
    model = BlockModel(tuple(mean), tuple(scale), tuple(coef), intercept, 0.5, 0.0)
    probs = [model.probabilities(b) for b in page_blocks]
    best: tuple[float, float, float] | None = None
    for region in REGION_GRID:
        for keep in KEEP_GRID:
            trial = BlockModel(model.mean, model.scale, model.coef, intercept, region, keep)
            f1 = float(
                np.mean(
                    [
                        word_prf(render_blocks(b, select_blocks(b, p, trial)), gold)[2]
                        for b, p, (_, gold) in zip(page_blocks, probs, pages, strict=True)
                    ]
                )
            )
            if best is None or f1 > best[0]:
                best = (f1, region, keep)
    assert best is not None
    return BlockModel(model.mean, model.scale, model.coef, intercept, best[1], best[2])


def model_source(model: BlockModel, provenance: str) -> str:
    """Python source of `gristmill.extract.block_model` holding ``model``."""

    def floats(values: Sequence[float]) -> str:
        return "(\n" + "".join(f"        {float(v)!r},  # {n}\n" for v, n in zip(values, EXPANDED_NAMES, strict=True)) + "    )"

    return f'''"""The fitted block model used by the default extraction path (generated; do not edit).

{provenance}
Regenerate with ``python benchmarks/extraction.py --fit --write-model``; see
`gristmill.extract.fit` for the procedure and `gristmill.extract.cleanup` for its use.
"""

from gristmill.extract.cleanup import BlockModel

DEFAULT_MODEL = BlockModel(
    mean={floats(model.mean)},
    scale={floats(model.scale)},
    coef={floats(model.coef)},
    intercept={model.intercept!r},
    region_threshold={model.region_threshold!r},
    keep_threshold={model.keep_threshold!r},
)
'''
