"""Gopher's repetition rules (Rae et al. 2021, App. A, Table A1) as DCLM measures them.

Source: DCLM ``massive_web_repetition_filters`` / ``repetition_filter``
(``baselines/mappers/filters/content_filters.py``), step 17 of ``dclm_baseline_refinedweb.yaml``.
A document is dropped when a fraction is **above** its threshold; rules run in DCLM's order and
the first failing one names the drop:

==============================  ==========================================  =========
reason                          measure                                     threshold
==============================  ==========================================  =========
gopher_rep_dup_line_frac        lines that occur more than once / lines     0.30
gopher_rep_dup_para_frac        same over ``\\n\\n`` paragraphs             0.30
gopher_rep_dup_line_char_frac   chars of duplicated lines / chars of lines  0.20
gopher_rep_dup_para_char_frac   same over paragraphs                        0.20
gopher_rep_top_{2,3,4}gram      chars of the top n-gram x its count         0.20 0.18 0.16
gopher_rep_dup_{5..10}gram      chars of words in repeated n-grams          0.15 ... 0.10
==============================  ==========================================  =========

Lines and paragraphs are stripped and empty ones dropped; every occurrence of a duplicated
line counts (not only the repeats). n-gram measures count word characters only, over the
Unicode words of `gristmill.text.words.split_words` (see `gristmill.text.ngrams`). A text
with a single line (or paragraph) passes that rule; a blank text is dropped.
"""

from __future__ import annotations

from collections import Counter

from gristmill.core.document import Document
from gristmill.core.ranges import Share
from gristmill.core.step import Drop, Step, register
from gristmill.text.stats import doc_text

TOP_NGRAM_FRACTIONS = (0.20, 0.18, 0.16)  # n = 2, 3, 4
DUP_NGRAM_FRACTIONS = (0.15, 0.14, 0.13, 0.12, 0.11, 0.10)  # n = 5 ... 10


def duplicate_fractions(segments: list[str]) -> tuple[float, float]:
    """(share of segments that are duplicated, share of their characters), DCLM's definition."""
    counts = Counter(segments)
    dup_count = 0
    dup_chars = 0
    for segment, count in counts.items():
        if count > 1:
            dup_count += count
            dup_chars += len(segment) * count
    total_chars = sum(map(len, segments))
    return dup_count / len(segments), dup_chars / total_chars


@register("gopher_repetition_filter")
class GopherRepetitionFilter(Step):
    """Drop documents with too much repeated content (Gopher Table A1 thresholds)."""

    kind = "filter"

    def __init__(
        self,
        *,
        dup_line_frac: Share = 0.30,
        dup_para_frac: Share = 0.30,
        dup_line_char_frac: Share = 0.20,
        dup_para_char_frac: Share = 0.20,
        top_ngram_fractions: list[Share] | tuple[Share, ...] = TOP_NGRAM_FRACTIONS,
        dup_ngram_fractions: list[Share] | tuple[Share, ...] = DUP_NGRAM_FRACTIONS,
        skip_paragraph: bool = False,
    ) -> None:
        ...

    def reason(self, text: str) -> str | None:
        """The first failing rule for ``text`` (None when all pass)."""
        cfg = self.config
        view = doc_text(text)
        lines = view.lines
        if not lines:
            return "gopher_rep_empty"
        line_frac, line_char_frac = duplicate_fractions(lines) if len(lines) > 1 else (0.0, 0.0)
        para_frac = para_char_frac = 0.0
        if not cfg["skip_paragraph"]:
            paragraphs = view.paragraphs
            if len(paragraphs) > 1:
                para_frac, para_char_frac = duplicate_fractions(paragraphs)
        if line_frac > cfg["dup_line_frac"]:
            return "gopher_rep_dup_line_frac"
        if para_frac > cfg["dup_para_frac"]:
            return "gopher_rep_dup_para_frac"
        if line_char_frac > cfg["dup_line_char_frac"]:
            return "gopher_rep_dup_line_char_frac"
        if para_char_frac > cfg["dup_para_char_frac"]:
            return "gopher_rep_dup_para_char_frac"
        ngrams = view.ngrams
        for n, limit in enumerate(cfg["top_ngram_fractions"], start=2):
            if ngrams.top_ngram_fraction(n) > limit:
                return f"gopher_rep_top_{n}gram"
        first_dup = 2 + len(cfg["top_ngram_fractions"])
        for n, limit in enumerate(cfg["dup_ngram_fractions"], start=first_dup):
            if ngrams.duplicated_ngram_fraction(n) > limit:
                return f"gopher_rep_dup_{n}gram"
        return None

    def apply(self, doc: Document) -> Document | Drop:
        reason = self.reason(doc.text)
        return doc if reason is None else Drop(reason)
