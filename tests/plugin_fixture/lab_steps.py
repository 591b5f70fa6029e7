"""A user's own steps, in a module outside the gristmill package (used by test_engine.py)."""

from __future__ import annotations

from gristmill import Document, Drop, Step, register


@register("min_words_filter")
class MinWords(Step):
    """Drop documents with fewer than ``min_words`` whitespace-separated words."""

    def __init__(self, *, min_words: int = 50) -> None:
        if min_words < 1:
            raise ValueError("min_words must be at least 1")

    def apply(self, doc: Document) -> Document | Drop:
        if len(doc.text.split()) < self.config["min_words"]:
            return Drop("too_few_words_plugin")
        return doc


class CharCount(Step):
    """Not registered: a recipe names it by its class path, ``lab_steps:CharCount``."""

    kind = "enricher"

    def __init__(self, *, key: str = "chars") -> None: ...

    def apply(self, doc: Document) -> Document | Drop:
        doc.metadata[self.config["key"]] = len(doc.text)
        return doc
