"""Finding eval items in documents: an n-gram index of the items, one scan per document.

Tokens are the lowercased Unicode words of `gristmill.text.split_words` (punctuation and
case do not hide a copy). The eval side is small, so it is indexed once per worker:

* **overlap** (Llama 2 §4.1, DCLM App. D/O): every ``ngram``-token window (10) of every item,
  by a 64-bit hash, with its item and position. A document's windows are hashed the same way
  (vectorised with numpy) and looked up; every hit is verified token by token, so a hash
  collision never counts. A window that occurs in more than ``max_item_frequency`` items is a
  template of the eval set ("Given the definition of the op operator, compute the result"),
  not content, and is not indexed.
* **targeted** (DCLM §4.6, MMLU and HellaSwag): the question (MMLU: its last sentence; a
  shorter last sentence than ``min_question_words`` falls back to the whole question, and a
  still shorter question is not matched, since a few words match anywhere) found verbatim in
  the document, *and* one of the item's answer options within ``option_window`` words of it.
  DCLM accepted an option anywhere in the document; the window keeps one-token options
  ("4", "True") from making every long page a hit.

Word hashes use Python's string hash: they differ between processes, but only matches (item,
positions) leave a worker, and matches are verified exactly, so results never depend on them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gristmill.decontam.evals import TARGETED_TASKS, EvalItem, load_evals
from gristmill.text import split_words

_P = np.uint64(0x9E3779B97F4A7C15)


def tokens(text: str) -> list[str]:
    """Lowercased Unicode words: the unit of every comparison here."""
    return split_words(text.lower())


def word_hashes(words: Sequence[str]) -> np.ndarray:
    return np.fromiter(map(hash, words), dtype=np.int64, count=len(words)).view(np.uint64)


def ngram_hashes(hashes: np.ndarray, n: int) -> np.ndarray:
    """Polynomial hash of every window of ``n`` words (uint64 arithmetic wraps)."""
    m = len(hashes) - n + 1
    if m <= 0:
        return np.empty(0, dtype=np.uint64)
    out = np.zeros(m, dtype=np.uint64)
    for j in range(n):
        out = out * _P + hashes[j : j + m]
    return out


def _positions_in(sorted_keys: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Positions ``p`` where ``h[p]`` is one of ``sorted_keys`` (non-empty, ascending)."""
    at = np.searchsorted(sorted_keys, h)
    return np.flatnonzero(sorted_keys[np.minimum(at, len(sorted_keys) - 1)] == h)


@dataclass(frozen=True)
class MatchSettings:
    ngram: int = 10
    max_item_frequency: int = 10
    targeted: bool = True
    min_question_words: int = 8
    option_window: int = 200


@dataclass
class DocMatches:
    """Verified matches in one document: overlap ``(item, item position, doc position)`` and
    targeted ``(item, doc position of the question, option index)``."""

    overlap: list[tuple[int, int, int]]
    targeted: list[tuple[int, int, int]]


class EvalIndex:
    """The n-gram index of a list of eval items (see the module docstring)."""

    def __init__(self, items: list[EvalItem], settings: MatchSettings) -> None:
        self.items = items
        self.settings = settings
        n = settings.ngram
        self.item_tokens = [tokens(it.text) for it in items]
        hashes, owners, positions = [], [], []
        for i, toks in enumerate(self.item_tokens):
            h = ngram_hashes(word_hashes(toks), n)
            hashes.append(h)
            owners.append(np.full(len(h), i, dtype=np.int64))
            positions.append(np.arange(len(h), dtype=np.int64))
        h = np.concatenate(hashes) if hashes else np.empty(0, np.uint64)
        owner = np.concatenate(owners) if owners else np.empty(0, np.int64)
        pos = np.concatenate(positions) if positions else np.empty(0, np.int64)
        order = np.lexsort((pos, owner, h))
        h, owner, pos = h[order], owner[order], pos[order]
        # Items per window: windows shared by too many items are eval templates.
        # (h is sorted, so runs are found by comparing neighbours: no hash-table unique.)
        first = np.r_[True, (h[1:] != h[:-1]) | (owner[1:] != owner[:-1])]
        distinct = h[first]
        starts = np.flatnonzero(np.r_[True, distinct[1:] != distinct[:-1]])
        item_counts = np.diff(np.r_[starts, len(distinct)])
        template = distinct[starts][item_counts > settings.max_item_frequency]
        keep = ~np.isin(h, template, assume_unique=False, kind="sort")
        self.templates = len(template)
        self.hash, self.owner, self.pos = h[keep], owner[keep], pos[keep]
        self.keys = self.hash[np.r_[True, self.hash[1:] != self.hash[:-1]]] if len(self.hash) else self.hash
        self._targeted_index()

    def _targeted_index(self) -> None:
        s = self.settings
        self.questions: dict[int, list[str]] = {}
        self.options: dict[int, list[list[str]]] = {}
        qh, qi = [], []
        if s.targeted:
            for i, it in enumerate(self.items):
                if it.task not in TARGETED_TASKS or not it.options:
                    continue
                q = tokens(it.question)
                if len(q) < s.min_question_words:
                    q = tokens(it.query)
                if len(q) < s.min_question_words:
                    continue
                self.questions[i] = q
                self.options[i] = [tokens(o) for o in it.options]
                qh.append(ngram_hashes(word_hashes(q[: s.min_question_words]), s.min_question_words)[0])
                qi.append(i)
        order = np.argsort(np.asarray(qh, dtype=np.uint64), kind="stable")
        self.q_hash = np.asarray(qh, dtype=np.uint64)[order]
        self.q_item = np.asarray(qi, dtype=np.int64)[order]

    def scan(self, text: str) -> DocMatches:
        words = tokens(text)
        wh = word_hashes(words)
        return DocMatches(self._overlap(words, wh), self._targeted(words, wh))

    def _overlap(self, words: list[str], wh: np.ndarray) -> list[tuple[int, int, int]]:
        n = self.settings.ngram
        h = ngram_hashes(wh, n)
        if not len(h) or not len(self.keys):
            return []
        hit = _positions_in(self.keys, h)
        found = []
        for p in hit.tolist():
            lo, hi = np.searchsorted(self.hash, h[p], "left"), np.searchsorted(self.hash, h[p], "right")
            window = words[p : p + n]
            for item, ipos in zip(self.owner[lo:hi].tolist(), self.pos[lo:hi].tolist(), strict=True):
                if self.item_tokens[item][ipos : ipos + n] == window:
                    found.append((item, ipos, p))
        return found

    def _targeted(self, words: list[str], wh: np.ndarray) -> list[tuple[int, int, int]]:
        s = self.settings
        if not len(self.q_hash):
            return []
        h = ngram_hashes(wh, s.min_question_words)
        if not len(h):
            return []
        hit = _positions_in(self.q_hash, h)
        found = []
        for p in hit.tolist():
            lo, hi = np.searchsorted(self.q_hash, h[p], "left"), np.searchsorted(self.q_hash, h[p], "right")
            for item in self.q_item[lo:hi].tolist():
                q = self.questions[item]
                if words[p : p + len(q)] != q:
                    continue
                a, b = max(0, p - s.option_window), min(len(words), p + len(q) + s.option_window)
                option = _find_option(words, a, b, self.options[item], skip=(p, p + len(q)))
                if option is not None:
                    found.append((item, p, option))
        return found


def _find_option(words: list[str], a: int, b: int, options: list[list[str]],
                 skip: tuple[int, int]) -> int | None:
    """Index of the first option found as a token sequence in ``words[a:b]`` outside the
    question itself (``skip``), or None."""
    for k, opt in enumerate(options):
        if not opt:
            continue
        first = opt[0]
        for i in range(a, b - len(opt) + 1):
            if words[i] == first and words[i : i + len(opt)] == opt and not skip[0] <= i < skip[1]:
                return k
    return None


@functools.cache
def cached_index(evals: str, tasks: tuple[str, ...], settings: MatchSettings) -> EvalIndex:
    """One index per worker process and configuration."""
    return EvalIndex(load_evals(evals, list(tasks) or None), settings)
