"""The default extraction path: resiliparse main content, then block-level boilerplate removal.

Why. resiliparse's main-content mode (DCLM's extractor) is ~10x faster than trafilatura but on
the wceb gold pages its output has lower precision (menus, bylines, comment threads, "read
next" lists around the article) and, on ~5% of pages, loses the article altogether (its
class-name heuristics drop a container named e.g. ``promoted`` or ``sidebar-right``). Both
failure modes are visible in the block structure of its own output, so we fix them there:

1. **Fallback.** When main-content output has fewer than `FALLBACK_MAX_WORDS` words *and* less
   than `FALLBACK_RATIO` of the words of the full-page rendering, main-content extraction
   failed; the full page is used instead and cleaned by the same model. (Thresholds chosen on
   the even-numbered wceb pages: 0.1 recovers the lost-article pages without catching product
   and listing pages whose boilerplate merely dwarfs short real content; the 600-word cap lets
   us skip the full rendering on ~80% of pages, with identical results. Checked again by
   leave-one-source-out over the five gold sources: a ratio of 0.25 lowered held-out F1 on
   wceb, trafilatura's set and CleanPortalEval by 0.004-0.02, so 0.1 stays.)
2. **Block scoring.** Each block gets the probability that it belongs to the main text from a
   logistic model over `blocks.block_features` (kind, length, link density, punctuation,
   position relative to the long paragraphs, neighbourhood averages) expanded with squares and
   kind interactions (`expand_features`). The shipped model (`gristmill.extract.block_model`)
   is fitted on five gold sources by `gristmill.extract.fit.fit_block_model`; numbers held out
   by source are printed by ``benchmarks/extraction.py --by-source``.
3. **Region.** Main text is one contiguous stretch of a page, so instead of thresholding blocks
   one by one we keep the maximum-sum run of ``(p - region_threshold) * log1p(words)`` (the
   classic maximum-subarray formulation of body-text extraction, Finn, Kushmerick & Smyth
   2001, "Fact or fiction: content classification for digital libraries"), and inside it drop
   blocks scored below ``keep_threshold``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import HTMLTree

from gristmill.extract.blocks import FEATURE_NAMES, KINDS, Blocks, block_features, parse_blocks

FALLBACK_MAX_WORDS = 600
FALLBACK_RATIO = 0.1
# resiliparse options of the main-content rendering: comment sections count as main content
# (DCLM's setting), post metadata ("posted on ... by ...") does not. Chosen by
# leave-one-source-out among the settings whose held-out F1 stays at least resiliparse's on
# every source, by mean held-out F1 over sources: comments and metadata kept (DCLM's setting)
# 0.8956; metadata dropped 0.8964, chosen. Dropping comments too raised wceb, trafilatura's set
# and CleanPortalEval (worst gap to trafilatura -0.017 instead of -0.030) but Dragnet's gold
# counts comments as content: its held-out F1 fell to 0.826, below resiliparse's 0.841.
MAIN_CONTENT_OPTIONS: dict[str, bool] = {"comments": True, "post_meta": False}

# Base features that also enter squared (the continuous ones), and those that enter
# multiplied by each block kind.
_BINARY = ("ends_sentence", "repeated", "cookie")
_SQUARED = tuple(
    i for i, name in enumerate(FEATURE_NAMES) if i >= len(KINDS) and name not in _BINARY
)
_BY_KIND = tuple(
    FEATURE_NAMES.index(name) for name in ("log_words", "link_density", "long_before", "long_after")
)

EXPANDED_NAMES: tuple[str, ...] = (
    *FEATURE_NAMES,
    *(f"{FEATURE_NAMES[i]}^2" for i in _SQUARED),
    *(f"is_{kind}*{FEATURE_NAMES[j]}" for j in _BY_KIND for kind in KINDS),
)


def expand_features(base: np.ndarray) -> np.ndarray:
    """Base features plus squares of the continuous ones and kind x feature interactions."""
    kinds = base[:, : len(KINDS)]
    crossed = [kinds * base[:, [j]] for j in _BY_KIND]
    return np.hstack([base, base[:, _SQUARED] ** 2, *crossed])


@dataclass(frozen=True)
class BlockModel:
    """A fitted block scorer: standardisation, logistic weights and the two thresholds."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    region_threshold: float
    keep_threshold: float

    @cached_property
    def _weights(self) -> tuple[np.ndarray, float]:
        # Standardisation folded into the weights: ((x - m) / s) @ c = x @ (c / s) - m @ (c / s).
        weights = np.asarray(self.coef) / np.asarray(self.scale)
        return weights, self.intercept - float(np.asarray(self.mean) @ weights)

    def probabilities(self, blocks: Blocks) -> np.ndarray:
        """P(block is main text) for every block."""
        if len(blocks) == 0:
            return np.zeros(0)
        weights, bias = self._weights
        return 1.0 / (1.0 + np.exp(-(expand_features(block_features(blocks)) @ weights + bias)))


def best_region(scores: np.ndarray) -> tuple[int, int]:
    """Inclusive bounds of the contiguous run with the largest sum (maximum subarray)."""
    prefix = np.concatenate(([0.0], np.cumsum(scores)))
    low = np.minimum.accumulate(prefix[:-1])
    end = int(np.argmax(prefix[1:] - low))
    start = int(np.argmin(prefix[: end + 1]))
    return start, end


def select_blocks(blocks: Blocks, probs: np.ndarray, model: BlockModel) -> list[int]:
    """Indices of the blocks kept: the best region, minus its low-scored blocks."""
    if len(blocks) == 0:
        return []
    weights = np.log1p(blocks.word_counts())
    start, end = best_region((probs - model.region_threshold) * weights)
    return [i for i in range(start, end + 1) if probs[i] >= model.keep_threshold]


def render_blocks(blocks: Blocks, keep: list[int]) -> str:
    """Join kept blocks: list items as "- item"; a blank line around paragraphs, headings and
    ``<pre>``, a single newline between consecutive list items or bare lines (as resiliparse's
    plain-text mode spaces them)."""
    parts: list[str] = []
    previous = ""
    for i in keep:
        kind = blocks.kinds[i]
        text = "- " + blocks.texts[i] if kind == "li" else blocks.texts[i]
        if parts:
            tight = kind in ("li", "div") and previous in ("li", "div")
            parts.append("\n" if tight else "\n\n")
        parts.append(text)
        previous = kind
    return "".join(parts)


def minimal_html(html: str | HTMLTree, main_content: bool) -> str:
    """resiliparse's minimal-HTML rendering of the main content, or of the whole page."""
    options = MAIN_CONTENT_OPTIONS if main_content else {}
    return extract_plain_text(html, main_content=main_content, preserve_formatting="minimal_html", links=True, **options)


def choose_blocks(main: Blocks, full: Callable[[], Blocks]) -> Blocks:
    """``main`` (blocks of the main-content rendering), or ``full()`` (of the whole page) when
    main-content extraction failed (see `FALLBACK_MAX_WORDS`, `FALLBACK_RATIO`)."""
    main_words = int(main.word_counts().sum())
    if main_words < FALLBACK_MAX_WORDS:
        whole = full()
        if main_words < FALLBACK_RATIO * whole.word_counts().sum():
            return whole
    return main


def main_content_blocks(html: str | HTMLTree) -> Blocks:
    """Blocks of resiliparse's main-content rendering, or of the full page when that failed."""
    return choose_blocks(parse_blocks(minimal_html(html, True)), lambda: parse_blocks(minimal_html(html, False)))


def extract_cleaned(html: str | HTMLTree, model: BlockModel | None = None) -> str:
    """Main text of an HTML page: resiliparse main content cleaned by the block model."""
    if model is None:
        from gristmill.extract.block_model import default_model

        model = default_model()
    blocks = main_content_blocks(html)
    return render_blocks(blocks, select_blocks(blocks, model.probabilities(blocks), model))
