"""Exact n-gram repetition statistics over a word sequence, vectorised with numpy.

Gopher (Rae et al. 2021, Table A1) measures, for n = 2..4, the share of characters taken by the
most frequent n-gram and, for n = 5..10, the share of characters covered by n-grams that occur
more than once. DCLM's ``repetition_filter`` (``baselines/mappers/filters/content_filters.py``)
defines both over the Unicode words of `gristmill.text.words.split_words`:

* characters are word characters only (spaces and punctuation are not counted);
* top n-gram: the count of the most common n-gram times its length in characters, taking the
  longest among n-grams tied at that count; 0 when no n-gram repeats;
* duplicated n-grams: the characters of every word inside at least one occurrence of an
  n-gram whose count is above one, each word counted once.

n-grams are identified exactly, without hashing: word ids are dense integers, and the id of an
n-gram is the dense rank of the pair (id of its (n-1)-gram prefix, id of its last word), so
every level is one ``np.unique`` over int64 keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class NgramCounter:
    """Repetition statistics of one word sequence; levels are computed on first use."""

    words: list[str]
    word_ids: np.ndarray = field(init=False)
    word_lengths: np.ndarray = field(init=False)
    total_chars: int = field(init=False)
    _vocab_size: int = field(init=False)
    _cum_lengths: np.ndarray = field(init=False)
    _levels: dict[int, tuple[np.ndarray, np.ndarray]] = field(init=False)

    def __post_init__(self) -> None:
        vocab: dict[str, int] = {}
        self.word_ids = np.fromiter(
            (vocab.setdefault(w, len(vocab)) for w in self.words), dtype=np.int64, count=len(self.words)
        )
        self._vocab_size = max(1, len(vocab))
        self.word_lengths = np.fromiter(map(len, self.words), dtype=np.int64, count=len(self.words))
        self._cum_lengths = np.concatenate(([0], np.cumsum(self.word_lengths)))
        self.total_chars = int(self._cum_lengths[-1])
        self._levels = {}

    def _level(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(dense id of the n-gram starting at each position, count of each id); n >= 2."""
        if n not in self._levels:
            prefix = self.word_ids if n == 2 else self._level(n - 1)[0]
            keys = prefix[:-1] * self._vocab_size + self.word_ids[n - 1 :]
            _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
            self._levels[n] = (inverse, counts)
        return self._levels[n]

    def top_ngram_fraction(self, n: int) -> float:
        """Characters of the most common n-gram (longest among ties) times its count, over all."""
        if len(self.words) < n:
            return 0.0
        inverse, counts = self._level(n)
        top = int(counts.max())
        if top == 1:
            return 0.0
        # Every occurrence of an n-gram has the same length, so any tied position will do.
        tied_starts = np.flatnonzero(counts[inverse] == top)
        cum = self._cum_lengths
        longest = int((cum[tied_starts + n] - cum[tied_starts]).max())
        return longest * top / self.total_chars

    def duplicated_ngram_fraction(self, n: int) -> float:
        """Characters of words covered by any n-gram that occurs more than once, over all."""
        if len(self.words) < n:
            return 0.0
        inverse, counts = self._level(n)
        starts = np.flatnonzero(counts[inverse] > 1)
        if starts.size == 0:
            return 0.0
        cover = np.zeros(len(self.words) + 1, dtype=np.int64)
        cover[starts] += 1
        cover[starts + n] -= 1
        covered = np.cumsum(cover[:-1]) > 0
        return int(self.word_lengths[covered].sum()) / self.total_chars
