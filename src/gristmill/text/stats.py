"""Per-document text views computed once and shared by every rule of a chain.

A chain such as RefinedWeb asks for the whitespace tokens of the same text four times (word
length, symbol ratio, alphabetic ratio, stop words), for its stripped lines three times and for
its Unicode words once per n. `doc_text` returns one `DocText` per text *object*: as long as no
modifier changes the text, every step gets the same instance and each view is computed at most
once. A modifier produces a new string, hence a new `DocText`; a stale view can never be seen
because strings are immutable and the cache holds a reference to each string it keys.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import cached_property

from gristmill.text.lines import split_lines, split_paragraphs
from gristmill.text.ngrams import NgramCounter
from gristmill.text.words import count_fasttext_words, split_words


class DocText:
    """Lazily computed views of one text."""

    def __init__(self, text: str) -> None:
        self.text = text

    @cached_property
    def tokens(self) -> list[str]:
        """``text.split()``: Python whitespace tokens (Gopher quality rules in DCLM)."""
        return self.text.split()

    @cached_property
    def lines(self) -> list[str]:
        """Stripped non-empty lines."""
        return split_lines(self.text)

    @cached_property
    def paragraphs(self) -> list[str]:
        """Stripped non-empty ``"\\n\\n"`` paragraphs."""
        return split_paragraphs(self.text)

    @cached_property
    def words(self) -> list[str]:
        """Unicode (UAX #29) words starting with a letter or digit."""
        return split_words(self.text)

    @cached_property
    def ngrams(self) -> NgramCounter:
        """n-gram repetition statistics over `words`."""
        return NgramCounter(self.words)

    @cached_property
    def fasttext_word_count(self) -> int:
        """DCLM's word count: fastText tokens starting with an alphanumeric character."""
        return count_fasttext_words(self.text)


# Steps run one after the other over a batch (the shard runner's is 256 documents), so the
# cache must hold a whole batch; the character budget bounds the memory of its views.
_MAX_ENTRIES = 1024
_MAX_CHARS = 64_000_000
_cache: OrderedDict[int, DocText] = OrderedDict()
_cached_chars = 0


def doc_text(text: str) -> DocText:
    """The shared `DocText` of this exact string object (an LRU keyed by identity)."""
    global _cached_chars
    key = id(text)
    entry = _cache.get(key)
    if entry is not None and entry.text is text:
        _cache.move_to_end(key)
        return entry
    entry = DocText(text)
    _cache[key] = entry
    _cached_chars += len(text)
    while len(_cache) > _MAX_ENTRIES or (_cached_chars > _MAX_CHARS and len(_cache) > 1):
        _, old = _cache.popitem(last=False)
        _cached_chars -= len(old.text)
    return entry
