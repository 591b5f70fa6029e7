"""A step published through the ``gristmill.steps`` entry-point group of an installed
distribution (``lab_plugin-0.1.dist-info`` beside this file), used by test_engine.py."""

from __future__ import annotations

from gristmill import Document, Drop, Step


class FirstLineUpper(Step):
    """Upper-case the first line of each document."""

    kind = "modifier"

    def apply(self, doc: Document) -> Document | Drop:
        first, sep, rest = doc.text.partition("\n")
        doc.text = first.upper() + sep + rest
        return doc
