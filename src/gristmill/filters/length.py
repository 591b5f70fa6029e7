"""Document length in words, characters, sentences, lines or paragraphs.

Source: DCLM ``page_length_filter`` (``baselines/mappers/filters/content_filters.py``).
RefinedWeb / Gopher (Rae et al. 2021, App. A): keep documents of 50 to 100,000 words, counted
as DCLM does with ``fasttext.FastText.tokenize`` and ``ignore_punctuation`` (tokens whose first
character is alphanumeric). C4 (TFDS ``c4_utils.py``): at least 3 sentences.
"""

from __future__ import annotations

from typing import Literal

from gristmill.core.document import Document
from gristmill.core.ranges import Count, check_order
from gristmill.core.step import Drop, Step, register
from gristmill.text.sentences import count_sentences
from gristmill.text.stats import doc_text

LengthType = Literal["word", "char", "sentence", "line", "paragraph"]
WordModel = Literal["fasttext", "uniseg", "split"]


def page_length(text: str, length_type: LengthType, word_model: WordModel = "fasttext") -> int:
    """The length of ``text`` in the given unit (words as in DCLM's ``split_words``)."""
    if length_type == "char":
        return len(text)
    view = doc_text(text)
    if length_type == "word":
        if word_model == "fasttext":
            return view.fasttext_word_count
        if word_model == "uniseg":
            return len(view.words)
        return len(view.tokens)
    if length_type == "line":
        return len(view.lines)
    if length_type == "paragraph":
        return len(view.paragraphs)
    return count_sentences(text)


@register("page_length_filter")
class PageLengthFilter(Step):
    """Keep documents whose length is within ``[min_length, max_length]``.

    Defaults are RefinedWeb's word range (50 to 100,000 words, fastText tokens starting with an
    alphanumeric character; DCLM ``page_length_filter(length_type: word, min_length: 50,
    max_length: 100000, ignore_punctuation: True)``). Drops say ``too_few_<unit>s`` or
    ``too_many_<unit>s`` unless ``reason`` is given.
    """

    kind = "filter"

    def __init__(
        self,
        *,
        length_type: LengthType = "word",
        min_length: Count = 50,
        max_length: Count | None = 100_000,
        word_model: WordModel = "fasttext",
        reason: str | None = None,
    ) -> None:
        check_order(min_length, max_length, "min_length", "max_length")

    def apply(self, doc: Document) -> Document | Drop:
        cfg = self.config
        n = page_length(doc.text, cfg["length_type"], cfg["word_model"])
        if n < cfg["min_length"]:
            return Drop(cfg["reason"] or f"too_few_{cfg['length_type']}s")
        if cfg["max_length"] is not None and n > cfg["max_length"]:
            return Drop(cfg["reason"] or f"too_many_{cfg['length_type']}s")
        return doc
