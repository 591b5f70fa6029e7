"""Small base classes that several filter rules share (each rule keeps its own signature,
defaults and docstring with the published threshold)."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from gristmill.core.document import Document
from gristmill.core.step import Drop, Step, StepContext
from gristmill.text.charclass import flag_table
from gristmill.text.stats import doc_text


def finish_text(doc: Document, text: str, reason: str) -> Document | Drop:
    """A modifier's result: ``doc`` with ``text``, or ``Drop(reason)`` when nothing is left."""
    if text == "":
        return Drop(reason)
    doc.text = text
    return doc


class CharTableStep(Step):
    """A step that classifies code points with `gristmill.text.charclass`."""

    def setup(self, context: StepContext) -> None:
        super().setup(context)
        flag_table()  # build the per-process code point table now, not on the first document


class LineAffixShareFilter(Step):
    """Drop a document when more than a share of its stripped non-empty lines start (or end)
    with one of ``affixes``; the share is the config value named ``option``.

    Subclasses set `test` (``staticmethod(str.startswith)`` or ``staticmethod(str.endswith)``),
    `affixes`, `option` and `reason`.
    """

    kind = "filter"
    test: ClassVar[Callable[[str, tuple[str, ...]], bool]]
    affixes: ClassVar[tuple[str, ...]]
    option: ClassVar[str]
    reason: ClassVar[str]

    def apply(self, doc: Document) -> Document | Drop:
        lines = doc_text(doc.text).lines
        test, affixes = self.test, self.affixes
        matching = sum(1 for line in lines if test(line, affixes))
        if matching > self.config[self.option] * len(lines):
            return Drop(self.reason)
        return doc
