"""C4's cleaning rules (Raffel et al. 2020, §2.2; TFDS ``c4_utils.py``) as DCLM runs them.

DCLM's ``c4.yaml`` chains: ``page_length_filter(char, max 190000)`` →
``word_length_modifier(1000)`` → ``citation_removal_modifier`` →
``punctuation_line_modifier(remove_ellipses)`` → ``line_length_modifier(min 5)`` →
``substring_filter("lorem ipsum")`` → ``substring_line_modifier("javascript")`` →
``substring_filter("{")`` → ``substring_line_modifier(policy phrases)`` →
``page_length_filter(sentence, min 3)`` → dedup → ``substring_filter(ldnoobw, exact_word)``
→ language filter. Line- and length-based steps shared with RefinedWeb live in
`gristmill.filters.lines` and `gristmill.filters.length`.
"""

from __future__ import annotations

import re
from itertools import compress
from typing import Literal

from gristmill.core.document import Document
from gristmill.core.ranges import Positive
from gristmill.core.step import Drop, Step, StepContext, register
from gristmill.filters.assets import read_lines, resolve_asset
from gristmill.filters.bases import finish_text
from gristmill.text.patterns import trie_pattern

_CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")
_TERMINAL = re.compile(r'[.!?"\u2026]\s*$')
_ELLIPSIS_END = re.compile(r"(?:\.\.\.|\u2026)\s*$")


@register("word_length_modifier")
class WordLengthModifier(Step):
    """Remove lines containing a whitespace token longer than ``max_length`` (1000) characters.

    Source: TFDS ``c4_utils`` (``_MAX_WORD_LENGTH = 1000``); DCLM ``word_length_modifier(
    max_length: 1000, model: split)``.
    """

    kind = "modifier"

    def __init__(self, *, max_length: Positive = 1000) -> None:
        ...

    def apply(self, doc: Document) -> Document | Drop:
        limit = self.config["max_length"]
        if len(doc.text) <= limit:
            return finish_text(doc, doc.text, "long_word_lines_empty")
        lines = doc.text.split("\n")
        keep = [len(line) <= limit or max(map(len, line.split()), default=0) <= limit for line in lines]
        text = doc.text if all(keep) else "\n".join(compress(lines, keep))
        return finish_text(doc, text, "long_word_lines_empty")


@register("citation_removal_modifier")
class CitationRemovalModifier(Step):
    """Remove Wikipedia-style citation marks: ``[12]``, ``[]``, ``[edit]``, ``[citation needed]``.

    Source: TFDS ``c4_utils`` citation regex; DCLM ``citation_removal_modifier``.
    """

    kind = "modifier"

    def __init__(self) -> None:
        ...

    def apply(self, doc: Document) -> Document | Drop:
        if "[" not in doc.text:
            return finish_text(doc, doc.text, "citation_removal_empty")
        return finish_text(doc, _CITATION.sub("", doc.text), "citation_removal_empty")


@register("punctuation_line_modifier")
class PunctuationLineModifier(Step):
    """Keep only lines ending in terminal punctuation (``. ! ? " …``, then optional spaces).

    Source: C4 §2.2 ("we only retained lines that ended in a terminal punctuation mark");
    DCLM ``punctuation_line_modifier(remove_ellipses: True)``, where lines ending in an
    ellipsis are removed too, as in TFDS. Empty lines are kept.
    """

    kind = "modifier"

    def __init__(self, *, remove_ellipses: bool = True) -> None:
        ...

    def apply(self, doc: Document) -> Document | Drop:
        lines = doc.text.split("\n")
        remove_ellipses = self.config["remove_ellipses"]
        kept = [
            line for line in lines
            if (not line or _TERMINAL.search(line))
            and not (remove_ellipses and _ELLIPSIS_END.search(line))
        ]
        return finish_text(doc, "\n".join(kept), "punctuation_lines_empty")


@register("substring_filter")
class SubstringFilter(Step):
    """Drop documents containing any banned string (anywhere, as a prefix or as a suffix).

    Sources: C4 §2.2 (``lorem ipsum``, ``{``, the LDNOOBW bad-words list as whole words); DCLM
    ``substring_filter`` (case-insensitive; ``exact_word`` wraps the list in ``\\b...\\b``).
    Strings come inline (``banlist``) and/or from a word-list file (``banlist_file``).

    DCLM quirk (``dclm_compat: true`` reproduces it): the strings are joined as regex source
    without escaping. By default they are matched literally.
    """

    kind = "filter"

    def __init__(
        self,
        *,
        banlist: str | list[str] | None = None,
        banlist_file: str | None = None,
        location: Literal["any", "prefix", "suffix"] = "any",
        exact_word: bool = False,
        case_sensitive: bool = False,
        dclm_compat: bool = False,
        reason: str = "banned_substring",
    ) -> None:
        if banlist is None and banlist_file is None:
            raise ValueError("give banlist (strings) or banlist_file (a word-list file)")
        self._pattern: re.Pattern[str] | None = None
        self._literal: str | None = None

    def setup(self, context: StepContext) -> None:
        super().setup(context)
        cfg = self.config
        banlist = cfg["banlist"]
        words = [banlist] if isinstance(banlist, str) else list(banlist or [])
        if cfg["banlist_file"] is not None:
            words += read_lines(resolve_asset(cfg["banlist_file"], context))
        if not cfg["case_sensitive"]:
            words = [w.lower() for w in words]
        if len(words) == 1 and cfg["location"] == "any" and not cfg["exact_word"]:
            self._literal = words[0]  # a plain substring test (C4's "lorem ipsum", "{")
            return
        body = f"(?:{'|'.join(words)})" if cfg["dclm_compat"] else trie_pattern(words)
        if cfg["exact_word"]:
            body = rf"\b{body}\b"
        if cfg["location"] == "prefix":
            body = f"^{body}"
        elif cfg["location"] == "suffix":
            body = f"{body}$"
        self._pattern = re.compile(body)

    def apply(self, doc: Document) -> Document | Drop:
        text = doc.text if self.config["case_sensitive"] else doc.text.lower()
        if self._literal is not None:
            found = self._literal in text
        else:
            assert self._pattern is not None
            found = self._pattern.search(text) is not None
        return Drop(self.config["reason"]) if found else doc


@register("within_page_dedup")
class WithinPageDedup(Step):
    """Keep only the first occurrence of each repeated line (or paragraph) of a document.

    Source: DCLM ``within_page_dedup(granularity: line, normalize: True)`` in ``c4.yaml``
    (units compared stripped and lowercased; empty units always kept).
    """

    kind = "modifier"

    def __init__(self, *, granularity: Literal["line", "paragraph"] = "line", normalize: bool = True) -> None:
        ...

    def apply(self, doc: Document) -> Document | Drop:
        sep = "\n" if self.config["granularity"] == "line" else "\n\n"
        seen: set[str] = set()
        kept = []
        for unit in doc.text.split(sep):
            key = unit.strip().lower() if self.config["normalize"] else unit
            if not key or key not in seen:
                kept.append(unit)
                seen.add(key)
        doc.text = sep.join(kept)
        return doc
