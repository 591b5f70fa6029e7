"""Per-character Unicode properties as a numpy lookup table, for vectorised line rules.

The line modifiers of RefinedWeb count, per line, the characters for which Python's
``str.isupper`` / ``str.isdigit`` hold (DCLM ``uppercase_ratio_line_modifier``,
``numeric_ratio_line_modifier``). Instead of a Python loop over characters we turn the text
into its code points (one ``encode`` call), look every code point up in a flag table built once
per process from the same ``str`` predicates (so the semantics are Python's, exactly), and sum
per line with ``cumsum``.
"""

from __future__ import annotations

import functools

import numpy as np

UPPER = np.uint8(1)
DIGIT = np.uint8(2)
ALPHA = np.uint8(4)
SPACE = np.uint8(8)
_N_CODEPOINTS = 0x110000


@functools.cache
def flag_table() -> np.ndarray:
    """uint8 flags (UPPER | DIGIT | ALPHA | SPACE) for every code point, built once per process."""
    chars = "".join(map(chr, range(_N_CODEPOINTS)))
    table = np.fromiter(map(str.isupper, chars), dtype=bool, count=_N_CODEPOINTS).astype(np.uint8)
    table |= np.fromiter(map(str.isdigit, chars), dtype=bool, count=_N_CODEPOINTS).astype(np.uint8) << 1
    table |= np.fromiter(map(str.isalpha, chars), dtype=bool, count=_N_CODEPOINTS).astype(np.uint8) << 2
    table |= np.fromiter(map(str.isspace, chars), dtype=bool, count=_N_CODEPOINTS).astype(np.uint8) << 3
    return table


def codepoints(text: str) -> np.ndarray:
    """The code points of ``text`` as uint32 (lone surrogates pass through)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


def per_line_counts(text: str, flag: np.uint8) -> tuple[np.ndarray, np.ndarray]:
    """For each ``text.split("\\n")`` line: (its length, how many of its characters have ``flag``).

    Returns two int64 arrays with one entry per line.
    """
    cp = codepoints(text)
    hits = (flag_table()[cp] & flag) != 0
    newlines = np.flatnonzero(cp == 10)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [cp.size]))
    csum = np.concatenate(([0], np.cumsum(hits, dtype=np.int64)))
    return ends - starts, csum[ends] - csum[starts]


def count_tokens_with_alpha(text: str) -> tuple[int, int]:
    """(number of ``text.split()`` tokens, number of them containing an alphabetic character)."""
    flags = flag_table()[codepoints(text)]
    nonspace = (flags & SPACE) == 0
    starts = nonspace.copy()
    starts[1:] &= ~nonspace[:-1]
    n_tokens = int(starts.sum())
    if n_tokens == 0:
        return 0, 0
    token_of_char = np.cumsum(starts) - 1
    alpha_tokens = np.unique(token_of_char[(flags & ALPHA) != 0])
    return n_tokens, int(alpha_tokens.size)
