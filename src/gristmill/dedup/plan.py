"""Memory planning for the Bloom filter of BFF dedup, and the MinHash band/row solver.

Bloom sizing follows DCLM's `bff` exactly (mlfoundations/dclm ``dedup/bff/src/main.rs``,
``compute_bloom_size`` and ``optimal_number_of_hashers``; paper App. L): binary search over the
filter size in bytes for the smallest size whose false-positive rate
``(1 - (1 - 1/m)^(k n))^k`` is at most the target, with ``k = ceil((m / n) ln 2)`` hash functions
(m bits, n expected n-grams). At a 0.01 rate that is about 9.6 bits per n-gram, 7 hashers (paper:
``k = -ln(eps) / ln 2``); DCLM issue #71: 1e9 n-grams need about 1.1 GiB.

gristmill splits the same bits into ``blocks`` equal blocks of 64-bit words (so a filter can be
spread over Ray actors, each n-gram living in one block); the allocation is the DCLM size rounded
up to whole words per block, and `BloomPlan.allocated_bytes` is exactly what `BloomFilter`
allocates.

The MinHash solver picks ``bands x rows`` for a Jaccard threshold by minimising the weighted
area of false positives plus false negatives under the S-curve ``1 - (1 - s^r)^b`` (Leskovec,
Rajaraman & Ullman, "Mining of Massive Datasets", ch. 3.4; the same objective as datasketch's
``MinHashLSH``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# DCLM's search upper bound when not capped to system RAM (main.rs: `420_744_073_709_551_615`).
_DCLM_MAX_BYTES = 420_744_073_709_551_615

# UTF-8 bytes per UniSeg token measured on ../shared/data (English Wikipedia and web pages
# extracted with resiliparse: 5.0-5.6 bytes per word or punctuation token); used only to turn a
# corpus size in bytes into an n-gram estimate, and overridable on the command line.
BYTES_PER_TOKEN = 5.0


def optimal_hashers(size_bytes: int, expected: int) -> int:
    """DCLM's ``optimal_number_of_hashers``: ``ceil((bits / n) * ln 2)``."""
    return math.ceil((size_bytes * 8 / max(1, expected)) * math.log(2.0))


def false_positive_rate(size_bytes: int, expected: int, hashers: int) -> float:
    """DCLM's ``prob_of_false_positive``: ``(1 - (1 - 1/m)^(k n))^k`` for m bits."""
    m = float(size_bytes * 8)
    return (1.0 - (1.0 - 1.0 / m) ** (hashers * float(max(1, expected)))) ** hashers


def dclm_bloom_bytes(expected: int, fp_rate: float) -> int:
    """Filter size in bytes exactly as DCLM's ``compute_bloom_size`` (no RAM cap) computes it."""
    if not 0.0 < fp_rate < 1.0:
        raise ValueError(f"fp rate must be in (0, 1), got {fp_rate}")
    lo, hi = 1, _DCLM_MAX_BYTES
    while lo < hi - 1:
        mid = lo + (hi - lo) // 2
        if false_positive_rate(mid, expected, optimal_hashers(mid, expected)) > fp_rate:
            lo = mid + 1
        else:
            hi = mid - 1
    return hi


@dataclass(frozen=True)
class BloomPlan:
    """The size and shape of one Bloom filter.

    Attributes:
        expected_ngrams: n-grams the filter is sized for (DCLM's ``--expected-ngram-count``).
        fp_rate: target false-positive rate per n-gram.
        theoretical_bytes: DCLM's size for that count and rate.
        hashers: number of bit positions per n-gram (k).
        blocks: equal blocks the bits are split into (the unit of distribution over actors).
        words_per_block: 64-bit words in each block.
    """

    expected_ngrams: int
    fp_rate: float
    theoretical_bytes: int
    hashers: int
    blocks: int
    words_per_block: int

    @property
    def bits_per_block(self) -> int:
        return self.words_per_block * 64

    @property
    def allocated_bytes(self) -> int:
        """Bytes of the bit array `BloomFilter` allocates for this plan (all blocks)."""
        return self.blocks * self.words_per_block * 8

    @property
    def bits_per_ngram(self) -> float:
        return self.allocated_bytes * 8 / max(1, self.expected_ngrams)

    def expected_fp_rate(self) -> float:
        """False-positive rate of the allocated size at the planned count."""
        return false_positive_rate(self.allocated_bytes, self.expected_ngrams, self.hashers)

    def to_dict(self) -> dict[str, float | int]:
        return {
            "expected_ngrams": self.expected_ngrams,
            "fp_rate": self.fp_rate,
            "hashers": self.hashers,
            "blocks": self.blocks,
            "theoretical_bytes": self.theoretical_bytes,
            "allocated_bytes": self.allocated_bytes,
            "bits_per_ngram": round(self.bits_per_ngram, 3),
        }


def plan_bloom(expected_ngrams: int, fp_rate: float = 0.01, blocks: int = 64) -> BloomPlan:
    """Plan a filter for ``expected_ngrams`` at ``fp_rate``, split into ``blocks`` blocks."""
    if blocks < 1:
        raise ValueError(f"blocks must be at least 1, got {blocks}")
    expected = max(1, int(expected_ngrams))
    size = dclm_bloom_bytes(expected, fp_rate)
    hashers = optimal_hashers(size, expected)
    words_per_block = max(1, math.ceil(size / 8 / blocks))
    return BloomPlan(expected, fp_rate, size, hashers, blocks, words_per_block)


def ngrams_for_bytes(corpus_bytes: int, bytes_per_token: float = BYTES_PER_TOKEN) -> int:
    """Upper-bound n-gram count for a corpus of ``corpus_bytes`` of text.

    DCLM's maintainers (issue #90) size the filter by the token count (#tokens minus
    ngram_size x #paragraphs, "overshoot slightly"); the token count is estimated from bytes.
    """
    return math.ceil(corpus_bytes / bytes_per_token)


def lsh_probability(similarity: np.ndarray | float, bands: int, rows: int) -> np.ndarray:
    """Probability that two documents of Jaccard ``similarity`` share at least one band."""
    s = np.asarray(similarity, dtype=np.float64)
    return 1.0 - (1.0 - s**rows) ** bands


def lsh_error_areas(threshold: float, bands: int, rows: int, steps: int = 2001) -> tuple[float, float]:
    """(false-positive area below the threshold, false-negative area above it) of the S-curve."""
    lo = np.linspace(0.0, threshold, steps)
    hi = np.linspace(threshold, 1.0, steps)
    fp = float(np.trapezoid(lsh_probability(lo, bands, rows), lo))
    fn = float(np.trapezoid(1.0 - lsh_probability(hi, bands, rows), hi))
    return fp, fn


def solve_bands(
    num_perm: int, threshold: float = 0.8, fp_weight: float = 0.5, fn_weight: float = 0.5
) -> tuple[int, int]:
    """``(bands, rows)`` with ``bands * rows <= num_perm`` minimising weighted FP + FN area."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"Jaccard threshold must be in (0, 1), got {threshold}")
    best: tuple[float, int, int] | None = None
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            fp, fn = lsh_error_areas(threshold, bands, rows, steps=201)
            err = fp_weight * fp + fn_weight * fn
            if best is None or err < best[0] - 1e-15:
                best = (err, bands, rows)
    assert best is not None
    return best[1], best[2]
