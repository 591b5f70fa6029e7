"""Regular expressions for large word lists, compiled as a character trie.

An alternation of hundreds of words is slow in Python's ``re`` (every alternative is tried at
every position); the same set written as a trie (``ab(?:c|s(?:olute)?)``) shares prefixes and
is matched in one pass. DCLM builds its URL and TLD patterns the same way with the ``retrie``
package; at each position a trie pattern prefers the longest word that lets the rest of the
expression match, exactly as an alternation sorted longest-first would, so `findall` results
(and DCLM's counts of distinct matches) are the same as DCLM's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_END = ""


def trie_pattern(words: Iterable[str], escape: bool = True) -> str:
    """A non-capturing regex matching exactly ``words`` (longest alternative preferred).

    ``escape=False`` takes each word as regex source text, character by character, as DCLM
    does for lists that it escapes before building its trie.
    """
    root: dict[str, dict] = {}
    for word in words:
        if not word:
            continue
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[_END] = {}
    if not root:
        return "(?!)"  # matches nothing
    return _node_pattern(root, escape) or "(?!)"


def _node_pattern(node: dict[str, dict], escape: bool) -> str:
    branches = []
    singles = []
    for ch in sorted(k for k in node if k != _END):
        sub = node[ch]
        text = re.escape(ch) if escape else ch
        if len(sub) == 1 and _END in sub:
            singles.append(text)
        else:
            branches.append(text + _node_pattern(sub, escape))
    if len(singles) == 1:
        branches.append(singles[0])
    elif singles:
        branches.append("[" + "".join(singles) + "]" if escape else "(?:" + "|".join(singles) + ")")
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if _END in node:
        return f"(?:{body})?" if len(branches) > 1 or len(body) > 1 else f"{body}?"
    return body
