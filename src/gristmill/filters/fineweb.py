"""FineWeb's own quality rules (Penedo et al. 2024, "FineWeb", §3.3 custom filters).

Source: the FineWeb paper's three custom heuristics plus the list-document rule of datatrove's
``FineWebQualityFilter`` (the code that produced FineWeb), with its defaults:

==========================  =============================================================  =====
reason                      measure (lines: ``text.split("\\n")`` that are not blank)      drop
==========================  =============================================================  =====
fineweb_line_punct_ratio    share of lines ending in sentence-terminal punctuation         < 0.12
fineweb_short_line_ratio    share of lines of at most 30 characters                        > 0.67
fineweb_char_dup_ratio      characters of repeated lines (beyond the first occurrence)     > 0.01
                            over the characters of the text without newlines
fineweb_list_ratio          newlines per word                                              > 0.3
==========================  =============================================================  =====

Terminal punctuation is the Unicode ``Sentence_Terminal`` property (the set datatrove
lists). Lines are not stripped: a line ending in ``". "`` does not count as punctuated, as in
FineWeb. Words for the list ratio are the non-space UAX #29 segments (words and punctuation
marks), standing in for datatrove's spaCy/NLTK tokens (which also count punctuation); a text
without any is dropped as ``fineweb_list_ratio``.
"""

from __future__ import annotations

import regex

from gristmill.core.document import Document
from gristmill.core.ranges import Count, NonNegative, Share
from gristmill.core.step import Drop, Step, register
from gristmill.text.words import count_tokens

_PUNCTUATED_LINE_END = regex.compile(r"\p{Sentence_Terminal}(?=\n|\Z)")


@register("fineweb_quality_filter")
class FineWebQualityFilter(Step):
    """Drop documents failing FineWeb's line-punctuation, short-line, duplicate or list rules."""

    kind = "filter"

    def __init__(
        self,
        *,
        line_punct_thr: Share = 0.12,
        line_punct_exclude_zero: bool = False,
        short_line_thr: Share = 0.67,
        short_line_length: Count = 30,
        char_duplicates_ratio: Share = 0.01,
        new_line_ratio: NonNegative = 0.3,
    ) -> None:
        ...

    def reason(self, text: str) -> str | None:
        """The first failing rule for ``text`` (None when all pass)."""
        cfg = self.config
        lines = [line for line in text.split("\n") if line.strip()]
        if not lines:
            return "fineweb_empty"
        punct = len(_PUNCTUATED_LINE_END.findall(text)) / len(lines)
        if punct < cfg["line_punct_thr"] and not (punct == 0 and cfg["line_punct_exclude_zero"]):
            return "fineweb_line_punct_ratio"
        short = sum(1 for line in lines if len(line) <= cfg["short_line_length"]) / len(lines)
        if short > cfg["short_line_thr"]:
            return "fineweb_short_line_ratio"
        seen: set[str] = set()
        dup_chars = 0
        for line in lines:
            if line in seen:
                dup_chars += len(line)
            else:
                seen.add(line)
        chars = len(text) - text.count("\n")
        if dup_chars / chars > cfg["char_duplicates_ratio"]:
            return "fineweb_char_dup_ratio"
        n_words = count_tokens(text)
        if n_words == 0 or text.count("\n") / n_words > cfg["new_line_ratio"]:
            return "fineweb_list_ratio"
        return None

    def apply(self, doc: Document) -> Document | Drop:
        reason = self.reason(doc.text)
        return doc if reason is None else Drop(reason)
