"""Word segmentation shared by every text rule, the n-gram counters and dedup shingles.

Two tokenizations matter for DCLM parity (``baselines/mappers/core_utils.py: split_words``):

* **Unicode words** (`split_words`): the UAX #29 default word segments whose first character is
  alphanumeric. DCLM gets these from the pure-Python ``uniseg`` package (``words(text)`` then
  ``w[0].isalnum()``) for the Gopher n-gram rules; BFF dedup shingles the same segments. We get
  them from one compiled pattern of the ``regex`` package, whose ``WORD`` flag implements the
  UAX #29 default word boundaries in C (about 130x faster than uniseg). The one difference
  between the two segmenters is that ``regex`` glues a leading apostrophe to the word after it
  ("'em"); the optional ``['’]`` prefix skips it, so the words are those of uniseg.
  ``tests/test_filters_text.py`` checks the agreement against uniseg.
* **fastText words** (`fasttext_words`): ``fasttext.FastText.tokenize`` splits on the six ASCII
  whitespace bytes fastText knows (space, ``\\n``, ``\\r``, ``\\t``, ``\\v``, ``\\f``) and NUL,
  never on other Unicode spaces; DCLM's page-length filter, word counter and word-removal
  check keep those tokens whose first character is alphanumeric.
"""

from __future__ import annotations

import re

import regex

# UAX #29 word segments (regex's WORD flag) that start with a letter or digit; the optional
# apostrophe is the one place where regex's boundaries differ from uniseg's (see module doc).
_UNICODE_WORD = regex.compile(r"(?V1ws)\b['’]?([\p{L}\p{N}].*?)\b")

# fastText's whitespace (src/dictionary.cc, Dictionary::readWord) plus NUL.
_FASTTEXT_SPACE = " \n\r\t\v\f\x00"
_FASTTEXT_TOKEN = re.compile(f"[^{re.escape(_FASTTEXT_SPACE)}]+")
# A fastText token whose first character is alphanumeric: ``[^\W_]`` is exactly str.isalnum
# for the re module, and the look-behind anchors the match at a token start.
_FASTTEXT_WORD = re.compile(
    f"(?<![^{re.escape(_FASTTEXT_SPACE)}])[^\\W_][^{re.escape(_FASTTEXT_SPACE)}]*"
)


# The same words for ASCII text, with the stdlib ``re`` engine (about 2x faster than regex's
# per-position boundary test). In ASCII, regex's word-break rules (``_regex.c``,
# ``unicode_at_default_boundary``) reduce to: letters, digits and "_" never break from each
# other (WB5, WB8-WB10, WB13a/b); ":", "." and "'" join two letters (WB6/WB7); ",", ";", "."
# and "'" join two digits (WB11/WB12); regex's extra WB5a joins "'" to a following vowel,
# which only ever glues an apostrophe to the *front* of a word, and the word pattern drops
# that apostrophe anyway. Every other character (spaces, newlines, other punctuation) is a
# boundary on both sides. A segment starting with "_" is matched by the second branch and
# dropped, as the Unicode pattern drops it. ``tests/test_filters_text.py`` checks the two
# patterns agree on real pages.
_ASCII_WORD_REST = (
    r"[A-Za-z0-9_]*(?:(?:(?<=[A-Za-z])[:.'](?=[A-Za-z])|(?<=[0-9])[,;.'](?=[0-9]))[A-Za-z0-9_]+)*"
)
_ASCII_WORD = re.compile(f"([A-Za-z0-9]{_ASCII_WORD_REST})|_{_ASCII_WORD_REST}")
# A line with at least one non-ASCII character; possessive so that ASCII lines cost one pass.
_NON_ASCII_LINE = re.compile(r"(?m)^[\x00-\x09\x0b-\x7f]*+[^\x00-\x7f][^\n]*+")


def _ascii_words(text: str, start: int, end: int) -> list[str]:
    words = _ASCII_WORD.findall(text, start, end)
    # Only "_"-initial segments give empty matches; skip the filter when there can be none.
    return list(filter(None, words)) if "_" in text else words


def split_words(text: str) -> list[str]:
    """UAX #29 words of ``text`` that start with a letter or digit, in order.

    The words DCLM's Gopher repetition rules count (``split_words(model="uniseg",
    ignore_punctuation=True)``) and the tokens BFF dedup shingles: punctuation, spaces and
    symbols are dropped, "can't", "3.14", "U.S.A" and "foo_bar" stay one word, each Han or
    Hiragana character is a word of its own.

    Exactly `unicode_words` (the ``regex`` UAX #29 pattern), faster: ASCII lines go through the
    stdlib ``re`` equivalent, only lines with a non-ASCII character through ``regex``. A
    newline is a word boundary on both sides whatever surrounds it (WB3a/WB3b), and each line
    is matched with the newline before it in view, so cutting at newlines changes no boundary.
    """
    if text.isascii():
        return _ascii_words(text, 0, len(text))
    words: list[str] = []
    done = 0
    for line in _NON_ASCII_LINE.finditer(text):
        start, end = line.span()
        if start > done:
            words += _ascii_words(text, done, start)
        # From the newline before the line: a line may open with a combining mark, whose
        # boundary (WB4) depends on the character before it.
        words += _UNICODE_WORD.findall(text, max(start - 1, 0), end)
        done = end
    if done < len(text):
        words += _ascii_words(text, done, len(text))
    return words


def unicode_words(text: str) -> list[str]:
    """The reference `split_words`: the ``regex`` UAX #29 pattern over the whole text."""
    return _UNICODE_WORD.findall(text)


def fasttext_tokens(text: str) -> list[str]:
    """All tokens of ``fasttext.FastText.tokenize(text)`` except its ``</s>`` line markers."""
    return _FASTTEXT_TOKEN.findall(text)


def fasttext_words(text: str) -> list[str]:
    """fastText tokens whose first character is alphanumeric (DCLM ``ignore_punctuation``)."""
    return _FASTTEXT_WORD.findall(text)


def count_fasttext_words(text: str) -> int:
    """``len(fasttext_words(text))``: DCLM's word count for length and word-removal rules."""
    return len(_FASTTEXT_WORD.findall(text))


# A UAX #29 segment that is not whitespace: a word, or a punctuation mark or symbol.
_UNICODE_TOKEN = regex.compile(r"(?V1ws)\b[^\s].*?\b")


def count_tokens(text: str) -> int:
    """Number of non-space UAX #29 segments (words plus punctuation marks and symbols)."""
    return len(_UNICODE_TOKEN.findall(text))


# DCLM BFF's tokens (dedup/bff/src/main.rs ``tokenize``): every UAX #29 segment that is not
# whitespace only. Unlike `count_tokens`' pattern, a space followed by a combining mark is one
# segment and is kept, as Rust's ``not_whitespace`` check does.
_BFF_SEGMENT = regex.compile(r"(?V1ws)\b(?!\s+\b).+?\b")


def split_tokens(text: str) -> list[str]:
    """Non-whitespace UAX #29 segments, words *and* punctuation, case kept ("Hello, world!" is
    four tokens): the units DCLM's BFF shingles into n-grams."""
    return _BFF_SEGMENT.findall(text)
