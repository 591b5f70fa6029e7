"""Gopher's document quality rules (Rae et al. 2021, App. A, "quality filters").

Each rule is its own step, exactly as DCLM runs them in ``dclm_baseline_refinedweb.yaml``
(steps 11-16; ``baselines/mappers/filters/content_filters.py``). Word-based rules use Python
whitespace tokens (``text.split()``); line-based rules use stripped non-empty lines.
"""

from __future__ import annotations

import re

from gristmill.core.document import Document
from gristmill.core.ranges import Count, NonNegative, Share, check_order
from gristmill.core.step import Drop, Step, register
from gristmill.filters.bases import CharTableStep, LineAffixShareFilter
from gristmill.text.charclass import count_tokens_with_alpha
from gristmill.text.stats import doc_text

_SYMBOLS = ("#", "...", ". . .", "\u2026")
_BULLETS = ("●", "•", "*", "-")
_ELLIPSES = ("...", ". . .", "\u2026")
GOPHER_STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")


@register("word_length_filter")
class WordLengthFilter(Step):
    """Keep documents whose mean whitespace-token length is within [3, 10] characters.

    Source: Gopher App. A ("mean word length outside 3 to 10 characters"); DCLM
    ``word_length_filter(min_length: 3, max_length: 10)``. A text without tokens is dropped.
    """

    kind = "filter"

    def __init__(self, *, min_length: NonNegative = 3, max_length: NonNegative = 10) -> None:
        check_order(min_length, max_length, "min_length", "max_length")

    def apply(self, doc: Document) -> Document | Drop:
        tokens = doc_text(doc.text).tokens
        if not tokens:
            return Drop("word_length_empty")
        mean = sum(map(len, tokens)) / len(tokens)
        if mean < self.config["min_length"]:
            return Drop("word_length_too_short")
        if mean > self.config["max_length"]:
            return Drop("word_length_too_long")
        return doc


@register("symbol_ratio_filter")
class SymbolRatioFilter(Step):
    """Drop documents whose (``#`` + ellipses) to word ratio is above 0.1.

    Source: Gopher App. A ("symbol-to-word ratio greater than 0.1 for either the hash symbol or
    the ellipsis"); DCLM ``symbol_ratio_filter(max_symbol_to_word_ratio: 0.1)``, which counts
    ``#``, ``...``, ``. . .`` and ``…`` together (non-overlapping ``str.count``) over
    ``len(text.split())``. A text without tokens is dropped.
    """

    kind = "filter"

    def __init__(self, *, max_symbol_to_word_ratio: NonNegative = 0.1) -> None:
        ...

    def apply(self, doc: Document) -> Document | Drop:
        n_words = len(doc_text(doc.text).tokens)
        n_symbols = sum(doc.text.count(s) for s in _SYMBOLS)
        if n_words == 0 or n_symbols / n_words > self.config["max_symbol_to_word_ratio"]:
            return Drop("symbol_ratio")
        return doc


@register("bullet_count_filter")
class BulletCountFilter(LineAffixShareFilter):
    """Drop documents where more than 90% of lines start with a bullet (``●•*-``).

    Source: Gopher App. A; DCLM ``bullet_count_filter(max_bullet_start_ratio: 0.9)`` over
    stripped non-empty lines.
    """

    test = staticmethod(str.startswith)
    affixes = _BULLETS
    option = "max_bullet_start_ratio"
    reason = "bullet_lines"

    def __init__(self, *, max_bullet_start_ratio: Share = 0.9) -> None:
        ...


@register("ellipsis_count_filter")
class EllipsisCountFilter(LineAffixShareFilter):
    """Drop documents where more than 30% of lines end with an ellipsis.

    Source: Gopher App. A; DCLM ``ellipsis_count_filter(max_ellipsis_end_ratio: 0.3)`` over
    stripped non-empty lines ending with ``...``, ``. . .`` or ``…``.
    """

    test = staticmethod(str.endswith)
    affixes = _ELLIPSES
    option = "max_ellipsis_end_ratio"
    reason = "ellipsis_lines"

    def __init__(self, *, max_ellipsis_end_ratio: Share = 0.3) -> None:
        ...


@register("alphabetic_word_ratio_filter")
class AlphabeticWordRatioFilter(CharTableStep):
    """Drop documents where more than 20% of whitespace tokens contain no alphabetic character.

    Source: Gopher App. A ("80% of words in a document contain at least one alphabetic
    character"); DCLM ``alphabetic_word_ratio_filter(max_ratio: 0.2)``. A text without tokens
    is dropped.
    """

    kind = "filter"

    def __init__(self, *, max_ratio: Share = 0.2) -> None:
        ...

    def apply(self, doc: Document) -> Document | Drop:
        n_tokens, n_alpha = count_tokens_with_alpha(doc.text)
        if n_tokens == 0 or (n_tokens - n_alpha) / n_tokens > self.config["max_ratio"]:
            return Drop("alphabetic_word_ratio")
        return doc


@register("stop_word_filter")
class StopWordFilter(Step):
    """Keep documents with at least 2 Gopher stop words.

    Source: Gopher App. A (at least two of "the, be, to, of, and, that, have, with"); DCLM
    ``stop_word_filter(count_unique: False, min_stop_word: 2)``: occurrences are counted
    (case-insensitively, over whitespace tokens), or distinct words with ``count_unique``.
    """

    kind = "filter"

    def __init__(
        self, *, min_stop_word: Count = 2, count_unique: bool = False,
        stop_words: list[str] | None = None,
    ) -> None:
        words = sorted({w.lower() for w in (stop_words or GOPHER_STOP_WORDS)}, key=len, reverse=True)
        # A whole whitespace token equal to a stop word: the text's own whitespace delimits it
        # (re's \s is exactly str.isspace, the separator of str.split).
        self._pattern = re.compile(r"(?<!\S)(?:" + "|".join(map(re.escape, words)) + r")(?!\S)")

    def apply(self, doc: Document) -> Document | Drop:
        needed = self.config["min_stop_word"]
        if needed <= 0:
            return doc
        seen: set[str] = set()
        for count, match in enumerate(self._pattern.finditer(doc.text.lower()), start=1):
            seen.add(match.group())
            if (len(seen) if self.config["count_unique"] else count) >= needed:
                return doc
        return Drop("stop_words")
