"""RefinedWeb's line-wise corrections and the 5% word-removal check (DCLM steps 18-26).

Source: RefinedWeb (Penedo et al. 2023) §G.2 "line-wise corrections": drop lines that are
mostly uppercase, only numeric, social-media counters, single words, and strip boilerplate
strings; "if more than 5% of the words of a document are removed, the whole document is
removed". DCLM implements them in ``baselines/mappers/modifiers.py`` and checks the 5% with
``word_counter_enricher`` before and ``word_removal_ratio_filter`` after.

Every modifier works on ``text.split("\\n")`` lines, joins the kept lines with ``"\\n"``, and
(except `line_length_modifier`, as in DCLM) strips the result; a document left empty is
dropped with the step's ``<name>_empty`` reason.
"""

from __future__ import annotations

import re
from itertools import compress
from typing import ClassVar, Literal

import numpy as np

from gristmill.core.document import Document
from gristmill.core.ranges import Count, Share, check_order
from gristmill.core.step import Drop, Step, register
from gristmill.filters.bases import CharTableStep, finish_text
from gristmill.text.charclass import DIGIT, UPPER, per_line_counts
from gristmill.text.stats import doc_text


def _ratio_keep(text: str, flag: np.uint8, max_ratio: float) -> list[str] | None:
    """Lines to keep (None = all): empty lines, and lines whose flagged share <= max_ratio."""
    lengths, hits = per_line_counts(text, flag)
    # int64 / int64 in numpy is the same correctly rounded float division as Python's.
    keep = (lengths == 0) | (hits / np.maximum(lengths, 1) <= max_ratio)
    if keep.all():
        return None
    return list(compress(text.split("\n"), keep.tolist()))


@register("word_counter_enricher")
class WordCounterEnricher(Step):
    """Store the DCLM word count (fastText tokens starting alphanumeric) in ``metadata[key]``.

    Source: DCLM ``word_counter_enricher(key: previous_word_count)``, step 18; the count is
    kept in DCLM-Baseline's released records.
    """

    kind = "enricher"

    def __init__(self, *, key: str = "previous_word_count") -> None:
        ...

    def apply(self, doc: Document) -> Document | Drop:
        doc.metadata[self.config["key"]] = doc_text(doc.text).fasttext_word_count
        return doc


class _CharRatioLineModifier(CharTableStep):
    """Remove lines where the share of characters in class `chars` is above ``max_ratio``;
    a document left without text is dropped with `empty_reason`."""

    kind = "modifier"
    chars: ClassVar[np.uint8]
    empty_reason: ClassVar[str]

    def apply(self, doc: Document) -> Document | Drop:
        kept = _ratio_keep(doc.text, self.chars, self.config["max_ratio"])
        text = doc.text if kept is None else "\n".join(kept)
        return finish_text(doc, text.strip(), self.empty_reason)


@register("uppercase_ratio_line_modifier")
class UppercaseRatioLineModifier(_CharRatioLineModifier):
    """Remove lines whose share of uppercase characters is above ``max_ratio`` (0.5).

    Source: RefinedWeb §G.2 (lines "mostly composed of uppercase characters"); DCLM
    ``uppercase_ratio_line_modifier(max_ratio: 0.5)`` with ``str.isupper`` per character over
    the whole line length.
    """

    chars = UPPER
    empty_reason = "uppercase_lines_empty"

    def __init__(self, *, max_ratio: Share = 0.5) -> None:
        ...


@register("numeric_ratio_line_modifier")
class NumericRatioLineModifier(_CharRatioLineModifier):
    """Remove lines whose share of digits (``str.isdigit``) is above ``max_ratio``.

    Source: RefinedWeb §G.2 (lines "only composed of numerical characters"); DCLM
    ``numeric_ratio_line_modifier(max_ratio: 0.999999)`` (1 - 1e-6 so that only all-digit lines
    go).
    """

    chars = DIGIT
    empty_reason = "numeric_lines_empty"

    def __init__(self, *, max_ratio: Share = 0.999999) -> None:
        ...


_COUNTER_WORDS = (
    "likes|shares|comments|retweets|reposts|quotes|bookmarks|upvotes|downvotes|downloads|views|followers"
)
# DCLM's per-line pattern, run over the whole lowercased text in MULTILINE mode; \W and \s are
# kept from crossing a line end so that each match stays within one line.
_COUNTER = re.compile(
    r"^[^\w\n]*\d(?:,|\.|\d)*(?:K|k|M|m|B|b)?[^\S\n]+(?:" + _COUNTER_WORDS + r")[^\w\n]*$",
    re.MULTILINE,
)


@register("counter_line_modifier")
class CounterLineModifier(Step):
    """Remove social-media counter lines such as ``"12.5K likes"``.

    Source: RefinedWeb §G.2 ("counters, e.g. 3 likes"); DCLM ``counter_line_modifier`` pattern
    ``^\\W*\\d(?:,|\\.|\\d)*(?:K|k|M|m|B|b)?\\s+(?:likes|shares|...|followers)\\W*$`` on each
    lowercased line.
    """

    kind = "modifier"

    def __init__(self) -> None:
        ...

    def apply(self, doc: Document) -> Document | Drop:
        lowered = doc.text.lower()
        # Lowercasing never adds or removes a "\n", so line numbers carry over.
        drop = {lowered.count("\n", 0, m.start()) for m in _COUNTER.finditer(lowered)}
        text = doc.text
        if drop:
            text = "\n".join(line for i, line in enumerate(text.split("\n")) if i not in drop)
        return finish_text(doc, text.strip(), "counter_lines_empty")


@register("line_length_modifier")
class LineLengthModifier(Step):
    """Remove non-empty lines with fewer than ``min_length`` (or more than ``max_length``) words.

    Words are whitespace tokens (``line.split()``). Sources: RefinedWeb §G.2 (single-word
    lines; DCLM ``line_length_modifier(min_length: 2)``); C4 (TFDS ``c4_utils``: lines of at
    least 5 words; DCLM ``c4.yaml``). As in DCLM, the result is not stripped.
    """

    kind = "modifier"

    def __init__(self, *, min_length: Count = 0, max_length: Count | None = None,
                 reason: str = "line_length_empty") -> None:
        check_order(min_length, max_length, "min_length", "max_length")

    def apply(self, doc: Document) -> Document | Drop:
        lo, hi = self.config["min_length"], self.config["max_length"]
        lines = doc.text.split("\n")
        counts = [len(line.split()) for line in lines]
        keep = [
            not line or (lo <= c and (hi is None or c <= hi)) for line, c in zip(lines, counts, strict=True)
        ]
        text = doc.text if all(keep) else "\n".join(compress(lines, keep))
        return finish_text(doc, text, self.config["reason"])


@register("substring_line_modifier")
class SubstringLineModifier(Step):
    """Remove lines (or only the substring) matching a banned string.

    Sources: RefinedWeb §G.2 boilerplate strings; DCLM ``substring_line_modifier``:
    ``items in cart`` anywhere, ``Read more...`` as a suffix, ``Sign-in`` as a prefix, each in
    lines of at most 10 words with ``remove_substring_only``; C4's ``javascript`` and cookie /
    policy lines (whole lines removed). The pattern is ``\\s?(?:a|b)``, ``^(?:a|b)\\s?`` or
    ``\\s?(?:a|b)$``, case-insensitive unless ``case_sensitive``.

    DCLM quirk (``dclm_compat: true`` reproduces it): the banned strings are used as regex
    source without escaping, so the ``...`` of ``Read more...`` matches any three characters.
    By default they are matched literally.
    """

    kind = "modifier"

    def __init__(
        self,
        *,
        banlist: str | list[str],
        location: Literal["any", "prefix", "suffix"] = "any",
        max_length: Count | None = None,
        remove_substring_only: bool = False,
        case_sensitive: bool = False,
        dclm_compat: bool = False,
        reason: str = "substring_lines_empty",
    ) -> None:
        words = [banlist] if isinstance(banlist, str) else list(banlist)
        if not case_sensitive:
            words = [w.lower() for w in words]
        if not dclm_compat:
            words = [re.escape(w) for w in words]
        body = f"(?:{'|'.join(words)})"
        source = {"prefix": rf"^{body}\s?", "suffix": rf"\s?{body}$", "any": rf"\s?{body}"}[location]
        flags = 0 if case_sensitive else re.IGNORECASE
        self._pattern = re.compile(source, flags)
        # Same pattern over the whole text: finds nothing iff no line can match.
        self._anywhere = re.compile(source, flags | re.MULTILINE)

    def apply(self, doc: Document) -> Document | Drop:
        cfg = self.config
        if not self._anywhere.search(doc.text):
            return finish_text(doc, doc.text.strip(), cfg["reason"])
        max_length = cfg["max_length"]
        kept = []
        for line in doc.text.split("\n"):
            if max_length is None or len(line.split()) <= max_length:
                if cfg["remove_substring_only"]:
                    modified = self._pattern.sub("", line)
                    if line and (not modified or modified.isspace()):
                        continue
                    line = modified
                elif self._pattern.search(line):
                    continue
            kept.append(line)
        return finish_text(doc, "\n".join(kept).strip(), cfg["reason"])


@register("word_removal_ratio_filter")
class WordRemovalRatioFilter(Step):
    """Drop documents whose line modifiers removed more than 5% of their words.

    Source: RefinedWeb §G.2; DCLM ``word_removal_ratio_filter(prev_word_count_key:
    previous_word_count, max_removed_ratio: 0.05)``: ``(before - after) / before > 0.05``
    drops, with words counted as by `word_counter_enricher`; ``before == 0`` drops.
    """

    kind = "filter"

    def __init__(self, *, prev_word_count_key: str = "previous_word_count",
                 max_removed_ratio: Share = 0.05) -> None:
        ...

    def apply(self, doc: Document) -> Document | Drop:
        key = self.config["prev_word_count_key"]
        if key not in doc.metadata:
            raise ValueError(f"metadata has no {key!r}: run word_counter_enricher before this step")
        before = doc.metadata[key]
        if before == 0:
            return Drop("word_removal_ratio")
        after = doc_text(doc.text).fasttext_word_count
        if (before - after) / before > self.config["max_removed_ratio"]:
            return Drop("word_removal_ratio")
        return doc
