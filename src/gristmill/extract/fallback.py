"""Opt-in second opinion: trafilatura on the pages the block model is least sure of.

Why. Held out by source, the default path (`gristmill.extract.cleanup`) wins on some gold
sources and loses to trafilatura on others, at ~5x trafilatura's speed. Calling trafilatura on
every page gives up that speed; calling it on the share of pages where the default is most
likely to lose buys part of the quality back for part of the speed. ``extract_text``'s
``fallback_fraction`` sets that share (0, the default, keeps the default path's speed);
``benchmarks/extraction.py --by-source --tradeoff`` prints the held-out curve of F1 and MB/s
against it.

How a page is routed. The default path runs first (its output is needed anyway, and it is
cheap); its block probabilities and selection give the page `SIGNAL_NAMES` (how much of the
page the selection kept, how many words, how undecided the block model was). A `Router`
(a ridge regression of "trafilatura's page F1 minus the default's" on those signals, fitted by
`gristmill.extract.fit_fallback`) turns them into a score; pages whose score reaches the cutoff
go to trafilatura. The cutoff of a fraction ``f`` is the score above which a share ``f`` of the
gold pages fell when the router was fitted (each source weighing the same), so on another
crawl the share routed is near ``f``, not exactly ``f``.

Combining. trafilatura's text replaces the default's unless it has fewer than
``Router.min_ratio`` times the default's words (trafilatura sometimes keeps a fragment of a
page the default got whole; it never replaces text with nothing).

Signals. No single one ranks pages by trafilatura's gain on every source (on held-out
outputs, the share kept was the only one whose correlation with the gain was positive on all
five; a short output predicts a gain on four and a loss on CleanPortalEval), so the router
weighs all six by its fit.

What it buys, held out by source (``--by-source --tradeoff``, 2,851 gold pages, one core):
mean F1 over the five sources 0.897 at 5.65x trafilatura's speed (default) -> 0.905 (3.75x),
0.907 (2.31x), 0.911 (1.32x), 0.912 (0.85x) at a target share of 10, 25, 50, 100%
(trafilatura alone: 0.897). On wceb, CleanEval and Dragnet 10% already beats trafilatura;
on trafilatura's own set and CleanPortalEval no share does (gap at 100%: -0.006, -0.009),
so the default keeps the speed and this stays opt-in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from gristmill.extract.block_model import (
    default_model,
    linear_fields,
    linear_record,
    read_fitted_file,
)
from gristmill.extract.blocks import Blocks
from gristmill.extract.cleanup import BlockModel, main_content_blocks, render_blocks, select_blocks
from gristmill.extract.trafilatura_backend import TrafilaturaFavor, extract_trafilatura

ROUTER_FILE = "fallback_router.json"

SIGNAL_NAMES: tuple[str, ...] = (
    "kept_share",  # words kept / words in the blocks scored
    "log_kept_words",  # log1p(words kept)
    "uncertainty",  # mean of min(p, 1 - p) over blocks, weighted by log1p(words)
    "mean_probability",  # mean block probability, weighted by words
    "log_blocks",  # log1p(blocks)
    "log_words",  # log1p(words in the blocks scored)
)

# The fractions the router's cutoffs are stored at (0.00, 0.01, ..., 1.00).
FRACTION_GRID: tuple[float, ...] = tuple(i / 100 for i in range(101))


def page_signals(blocks: Blocks, probs: np.ndarray, keep: list[int]) -> np.ndarray:
    """The `SIGNAL_NAMES` of one page, from the default path's blocks, probabilities and selection."""
    if len(blocks) == 0:
        return np.array([0.0, 0.0, 0.5, 0.0, 0.0, 0.0])
    words = blocks.word_counts().astype(float)
    total = float(words.sum())
    kept = float(words[keep].sum()) if keep else 0.0
    log_words = np.log1p(words)
    return np.array(
        [
            kept / max(total, 1.0),
            np.log1p(kept),
            float((log_words * np.minimum(probs, 1 - probs)).sum() / max(log_words.sum(), 1e-9)),
            float((words * probs).sum() / max(total, 1.0)),
            np.log1p(len(blocks)),
            np.log1p(total),
        ]
    )


@dataclass(frozen=True)
class Router:
    """Scores pages by how likely trafilatura does better than the default path on them."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    min_ratio: float
    cutoffs: tuple[float, ...]  # score cutoff at each fraction of `FRACTION_GRID`

    def score(self, signals: np.ndarray) -> np.ndarray:
        """Predicted F1 gain of trafilatura over the default (rows of ``signals``: pages)."""
        z = (np.asarray(signals, dtype=float) - np.asarray(self.mean)) / np.asarray(self.scale)
        return z @ np.asarray(self.coef) + self.intercept

    def cutoff(self, fraction: float) -> float:
        """Score from which a page is routed, for a target share ``fraction`` of pages."""
        if fraction <= 0:
            return float("inf")
        if fraction >= 1:
            return float("-inf")
        return float(np.interp(fraction, FRACTION_GRID, self.cutoffs))


def prefer_second_opinion(ours: str, theirs: str, min_ratio: float) -> bool:
    """Whether trafilatura's text replaces ours on a routed page (see the module docstring)."""
    their_words = len(theirs.split())
    return their_words > 0 and their_words >= min_ratio * len(ours.split())


@dataclass(frozen=True)
class Fallback:
    """A routing setting: the router, its cutoff, and the block model it routes on."""

    router: Router
    cutoff: float
    model: BlockModel | None = None  # the shipped block model when None
    favor: TrafilaturaFavor = "balanced"


def fallback_for(fraction: float, favor: TrafilaturaFavor = "balanced") -> Fallback | None:
    """The shipped router at ``fraction``; None (no routing) at 0."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"fallback_fraction must be in [0, 1], got {fraction}")
    if fraction == 0:
        return None
    router = default_router()
    return Fallback(router=router, cutoff=router.cutoff(fraction), favor=favor)


def extract_with_fallback(tree: Any, html: str, url: str | None, fallback: Fallback) -> tuple[str, str]:
    """(text, extractor) of one page: the default path, or trafilatura's second opinion.

    ``tree`` is the parsed page the default path reads, ``html`` the decoded string trafilatura
    parses; the extractor is "cleaned" or "trafilatura", whichever text was kept.
    """
    model = fallback.model
    if model is None:
        model = default_model()
    blocks = main_content_blocks(tree)
    probs = model.probabilities(blocks)
    keep = select_blocks(blocks, probs, model)
    ours = render_blocks(blocks, keep)
    if float(fallback.router.score(page_signals(blocks, probs, keep))) < fallback.cutoff:
        return ours, "cleaned"
    theirs = extract_trafilatura(html, url=url, favor=fallback.favor).strip()
    if prefer_second_opinion(ours, theirs, fallback.router.min_ratio):
        return theirs, "trafilatura"
    return ours, "cleaned"


def router_to_json(router: Router, provenance: dict[str, Any]) -> str:
    """The JSON text of a router file."""
    record = {
        "format": 1,
        "provenance": provenance,
        "signals": list(SIGNAL_NAMES),
        **linear_record(router),
        "min_ratio": router.min_ratio,
        "fractions": list(FRACTION_GRID),
        "cutoffs": list(router.cutoffs),
    }
    return json.dumps(record, indent=1, ensure_ascii=False) + "\n"


def read_router_file(path: Path | None = None) -> dict[str, Any]:
    """The raw record of a router file (the shipped one by default)."""
    return read_fitted_file(ROUTER_FILE, path)


def load_router(path: Path | None = None) -> Router:
    """The `Router` of a router file; a file of other signals or fractions is refused."""
    record = read_router_file(path)
    if tuple(record["signals"]) != SIGNAL_NAMES or tuple(record["fractions"]) != FRACTION_GRID:
        raise ValueError(
            f"{path or ROUTER_FILE}: its signals or fractions differ from the code's; "
            "refit with benchmarks/extraction.py --fit-router --write-model"
        )
    return Router(
        **linear_fields(record),
        min_ratio=float(record["min_ratio"]),
        cutoffs=tuple(record["cutoffs"]),
    )


@lru_cache(maxsize=1)
def default_router() -> Router:
    """The shipped router, loaded once per process."""
    return load_router()
