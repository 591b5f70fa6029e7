"""A rule-based sentence splitter standing in for NLTK's English Punkt model.

C4 (TFDS ``c4_utils.py``) and DCLM's ``c4.yaml`` count sentences with NLTK's pre-trained
English Punkt tokenizer; its model is a download that gristmill cannot assume. This splitter
applies Punkt's main decisions with fixed rules: a sentence ends at ``.``, ``!``, ``?`` or
``…`` (possibly repeated, possibly followed by closing quotes or brackets) that is followed by
whitespace and then by a character that is not a lowercase letter, unless the word before a
period is a common abbreviation or a single-letter initial. Counts agree with Punkt on ordinary
prose; they can differ on unusual abbreviations, which only matters for documents at the
C4 minimum of 3 (or FineWeb's 5) sentences.
"""

from __future__ import annotations

import re

# Abbreviations after which a period does not end a sentence (Punkt learns these; the list is
# the common English ones of its training data).
_ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "inc", "ltd", "co", "corp",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "no",
    "nos", "fig", "figs", "vol", "vols", "pp", "ed", "eds", "gen", "gov", "sen", "rep", "rev",
    "mt", "ft", "approx", "dept", "est", "e.g", "i.e", "a.m", "p.m", "u.s", "u.k",
})

_BOUNDARY = re.compile(
    r"""(?P<word>[^\s]*?)(?P<end>[.!?…]+)['"”’)\]]*(?=\s+(?P<next>\S)|\s*$)""",
)


def _ends_sentence(match: re.Match[str]) -> bool:
    end = match.group("end")
    nxt = match.group("next")
    if nxt is not None and nxt.islower():
        return False
    if end == ".":
        word = match.group("word").lower().lstrip("(\"'“‘[")
        if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
            return False
    return True


def split_sentences(text: str) -> list[str]:
    """Stripped, non-empty sentences of ``text``."""
    sentences = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        if _ends_sentence(match):
            piece = text[start : match.end()].strip()
            if piece:
                sentences.append(piece)
            start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def count_sentences(text: str) -> int:
    """``len(split_sentences(text))``."""
    return len(split_sentences(text))
