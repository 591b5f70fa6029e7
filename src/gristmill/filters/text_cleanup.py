"""Text clean-up modifiers of DCLM's RefinedWeb chain: URL/IP removal and newline collapse.

Both come from ``baselines/mappers/modifiers.py`` (steps 6 and 7 of
``dclm_baseline_refinedweb.yaml``).
"""

from __future__ import annotations

import re

from gristmill.core.document import Document
from gristmill.core.ranges import Positive
from gristmill.core.step import Drop, Step, StepContext, register
from gristmill.filters.assets import read_lines, resolve_asset
from gristmill.filters.bases import finish_text
from gristmill.text.patterns import trie_pattern

# DCLM's IPv4-like pattern, verbatim semantics (also eats up to 10 whitespace characters before).
_IPV4 = re.compile(
    r"\s{0,10}\b((https?|ftp)://)?(?:[0-2]?[0-9]{1,2}\.){3}[0-2]?[0-9]{1,2}[-a-zA-Z0-9()@:%_\+.~#?&//=]*"
)
# Necessary conditions, searched first so that the big patterns only run where they can match
# (every TLD starts with a letter; an IPv4-like string has a digit, a dot and a digit).
_URL_HINT = re.compile(r"[-a-zA-Z0-9@:%._\+~#=]\.[^\W\d_]")
_IPV4_HINT = re.compile(r"[0-9]\.[0-9]")


@register("url_removal_modifier")
class UrlRemovalModifier(Step):
    """Remove URLs (host ending in a known TLD) and IPv4-like strings from the text.

    Source: DCLM ``url_removal_modifier`` (RefinedWeb reproduction step 6). The URL pattern is
    ``\\s{0,10}((https?|ftp)://)?[-a-zA-Z0-9@:%._+~#=]{1,256}\\.(TLD)\\b([-a-zA-Z0-9()@:%_+.~#?&//=]*)``
    with the IANA TLDs (lowercase, case-sensitive as in DCLM); IPv4-like strings are always
    removed. A document left empty is dropped.

    DCLM quirk (``dclm_compat: true`` reproduces it): the URL pattern is applied only when
    ``re.match`` finds a TLD (case-insensitively) at the very *start* of the document, which
    makes URL removal depend on the first letters of the page. By default URLs are removed
    wherever they are. (DCLM also escapes the TLDs twice, which only changes TLDs containing
    ``-``; the IANA list it ships has none.)
    """

    kind = "modifier"

    def __init__(
        self, *, tlds: str = "${assets}/iana_tlds.txt", dclm_compat: bool = False,
        reason: str = "url_removal_empty",
    ) -> None:
        self._url: re.Pattern[str] | None = None
        self._gate: re.Pattern[str] | None = None

    def setup(self, context: StepContext) -> None:
        super().setup(context)
        tlds = read_lines(resolve_asset(self.config["tlds"], context))
        trie = trie_pattern(tlds)
        self._gate = re.compile(trie, re.IGNORECASE)
        self._url = re.compile(
            rf"\s{{0,10}}(?:((https?|ftp)://))?[-a-zA-Z0-9@:%._\+~#=]{{1,256}}\.({trie})\b"
            r"([-a-zA-Z0-9()@:%_\+.~#?&//=]*)"
        )

    def clean(self, text: str) -> str:
        """``text`` without its URLs and IPv4-like strings."""
        assert self._url is not None and self._gate is not None
        gate = self._gate.match(text) if self.config["dclm_compat"] else _URL_HINT.search(text)
        if gate:
            text = self._url.sub("", text)
        if _IPV4_HINT.search(text):
            text = _IPV4.sub("", text)
        return text

    def apply(self, doc: Document) -> Document | Drop:
        return finish_text(doc, self.clean(doc.text), self.config["reason"])


@register("newline_removal_modifier")
class NewlineRemovalModifier(Step):
    """Collapse runs of more than ``max_consecutive`` newlines to exactly that many.

    Source: DCLM ``newline_removal_modifier(max_consecutive=2)`` (RefinedWeb reproduction
    step 7): ``\\n{3,}`` becomes ``\\n\\n``.
    """

    kind = "modifier"

    def __init__(self, *, max_consecutive: Positive = 2) -> None:
        self._pattern = re.compile(f"\n{{{max_consecutive + 1},}}")
        self._replacement = "\n" * max_consecutive

    def apply(self, doc: Document) -> Document | Drop:
        if "\n" * (self.config["max_consecutive"] + 1) in doc.text:
            doc.text = self._pattern.sub(self._replacement, doc.text)
        return doc
