"""A blocked Bloom filter over 64-bit n-gram hashes, probed and filled with numpy.

Each n-gram hash picks one block (from a seeded remix of its bits) and ``k`` bit positions
inside that block by double hashing, ``g1 + i * g2`` (Kirsch & Mitzenmacher, "Less hashing, same
performance: building a better Bloom filter", ESA 2006). Because an n-gram touches one block
only, the blocks can live in different processes (Ray actors own ``block % actors == rank``)
and a probe needs one message to one owner. Which bits an n-gram sets depends only on the plan
and the seed, never on how many owners the blocks are spread over, so a filter split across
actors answers exactly like one held in a single process.
"""

from __future__ import annotations

import numpy as np

from gristmill.core.hashing import bucket_of, mix64
from gristmill.dedup.plan import BloomPlan

_BLOCK_SEED = 0x424C4F434B  # "BLOCK"
_STEP_SEED = 0x53544550  # "STEP"


def block_of(hashes: np.ndarray, plan: BloomPlan, seed: int) -> np.ndarray:
    """Block index of each n-gram hash (``int64``)."""
    return bucket_of(mix64(hashes, seed ^ _BLOCK_SEED), plan.blocks)


class BloomFilter:
    """The blocks ``rank, rank + owners, rank + 2*owners, ...`` of a planned filter.

    ``owners=1, rank=0`` (the default) holds the whole filter. `contains` and `add` take hashes
    whose block this instance owns.
    """

    def __init__(self, plan: BloomPlan, seed: int = 0, owners: int = 1, rank: int = 0) -> None:
        if not 0 <= rank < owners:
            raise ValueError(f"rank {rank} outside 0..{owners - 1}")
        self.plan = plan
        self.seed = seed
        self.owners = owners
        self.rank = rank
        owned = len(range(rank, plan.blocks, owners))
        self.words = np.zeros(owned * plan.words_per_block, dtype=np.uint64)

    @property
    def nbytes(self) -> int:
        return int(self.words.nbytes)

    def _locate(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First word of each hash's block (into ``self.words``) and its double-hashing step."""
        plan = self.plan
        blocks = block_of(hashes, plan, self.seed)
        if self.owners > 1 and np.any(blocks % self.owners != self.rank):
            raise ValueError("n-gram hash routed to a Bloom filter partition that does not own it")
        base = (blocks // self.owners) * plan.words_per_block
        step = mix64(hashes, self.seed ^ _STEP_SEED) | np.uint64(1)
        return base, step

    def _probes(self, hashes: np.ndarray):
        """Yield (word index, bit mask) of probe i = 0..k-1 for every hash.

        One probe at a time keeps the working memory at a few arrays of len(hashes), not k.
        """
        base, step = self._locate(hashes)
        bits = np.uint64(self.plan.bits_per_block)
        pos = np.empty(len(hashes), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for i in range(self.plan.hashers):
                np.multiply(step, np.uint64(i), out=pos)
                pos += hashes
                pos %= bits
                word = base + (pos >> np.uint64(6)).astype(np.int64)
                yield word, np.left_shift(np.uint64(1), pos & np.uint64(63))

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        """Whether each hash is (probably) in the filter: all k bits set."""
        hashes = np.asarray(hashes, dtype=np.uint64)
        found = np.ones(len(hashes), dtype=bool)
        if len(hashes) == 0:
            return found
        for word, bit in self._probes(hashes):
            found &= (self.words[word] & bit) != 0
        return found

    def add(self, hashes: np.ndarray) -> None:
        """Set the k bits of every hash (duplicates are harmless)."""
        hashes = np.asarray(hashes, dtype=np.uint64)
        if len(hashes) == 0:
            return
        for word, bit in self._probes(hashes):
            np.bitwise_or.at(self.words, word, bit)

    def fill_ratio(self) -> float:
        """Fraction of bits set (DCLM's "sparsity" report)."""
        ones = 0
        for i in range(0, len(self.words), 1 << 20):  # bounded temporaries, not a byte per bit
            ones += int(np.bitwise_count(self.words[i : i + (1 << 20)]).sum(dtype=np.int64))
        return ones / max(1, self.words.size * 64)


def split_by_owner(hashes: np.ndarray, plan: BloomPlan, seed: int, owners: int) -> list[np.ndarray]:
    """Indices into ``hashes`` of the n-grams owned by each of ``owners`` partitions."""
    owner = block_of(hashes, plan, seed) % owners
    order = np.argsort(owner, kind="stable")
    cuts = np.searchsorted(owner[order], np.arange(1, owners))
    return np.split(order, cuts)
