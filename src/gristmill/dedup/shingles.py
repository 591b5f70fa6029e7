"""Tokens, paragraphs and hashed shingles of documents, many documents per numpy call.

Two tokenizations, each matching the method it feeds:

* BFF (DCLM ``dedup/bff/src/main.rs``, ``tokenize``): every UAX #29 word-boundary segment that
  is not all whitespace — words *and* punctuation ("Hello, world!" is four tokens), case kept.
  `uniseg_tokens` gets these from the ``regex`` package's UAX #29 boundaries (``WORD`` flag),
  the same engine `gristmill.text.words.split_words` uses; split_words itself keeps only
  segments starting with a letter or digit, which is what the Gopher rules count but not what
  BFF shingles.
* MinHash: `gristmill.text.words.split_words` of the lowercased text (punctuation dropped, so
  "Hello, World" and "hello world" shingle alike, as datatrove's simplified text does).

Paragraphs are DCLM's: the spans between ``"\\n"`` characters, each newline belonging to the
paragraph after it (``text.match_indices('\\n')`` windows), so removing paragraph ``i`` removes
the newline before it and the kept paragraphs concatenate back without any rewriting.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gristmill.core.hashing import hash_strings, window_hashes
from gristmill.text.words import split_tokens, split_words

_BFF_SEED = 0x424646  # "BFF"
_MINHASH_SEED = 0x4D494E48  # "MINH"


def uniseg_tokens(text: str) -> list[str]:
    """DCLM BFF's tokens: `gristmill.text.words.split_tokens`."""
    return split_tokens(text)


def paragraphs(text: str) -> list[str]:
    """DCLM's paragraphs as token sources: ``text.split("\\n")`` (the newline itself carries no
    token, so paragraph ``i > 0`` is ``"\\n" + pieces[i]`` in the text)."""
    return text.split("\n")


def remove_paragraphs(text: str, removed: Sequence[int]) -> str:
    """``text`` without the DCLM paragraph windows in ``removed`` (indices into `paragraphs`).

    Window 0 is the first piece; window ``i > 0`` is the newline before piece ``i`` plus the
    piece, exactly the spans DCLM's BFF cuts out.
    """
    if not removed:
        return text
    drop = set(removed)
    pieces = text.split("\n")
    out = [] if 0 in drop else [pieces[0]]
    for i in range(1, len(pieces)):
        if i not in drop:
            out.append("\n" + pieces[i])
    return "".join(out)


def _flatten(token_lists: list[list[str]]) -> tuple[list[str], np.ndarray]:
    lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
    offsets = np.zeros(len(token_lists) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = [tok for toks in token_lists for tok in toks]
    return flat, offsets


def sequence_shingles(
    token_lists: list[list[str]], n: int, min_n: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of the n-token shingles of each token sequence, all sequences in one pass.

    A sequence shorter than ``n`` but at least ``min_n`` tokens long gives one shingle, the
    hash of all its tokens (DCLM BFF's ``min_ngram_size`` rule); shorter ones give none.
    Returns ``(hashes, counts)``: hashes in sequence order and the shingle count of each.
    """
    flat, offsets = _flatten(token_lists)
    token_hashes = hash_strings(flat, seed, count=len(flat))
    hashes, counts = window_hashes(token_hashes, offsets, n, seed)
    lengths = np.diff(offsets)
    short = np.flatnonzero((lengths < n) & (lengths >= max(1, min_n)))
    if len(short) == 0:
        return hashes, counts
    # One whole-sequence hash per short sequence: a single window as long as the sequence,
    # computed for all short sequences of one length at a time.
    whole = np.empty(len(short), dtype=np.uint64)
    for length in np.unique(lengths[short]):
        pick = np.flatnonzero(lengths[short] == length)
        rows = offsets[short[pick]][:, None] + np.arange(length)
        row_offsets = np.arange(len(pick) + 1, dtype=np.int64) * int(length)
        whole[pick], _ = window_hashes(token_hashes[rows.ravel()], row_offsets, int(length), seed)
    new_counts = counts.copy()
    new_counts[short] = 1
    out = np.empty(int(new_counts.sum()), dtype=np.uint64)
    is_whole = np.zeros(len(out), dtype=bool)
    is_whole[(np.cumsum(new_counts) - new_counts)[short]] = True
    out[is_whole] = whole
    out[~is_whole] = hashes
    return out, new_counts


def bff_paragraph_shingles(
    texts: list[str], ngram: int, min_ngram: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BFF shingles of a batch of documents, paragraph by paragraph.

    Returns ``(hashes, paragraph_counts, document_paragraphs)``: every paragraph's n-gram
    hashes in document then paragraph order, the n-gram count of each paragraph, and the
    number of paragraphs of each document.
    """
    pieces = [paragraphs(t) for t in texts]
    doc_paragraphs = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
    token_lists = [uniseg_tokens(p) for doc in pieces for p in doc]
    hashes, counts = sequence_shingles(token_lists, ngram, min_ngram, seed ^ _BFF_SEED)
    return hashes, counts, doc_paragraphs


def minhash_document_shingles(texts: list[str], ngram: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Word n-gram hashes of each document (lowercased `split_words`), and counts per document.

    A document with fewer than ``ngram`` words (but at least one) is one shingle of all its
    words, so short exact copies still collide; an empty one has no shingles.
    """
    token_lists = [split_words(t.lower()) for t in texts]
    return sequence_shingles(token_lists, ngram, 1, seed ^ _MINHASH_SEED)


def document_sets(shingles: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique shingles of each document, all documents in one sort.

    Document ``d`` owns ``counts[d]`` consecutive entries of ``shingles``. Returns
    ``(values, offsets)``: document ``d``'s set is ``values[offsets[d]:offsets[d + 1]]``.
    """
    counts = np.asarray(counts, dtype=np.int64)
    doc = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    order = np.lexsort((shingles, doc))
    values, doc = shingles[order], doc[order]
    first = np.ones(len(values), dtype=bool)
    first[1:] = (values[1:] != values[:-1]) | (doc[1:] != doc[:-1])
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(np.bincount(doc[first], minlength=len(counts)), out=offsets[1:])
    return values[first], offsets


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted unique arrays (1.0 for two empty ones)."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)
