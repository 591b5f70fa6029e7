"""Stable 64-bit hashing shared by every stage: one implementation, fixed seeds, numpy out.

Everything that must give the same answer on every machine, process and run (dedup keys,
shingles, Bloom-filter bits, shard assignment, sampling) hashes through this module, never
through Python's salted ``hash()``.

* `hash_bytes` / `hash_text`: xxh3-64 of one value, mixed with a seed.
* `hash_strings`: xxh3-64 of many strings into a ``uint64`` array (one C call per string, no
  per-character Python work).
* `mix64`: the SplitMix64 finaliser (Steele, Lea & Flood, "Fast splittable pseudorandom number
  generators", OOPSLA 2014), vectorised: a bijection on 64-bit words with full avalanche, used to
  derive independent-looking hashes from one hash and a seed.
* `window_hashes`: hashes of every window of ``n`` consecutive token hashes (n-gram shingles),
  for many token sequences at once, as a multilinear hash — ``sum_j t[i+j] * c_j`` modulo 2^64
  with random odd ``c_j`` — finalised by `mix64` (Lemire & Kaser, "Strongly universal string
  hashing is fast", Computer Journal 2014). Order matters, so "a b" and "b a" differ.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import xxhash

UINT64 = np.uint64
_GOLDEN = 0x9E3779B97F4A7C15  # 2^64 / golden ratio, SplitMix64's increment
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_MASK64 = (1 << 64) - 1


def _seed_word(seed: int) -> np.uint64:
    """A well-spread 64-bit word for ``seed`` (so seeds 0, 1, 2 give unrelated streams)."""
    return np.uint64(mix64_int((seed * _GOLDEN + _GOLDEN) & _MASK64))


def mix64_int(x: int) -> int:
    """SplitMix64 finaliser of one Python int (the scalar twin of `mix64`)."""
    x &= _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def mix64(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """SplitMix64 finaliser of ``x ^ seed_word``, elementwise; returns a new ``uint64`` array."""
    with np.errstate(over="ignore"):
        z = np.bitwise_xor(np.asarray(x, dtype=UINT64), _seed_word(seed))
        z ^= z >> np.uint64(30)
        z *= _M1
        z ^= z >> np.uint64(27)
        z *= _M2
        z ^= z >> np.uint64(31)
    return z


def hash_bytes(data: bytes, seed: int = 0) -> int:
    """Seeded 64-bit hash of ``data`` (xxh3-64, then `mix64_int` with the seed word)."""
    return mix64_int(xxhash.xxh3_64_intdigest(data) ^ int(_seed_word(seed)))


def hash_text(text: str, seed: int = 0) -> int:
    """Seeded 64-bit hash of the UTF-8 bytes of ``text``."""
    return hash_bytes(_encode(text), seed)


def hash_strings(items: Sequence[str] | Iterable[str], seed: int = 0, count: int = -1) -> np.ndarray:
    """xxh3-64 of every string's UTF-8 bytes, mixed with ``seed``, as a ``uint64`` array.

    One C-level xxh3 call per string (``map`` over builtins, no Python frame per item); the seed
    is applied afterwards in numpy because xxhash's keyword seed costs more than the hash itself.
    """
    if count < 0 and isinstance(items, Sequence):
        count = len(items)
    raw = np.fromiter(
        map(xxhash.xxh3_64_intdigest, map(_encode, items)), dtype=UINT64, count=count
    )
    return mix64(raw, seed)


def _encode(s: str) -> bytes:
    return s.encode("utf-8", "surrogatepass")


def _window_coefficients(n: int, seed: int) -> np.ndarray:
    """``n`` random odd 64-bit multipliers, fixed by ``seed`` (odd: each term stays a bijection)."""
    rng = np.random.Generator(np.random.PCG64(mix64_int(seed ^ 0x5348494E474C45)))  # "SHINGLE"
    return rng.integers(0, 2**64, size=n, dtype=UINT64, endpoint=False) | np.uint64(1)


def window_hashes(
    token_hashes: np.ndarray, offsets: np.ndarray, n: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every run of ``n`` consecutive tokens inside each sequence.

    ``token_hashes`` holds the token hashes of many sequences back to back; sequence ``s`` is
    ``token_hashes[offsets[s]:offsets[s + 1]]``. Windows never cross a sequence boundary.

    Returns ``(hashes, counts)``: the window hashes of all sequences in order, and how many
    windows each sequence has (``max(0, length - n + 1)``).
    """
    if n < 1:
        raise ValueError("window size must be at least 1")
    offsets = np.asarray(offsets, dtype=np.int64)
    token_hashes = np.asarray(token_hashes, dtype=UINT64)
    lengths = np.diff(offsets)
    counts = np.maximum(lengths - (n - 1), 0)
    span = len(token_hashes) - n + 1
    if int(counts.sum()) == 0 or span <= 0:
        return np.empty(0, dtype=UINT64), counts
    # Hash every window of the concatenation with contiguous slices (no gathers), then keep
    # the windows that start and end in the same sequence.
    coeffs = _window_coefficients(n, seed)
    acc = np.zeros(span, dtype=UINT64)
    tmp = np.empty(span, dtype=UINT64)
    with np.errstate(over="ignore"):
        for j in range(n):
            np.multiply(token_hashes[j : j + span], coeffs[j], out=tmp)
            acc += tmp
    seq_of_token = np.repeat(np.arange(len(lengths)), lengths)
    valid = seq_of_token[:span] == seq_of_token[n - 1 :]
    return mix64(acc[valid], seed), counts


def combine_columns(matrix: np.ndarray, seed: int = 0) -> np.ndarray:
    """One 64-bit hash per row of a 2-D ``uint64`` matrix (e.g. a MinHash band of r rows)."""
    matrix = np.asarray(matrix, dtype=UINT64)
    coeffs = _window_coefficients(matrix.shape[1], seed ^ 0x42414E44)  # "BAND"
    acc = np.zeros(matrix.shape[0], dtype=UINT64)
    with np.errstate(over="ignore"):
        for j in range(matrix.shape[1]):
            acc += matrix[:, j] * coeffs[j]
    return mix64(acc, seed)


def bucket_of(hashes: np.ndarray, buckets: int) -> np.ndarray:
    """Partition index in ``[0, buckets)`` of each hash, from its high bits (``int64``)."""
    if buckets <= 0:
        raise ValueError("buckets must be positive")
    high = np.asarray(hashes, dtype=UINT64) >> np.uint64(32)
    return (high % np.uint64(buckets)).astype(np.int64)
