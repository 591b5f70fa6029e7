"""Fit the trafilatura-fallback `Router` of `gristmill.extract.fallback` from gold pages.

Training pages (`RouterPage`): a gold page with the default path's output from a block model
fitted on the same pages (as the shipped block model is on all five sources), the signals of
that output (`gristmill.extract.fallback.page_signals`) and trafilatura's output.

Target. Per page, `gristmill.extract.loso.page_score` of the routed text (trafilatura's, where
`prefer_second_opinion` takes it) minus that of the default's. Ridge regression on the
standardised signals, each source weighing the same in total (as the block model's fit does),
penalty `ROUTER_L2` per unit of total weight.

Cutoffs. The score above which each fraction of `FRACTION_GRID` of the training pages falls,
each source weighing the same.

``min_ratio`` (how short trafilatura's text may be before ours is kept) is chosen from
`MIN_RATIO_GRID` by the mean, over the fractions of `CURVE_FRACTIONS`, of the training score
(mean over sources of `gristmill.extract.loso.score_source` of the routed texts); ties go to the
first in grid order. In ``benchmarks/extraction.py --by-source --tradeoff`` all of this is
done on four sources and measured on the fifth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gristmill.extract.evaluation import SnippetCounts, word_prf
from gristmill.extract.fallback import FRACTION_GRID, Router, prefer_second_opinion
from gristmill.extract.gold import GoldPage
from gristmill.extract.loso import page_score

ROUTER_L2 = 0.01
MIN_RATIO_GRID: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75)
CURVE_FRACTIONS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0)


@dataclass(frozen=True)
class RouterPage:
    """A gold page as the router sees it: the default's text and signals, trafilatura's text."""

    page: GoldPage
    signals: np.ndarray
    ours: str
    theirs: str

    def routed(self, min_ratio: float) -> str:
        """The text kept when this page is routed to trafilatura."""
        return self.theirs if prefer_second_opinion(self.ours, self.theirs, min_ratio) else self.ours


def _parts(page: GoldPage, text: str) -> np.ndarray:
    """What one page adds to its source's score: (F1, 0, 0, 0) on a gold-text page, the snippet
    counts (kept with, lost with, kept without, dropped without) on a snippet page."""
    if page.main_content is not None:
        return np.array([word_prf(text, page.main_content)[2], 0.0, 0.0, 0.0])
    counts = SnippetCounts()
    counts.add(text, page.with_snippets, page.without_snippets)
    return np.array([counts.kept_with, counts.lost_with, counts.kept_without, counts.dropped_without], dtype=float)


class _Objective:
    """Mean over sources of the source F1 (`gristmill.extract.loso.score_source`) of a choice of
    text per page, from per-page parts computed once."""

    def __init__(self, pages: Sequence[RouterPage]) -> None:
        self.sources = np.array([p.page.collection for p in pages])
        self.gold_text = np.array([p.page.main_content is not None for p in pages])

    def __call__(self, parts: np.ndarray) -> float:
        scores = []
        for source in dict.fromkeys(self.sources):
            mask = self.sources == source
            if self.gold_text[mask][0]:
                scores.append(float(parts[mask, 0].mean()))
            else:
                tp, fn, fp, _ = parts[mask].sum(axis=0)
                denom = 2 * tp + fp + fn
                scores.append(2 * tp / denom if denom else 1.0)
        return float(np.mean(scores))


def source_weights(sources: Sequence[str]) -> np.ndarray:
    """1 / (pages of the page's source): every source weighs 1 in total."""
    _, inverse, counts = np.unique(np.asarray(sources), return_inverse=True, return_counts=True)
    return 1.0 / counts[inverse]


def balanced_cutoffs(scores: np.ndarray, weights: np.ndarray) -> tuple[float, ...]:
    """For each fraction of `FRACTION_GRID`, the score from which that weighted share of pages
    is reached, counting from the highest score."""
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    share = np.cumsum(weights[order]) / weights.sum()
    positions = np.minimum(np.searchsorted(share, np.asarray(FRACTION_GRID) - 1e-12), len(ranked) - 1)
    return tuple(float(x) for x in ranked[positions])


def _ridge(z: np.ndarray, y: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, float]:
    """Weighted ridge regression (intercept unpenalised); returns (coef, intercept)."""
    design = np.hstack([z, np.ones((len(z), 1))])
    penalty = np.full(design.shape[1], ROUTER_L2 * weights.sum())
    penalty[-1] = 0.0
    weighted = design * weights[:, None]
    theta = np.linalg.solve(weighted.T @ design + np.diag(penalty), weighted.T @ y)
    return theta[:-1], float(theta[-1])


def routed_mask(router: Router, signals: np.ndarray, fraction: float) -> np.ndarray:
    """Which pages (rows of ``signals``) the router sends to trafilatura at ``fraction``."""
    return router.score(signals) >= router.cutoff(fraction)


def fit_router(pages: Sequence[RouterPage]) -> Router:
    """Fit the router on ``pages`` (see the module docstring)."""
    signals = np.vstack([p.signals for p in pages])
    weights = source_weights([p.page.collection for p in pages])
    mean = signals.mean(axis=0)
    scale = signals.std(axis=0)
    scale[scale == 0] = 1.0
    z = (signals - mean) / scale
    objective = _Objective(pages)
    ours = np.vstack([_parts(p.page, p.ours) for p in pages])
    base = np.array([page_score(p.page, p.ours) for p in pages])
    best: tuple[float, Router] | None = None
    for ratio in MIN_RATIO_GRID:
        routed = np.vstack([_parts(p.page, p.routed(ratio)) for p in pages])
        gain = np.array([page_score(p.page, p.routed(ratio)) for p in pages]) - base
        coef, intercept = _ridge(z, gain, weights)
        scores = z @ coef + intercept
        router = Router(
            tuple(mean), tuple(scale), tuple(coef), intercept, ratio, balanced_cutoffs(scores, weights)
        )
        value = float(
            np.mean([objective(np.where(routed_mask(router, signals, f)[:, None], routed, ours)) for f in CURVE_FRACTIONS])
        )
        if best is None or value > best[0]:
            best = (value, router)
    assert best is not None
    return best[1]


def router_provenance(pages: Sequence[RouterPage], router: Router) -> dict[str, object]:
    """What a router fitted on ``pages`` records about its fit: the pages, the block model whose
    output it routes (the shipped file's SHA-256), the libraries and the settings."""
    import datetime
    import hashlib
    from importlib import resources
    from importlib.metadata import version

    from gristmill.core.version import code_version
    from gristmill.extract.block_model import MODEL_FILE
    from gristmill.extract.loso import folds, pages_digest

    counts: dict[str, int] = {}
    for p in pages:
        counts[p.page.collection] = counts.get(p.page.collection, 0) + 1
    model_bytes = resources.files("gristmill.extract").joinpath(MODEL_FILE).read_bytes()
    return {
        "fitted_on": counts,
        "pages_sha256": pages_digest([p.page for p in pages]),
        "block_model_sha256": hashlib.sha256(model_bytes).hexdigest(),
        "selected_by": "leave-one-source-out over folds " + "; ".join("+".join(f) for f in folds())
        + " (benchmarks/extraction.py --by-source --tradeoff)",
        "settings": {
            "router_l2": ROUTER_L2,
            "min_ratio_grid": list(MIN_RATIO_GRID),
            "min_ratio": router.min_ratio,
            "curve_fractions": list(CURVE_FRACTIONS),
            "target": "page_score(routed text) - page_score(default text), each source the same total weight",
            "second_opinion": "gristmill.extract.trafilatura_backend.extract_trafilatura, favor balanced",
        },
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "code_version": code_version(),
        "libraries": {name: version(name) for name in ("trafilatura", "resiliparse", "numpy")},
    }
