"""Text blocks of a page, as resiliparse's minimal-HTML rendering lays them out.

``extract_plain_text(..., preserve_formatting="minimal_html", links=True)`` renders the page
as one line per text block, keeping only ``<p>``, ``<h1-6>``, ``<ul>/<ol>/<li>``, ``<pre>``,
``<br>`` and ``<a>``. That is enough structure to tell a paragraph from a bare ``<div>`` line
(menus, bylines, counters) and linked text from prose, without walking the DOM from Python
(resiliparse's Python DOM accessors run at ~8 MB/s, 20x slower than the extraction itself).

`parse_blocks` turns that rendering into parallel lists (tag, text, linked characters);
`block_features` turns the lists into a numpy feature matrix, all array operations.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

# Block kinds, in the order of the one-hot feature columns.
KINDS: tuple[str, ...] = ("p", "h", "li", "pre", "div")
_KIND_INDEX = {kind: i for i, kind in enumerate(KINDS)}
_KIND_OF = {"p": "p", "li": "li", "pre": "pre", **{f"h{i}": "h" for i in range(1, 7)}}

# A whole line that is exactly one block element with no block tag nested inside (the common
# case: resiliparse writes one ``<p>``/``<hN>``/``<li>`` per line).
_BLOCK_LINE = re.compile(r" *<(p|h[1-6]|li)>((?:(?!</?(?:p|h[1-6]|li|ul|ol|pre)\b).)*)</\1>")
_BLOCK_TAG = re.compile(r"<(/?)(p|h[1-6]|li|ul|ol|pre)\b[^>]*>")
_LINK = re.compile(r"<a\b[^>]*>(.*?)</a>")
_INLINE_TAG = re.compile(r"<[^>]*>")
# Invisible characters that split words without being text: the soft hyphen (U+00AD, common in
# hyphenated German pages; a browser shows it only at a line break), zero-width space, word
# joiner and zero-width no-break space. Joiners that shape scripts (U+200C/U+200D) are kept.
INVISIBLE = re.compile("[\u00ad\u200b\u2060\ufeff]")

# A block "ends like a sentence" when its last character is one of these.
_SENTENCE_END = frozenset(".!?…:;\"”'’)»。！？")

# Paragraphs of at least this many words anchor the main text (see `block_features`).
LONG_PARAGRAPH_WORDS = 30
# Half-width of the neighbourhood averaged in the context features.
CONTEXT_RADIUS = 3


@dataclass(slots=True)
class Blocks:
    """Text blocks in page order: kind ("p", "h", "li", "pre", "div"), text, linked chars."""

    kinds: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    link_chars: list[int] = field(default_factory=list)
    _words: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.texts)

    def word_counts(self) -> np.ndarray:
        """Whitespace word count of each block (computed once; blocks are not edited after parsing)."""
        if self._words is None or len(self._words) != len(self.texts):
            self._words = np.fromiter((len(t.split()) for t in self.texts), dtype=np.int64, count=len(self))
        return self._words


def parse_blocks(minimal_html: str) -> Blocks:
    """Split resiliparse minimal-HTML output into blocks.

    A block is one line of the rendering (``<br>`` breaks a line too); its kind is the
    innermost open block tag (``div`` when none: text that sat in a bare container). Lines of a
    ``<pre>`` element stay one block, newlines kept. Most lines are a complete ``<p>``,
    ``<hN>`` or ``<li>`` element and take the one-regex fast path; only lines that open or
    close a block element walk the tag stack.
    """
    if INVISIBLE.search(minimal_html) is not None:
        minimal_html = INVISIBLE.sub("", minimal_html)
    out = Blocks()
    stack: list[str] = []
    pre_block = -1  # index of the <pre> block being filled, -1 when none

    def emit(kind: str, raw: str) -> None:
        nonlocal pre_block
        linked = 0
        if "<" in raw:
            if "<a" in raw:
                linked = sum(len(anchor) for anchor in _LINK.findall(raw))
            raw = _INLINE_TAG.sub("", raw)
        if "&" in raw:
            raw = html.unescape(raw)
        if kind == "pre":
            text = raw.rstrip()
            if pre_block >= 0:
                out.texts[pre_block] += "\n" + text
                out.link_chars[pre_block] += linked
                return
            if not text.strip():
                return
            pre_block = len(out.texts)
        else:
            text = raw.strip()
            if not text:
                return
        out.kinds.append(kind)
        out.texts.append(text)
        out.link_chars.append(min(linked, len(text)))

    for line in minimal_html.replace("<br>", "\n").split("\n"):
        if not line:
            continue
        in_pre = bool(stack) and stack[-1] == "pre"
        if not in_pre:
            whole = _BLOCK_LINE.fullmatch(line)
            if whole is not None:
                emit(_KIND_OF[whole.group(1)], whole.group(2))
                continue
        if "<" not in line or _BLOCK_TAG.search(line) is None:
            emit(stack[-1] if stack else "div", line)
            continue
        pos = 0
        for tag in _BLOCK_TAG.finditer(line):
            if tag.start() > pos:
                emit(stack[-1] if stack else "div", line[pos : tag.start()])
            pos = tag.end()
            name = tag.group(2)
            if name in ("ul", "ol"):
                continue
            kind = _KIND_OF[name]
            if tag.group(1):
                if kind in stack:
                    while stack.pop() != kind:
                        pass
                if kind == "pre":
                    pre_block = -1
            else:
                stack.append(kind)
                if kind == "pre":
                    pre_block = -1
        if pos < len(line):
            emit(stack[-1] if stack else "div", line[pos:])
    for i in range(len(out.texts)):
        if out.kinds[i] == "pre":
            out.texts[i] = out.texts[i].strip("\n")
            out.link_chars[i] = min(out.link_chars[i], len(out.texts[i]))
    return out


FEATURE_NAMES: tuple[str, ...] = (
    *(f"is_{k}" for k in KINDS),
    "log_words",
    "link_density",
    "ends_sentence",
    "position",
    "words_before",
    "words_after",
    "digit_ratio",
    "upper_ratio",
    "repeated",
    "cookie",
    "ctx_log_words",
    "ctx_p",
    "ctx_link_density",
    "ctx_ends_sentence",
    "long_before",
    "long_after",
    "log_short_run",
    "log_blocks",
)


def _window_means(columns: np.ndarray, radius: int) -> np.ndarray:
    """Mean of each column over rows i-radius..i+radius, the edge rows repeated past the ends."""
    padded = np.concatenate(
        [np.repeat(columns[:1], radius, axis=0), columns, np.repeat(columns[-1:], radius, axis=0)]
    )
    summed = np.cumsum(np.concatenate([np.zeros((1, columns.shape[1])), padded]), axis=0)
    width = 2 * radius + 1
    return (summed[width:] - summed[:-width]) / width


def _short_run_lengths(short: np.ndarray) -> np.ndarray:
    """For each block, the length of the run of consecutive short blocks it belongs to (0 if long)."""
    n = len(short)
    change = np.flatnonzero(np.diff(short.astype(np.int8))) + 1
    starts = np.concatenate(([0], change))
    lengths = np.diff(np.concatenate((starts, [n])))
    run = np.repeat(lengths, lengths)
    return np.where(short, run, 0)


def block_features(blocks: Blocks) -> np.ndarray:
    """The (n_blocks, len(FEATURE_NAMES)) float matrix the block model scores.

    Position features are measured in words, and against "long paragraphs" (``<p>`` with at
    least `LONG_PARAGRAPH_WORDS` words): boilerplate sits before the first and after the last
    of them far more often than between them (measured on the wceb gold pages).
    """
    n = len(blocks)
    if n == 0:
        return np.zeros((0, len(FEATURE_NAMES)))
    kinds = np.fromiter(map(_KIND_INDEX.__getitem__, blocks.kinds), dtype=np.int64, count=n)
    one_hot = (kinds[:, None] == np.arange(len(KINDS))[None, :]).astype(float)
    words = blocks.word_counts().astype(float)
    lengths = np.fromiter((len(t) for t in blocks.texts), dtype=np.int64, count=n)
    chars = np.maximum(lengths, 1).astype(float)

    # Character classes over the whole page at once (ASCII digits / capitals).
    codes = np.frombuffer("".join(blocks.texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    digits = np.add.reduceat(((codes >= 48) & (codes <= 57)).astype(np.int64), starts)
    uppers = np.add.reduceat(((codes >= 65) & (codes <= 90)).astype(np.int64), starts)
    ends_sentence = np.fromiter((t[-1] in _SENTENCE_END for t in blocks.texts), dtype=bool, count=n)

    counts = Counter(blocks.texts)
    repeated = np.fromiter((counts[t] > 1 for t in blocks.texts), dtype=bool, count=n)
    cookie = np.fromiter(("ookie" in t and "cookie" in t.lower() for t in blocks.texts), dtype=bool, count=n)

    log_words = np.log1p(words)
    link_density = np.asarray(blocks.link_chars, dtype=float) / chars
    total_words = max(words.sum(), 1.0)
    before = (np.cumsum(words) - words) / total_words
    after = 1.0 - before - words / total_words

    long_par = (words >= LONG_PARAGRAPH_WORDS) & (one_hot[:, 0] > 0)
    n_long = max(int(long_par.sum()), 1)
    long_cum = np.cumsum(long_par) - long_par
    long_before = long_cum / n_long
    long_after = (long_par.sum() - long_cum - long_par) / n_long

    short_run = _short_run_lengths(words <= 5)
    context = _window_means(
        np.column_stack([log_words, one_hot[:, 0], link_density, ends_sentence]), CONTEXT_RADIUS
    )
    return np.column_stack(
        [
            one_hot,
            log_words,
            link_density,
            ends_sentence,
            np.arange(n) / n,
            before,
            after,
            digits / chars,
            uppers / chars,
            repeated,
            cookie,
            context,
            long_before,
            long_after,
            np.log1p(short_run),
            np.full(n, np.log1p(n)),
        ]
    )
