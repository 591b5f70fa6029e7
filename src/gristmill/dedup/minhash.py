"""MinHash signatures and LSH band keys, computed for many documents per numpy call.

A signature holds, for each of ``num_perm`` hash functions ``h_i(x) = a_i * x + b_i (mod 2^32)``
(``a_i`` odd, so each is a permutation of 32-bit values; ``x`` = the high 32 bits of the
shingle's 64-bit hash), the minimum over the document's shingles (Broder, "On the resemblance
and containment of documents", 1997). Two documents agree on one position with probability
equal to the Jaccard similarity of their shingle sets. 32-bit values halve the memory traffic
of the (shingles x permutations) product against 64-bit ones; datatrove uses 64-bit values
modulo the Mersenne prime 2^61-1, which costs a division per element.

The signature splits into ``bands`` bands of ``rows`` values; each band is hashed to one 64-bit
key and documents sharing any band key become duplicate candidates (LSH).

Defaults: word 5-grams and Jaccard 0.8 as in DCLM (paper App. L / §3.2, which used 93 x 15
permutations) and FineWeb (14 x 8); with 128 permutations the solver picks 9 bands x 13 rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from gristmill.core.hashing import combine_columns, mix64_int
from gristmill.dedup.plan import solve_bands

_EMPTY = np.uint32(0xFFFFFFFF)
# Shingles multiplied per block: (block x num_perm) uint32 stays in L2 cache.
_BLOCK_SHINGLES = 2048


@dataclass(frozen=True, kw_only=True)
class MinhashParams:
    """Shape of the signatures and bands; everything that changes which pairs collide."""

    ngram: int = 5
    num_perm: int = 128
    bands: int = 0
    rows: int = 0
    threshold: float = 0.8
    seed: int = 0

    def __post_init__(self) -> None:
        if self.ngram < 1:
            raise ValueError(f"ngram must be at least 1, got {self.ngram}")
        if (self.bands > 0) != (self.rows > 0):
            raise ValueError("give both bands and rows, or neither (then they are solved)")
        if self.bands and self.bands * self.rows > self.num_perm:
            raise ValueError(
                f"bands x rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}"
            )

    @cached_property
    def layout(self) -> tuple[int, int]:
        """``(bands, rows)``: as given, else solved for the threshold."""
        if self.bands:
            return self.bands, self.rows
        return solve_bands(self.num_perm, self.threshold)

    @cached_property
    def permutations(self) -> tuple[np.ndarray, np.ndarray]:
        """``(a, b)`` uint32 arrays of length num_perm, ``a`` odd, fixed by the seed."""
        rng = np.random.Generator(np.random.PCG64(mix64_int(self.seed ^ 0x4D494E48415348)))
        a = rng.integers(0, 2**32, size=self.num_perm, dtype=np.uint32) | np.uint32(1)
        b = rng.integers(0, 2**32, size=self.num_perm, dtype=np.uint32)
        return a, b


def signatures(shingles: np.ndarray, counts: np.ndarray, params: MinhashParams) -> np.ndarray:
    """MinHash signatures (``uint32``, documents x num_perm) of documents given back to back.

    Document ``d`` owns ``counts[d]`` consecutive entries of ``shingles``. A document without
    shingles gets all-``0xFFFFFFFF``; callers leave such documents out of LSH.
    """
    a, b = params.permutations
    counts = np.asarray(counts, dtype=np.int64)
    n_docs = len(counts)
    out = np.full((n_docs, params.num_perm), _EMPTY, dtype=np.uint32)
    x = (np.asarray(shingles, dtype=np.uint64) >> np.uint64(32)).astype(np.uint32)
    ends = np.cumsum(counts)
    starts = ends - counts
    buf = np.empty((_BLOCK_SHINGLES, params.num_perm), dtype=np.uint32)
    doc = 0
    with np.errstate(over="ignore"):
        while doc < n_docs:
            # Take whole documents while they fit in one block; a bigger document is folded
            # block by block into its own row.
            last = int(np.searchsorted(ends, starts[doc] + _BLOCK_SHINGLES, side="right"))
            if last > doc:
                lo, hi = int(starts[doc]), int(ends[last - 1])
                if hi > lo:
                    block = buf[: hi - lo]
                    np.multiply(x[lo:hi, None], a, out=block)
                    block += b
                    present = counts[doc:last] > 0
                    seg = starts[doc:last][present] - lo
                    out[doc:last][present] = np.minimum.reduceat(block, seg, axis=0)
                doc = last
            else:
                lo, hi = int(starts[doc]), int(ends[doc])
                row = out[doc]
                for s in range(lo, hi, _BLOCK_SHINGLES):
                    e = min(hi, s + _BLOCK_SHINGLES)
                    block = buf[: e - s]
                    np.multiply(x[s:e, None], a, out=block)
                    block += b
                    np.minimum(row, block.min(axis=0), out=row)
                doc += 1
    return out


def band_keys(sigs: np.ndarray, params: MinhashParams) -> np.ndarray:
    """64-bit key of each band of each signature: ``uint64`` array (documents x bands)."""
    bands, rows = params.layout
    keys = np.empty((sigs.shape[0], bands), dtype=np.uint64)
    for j in range(bands):
        keys[:, j] = combine_columns(sigs[:, j * rows : (j + 1) * rows].astype(np.uint64), params.seed + j)
    return keys


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Fraction of positions where two signatures agree (an unbiased Jaccard estimate)."""
    return float(np.mean(sig_a == sig_b))
