"""Lines and paragraphs as DCLM's rules see them.

DCLM (``baselines/mappers/core_utils.py: split_paragraphs``) splits on ``"\\n"`` (lines) or
``"\\n\\n"`` (paragraphs), strips every piece and drops the empty ones; the bullet, ellipsis
and Gopher repetition rules all count over those pieces. Line *modifiers* instead keep the raw
``text.split("\\n")`` pieces so that the text can be joined back unchanged.
"""

from __future__ import annotations


def split_lines(text: str) -> list[str]:
    """Stripped, non-empty lines (DCLM ``split_paragraphs(text, "\\n")``)."""
    return [s for line in text.split("\n") if (s := line.strip())]


def split_paragraphs(text: str) -> list[str]:
    """Stripped, non-empty ``"\\n\\n"``-separated paragraphs (DCLM, Gopher repetition)."""
    return [s for par in text.split("\n\n") if (s := par.strip())]
