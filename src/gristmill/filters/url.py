"""URL filters of RefinedWeb (Penedo et al. 2023, §G.1) as reproduced by DCLM.

DCLM's ``dclm_baseline_refinedweb.yaml`` runs ``url_substring_filter`` four times
(``baselines/mappers/filters/metadata_filters.py``):

1. an exact-domain blocklist (RefinedWeb: 4.6M domains from the UT1 blacklists);
2. the *strict* word list, matched as substrings of the lowercased URL after deleting ``-``
   and ``.``; one hit drops the page;
3. the *hard* word list, matched between regex word boundaries; one hit drops the page;
4. the *soft* word list, matched between word boundaries; two **distinct** words drop it.

`url_word_filter` implements 2-4 (with the same trie-shaped regex and ``findall`` counting as
DCLM's ``retrie`` patterns) and `url_domain_filter` implements 1.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import xxhash

from gristmill.core.document import Document
from gristmill.core.errors import GristmillError
from gristmill.core.ranges import Positive
from gristmill.core.step import Drop, Step, StepContext, register
from gristmill.filters.assets import read_lines, read_tar_member, resolve_asset
from gristmill.text.patterns import trie_pattern


def _hash_domains(domains: list[bytes]) -> np.ndarray:
    """Sorted unique xxh3-64 hashes (seed 0) of domain names."""
    # map() over the C hash function: no Python frame per domain (4.5M for UT1).
    hashes = np.fromiter(map(xxhash.xxh3_64_intdigest, domains), dtype=np.uint64, count=len(domains))
    hashes.sort()  # (np.unique is much slower than sort + mask on millions of uint64)
    return hashes[np.concatenate(([True], hashes[1:] != hashes[:-1]))] if hashes.size else hashes


class DomainSet:
    """A set of millions of domain names held as sorted 64-bit hashes (8 bytes per domain).

    UT1's 4.5M domains would take ~400 MB as a Python set in every worker; as hashes they take
    36 MB and a lookup is one binary search. Two distinct domains share a hash with probability
    ~n/2^64 per lookup (about 2.5e-13 for UT1), far below any other source of error.
    """

    def __init__(self, domains: list[bytes]) -> None:
        """``domains``: lowercase names, one per item (empty items are ignored)."""
        self._hashes = _hash_domains([d for d in domains if d])

    def __len__(self) -> int:
        return int(self._hashes.size)

    def __contains__(self, domain: str) -> bool:
        h = np.uint64(xxhash.xxh3_64_intdigest(domain.encode("utf-8", "surrogatepass")))
        i = int(np.searchsorted(self._hashes, h))
        return i < self._hashes.size and self._hashes[i] == h


@functools.lru_cache(maxsize=4)
def _domain_file(path: Path, member: str, mtime_ns: int) -> DomainSet:
    """The `DomainSet` of a list file, loaded once per process (steps of several recipes or
    tests in one worker share it; ``mtime_ns`` invalidates it when the file changes)."""
    return DomainSet(_load_domains(path, member))


def _load_domains(path: Path, member: str) -> list[bytes]:
    """Lowercased domain names of a list file or tar member, one per line."""
    if path.name.endswith((".tar.gz", ".tgz", ".tar")):
        data = read_tar_member(path, member)
    else:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise GristmillError(f"cannot read domain list {path}: {exc}") from exc
    return data.lower().replace(b"\r", b"").split(b"\n")


@register("url_domain_filter")
class UrlDomainFilter(Step):
    """Drop documents whose URL host is on a domain blocklist.

    Source: RefinedWeb §G.1 (UT1-derived blocklist of 4.6M domains); DCLM step 2 of
    ``dclm_baseline_refinedweb.yaml`` (``url_substring_filter(exact_domain_match=True,
    ignore_chars=['www'])``). Matching is exact on the host (lowercased, port and user info
    removed, a leading ``www.`` label removed); ``match_parent_domains`` also drops hosts whose
    parent domain is listed (``a.b.example.com`` when ``example.com`` is).

    DCLM quirk (``dclm_compat: true`` reproduces it): DCLM deletes the string ``"www"``
    anywhere in the lowercased ``netloc`` (port included), so ``www.example.com`` is looked up
    as ``.example.com`` and ``awwwards.com`` as ``aards.com``.

    Config:
        banlist_file: a text file of domains (one per line) or a tar archive with a ``member`` file
            (UT1's ``domains``), or None to use only ``domains``.
        domains: extra domains given inline (RefinedWeb's exclusion of high-quality sources).
    """

    kind = "filter"

    def __init__(
        self,
        *,
        banlist_file: str | None = None,
        member: str = "domains",
        domains: list[str] | None = None,
        match_parent_domains: bool = False,
        dclm_compat: bool = False,
        reason: str = "url_domain",
    ) -> None:
        if banlist_file is None and not domains:
            raise ValueError("give banlist_file or inline domains")
        self._domains: DomainSet | None = None
        self._extra: DomainSet | None = None

    def setup(self, context: StepContext) -> None:
        super().setup(context)
        self._domains = None
        self._extra = DomainSet([d.strip().lower().encode("utf-8") for d in self.config["domains"] or []])
        if self.config["banlist_file"] is not None:
            path = resolve_asset(self.config["banlist_file"], context).resolve()
            self._domains = _domain_file(path, self.config["member"], path.stat().st_mtime_ns)

    def host(self, url: str) -> str:
        """The host name looked up for ``url``."""
        try:
            if self.config["dclm_compat"]:
                return urlsplit(url).netloc.lower().replace("www", "")
            host = urlsplit(url).hostname or ""
        except ValueError:  # an unparsable URL (e.g. a broken IPv6 literal) has no host to block
            return ""
        return host[4:] if host.startswith("www.") else host

    def blocked(self, host: str) -> bool:
        """Whether ``host`` is listed (in the file or inline)."""
        assert self._extra is not None
        return host in self._extra or (self._domains is not None and host in self._domains)

    def apply(self, doc: Document) -> Document | Drop:
        host = self.host(doc.url)
        if not host:
            return doc
        if self.blocked(host):
            return Drop(self.config["reason"])
        if self.config["match_parent_domains"] and not self.config["dclm_compat"]:
            labels = host.split(".")
            for i in range(1, len(labels) - 1):
                if self.blocked(".".join(labels[i:])):
                    return Drop(self.config["reason"])
        return doc


@register("url_word_filter")
class UrlWordFilter(Step):
    """Drop documents whose URL contains banned words (RefinedWeb's URL word lists).

    Source: RefinedWeb §G.1; DCLM steps 3-5 of ``dclm_baseline_refinedweb.yaml``:

    * strict list: ``ignore_chars: ['-', '.']``, ``match_substrings: true``, 1 match drops;
    * hard list: ``match_substrings: false`` (``\\b`` word boundaries), 1 match drops;
    * soft list: ``match_substrings: false``, ``min_matches: 2`` distinct words drop.

    The URL is lowercased (unless ``case_sensitive``), the ``ignore_chars`` are deleted, and
    the distinct matches of a trie regex (``re.IGNORECASE``, as DCLM's ``retrie`` pattern) are
    counted.
    """

    kind = "filter"

    def __init__(
        self,
        *,
        banlist_file: str | None = None,
        banlist: list[str] | None = None,
        match_substrings: bool = True,
        ignore_chars: list[str] | None = None,
        min_matches: Positive = 1,
        case_sensitive: bool = False,
        reason: str = "url_banned_word",
    ) -> None:
        if banlist_file is None and not banlist:
            raise ValueError("give banlist_file (a word-list file) or banlist (words)")
        self._pattern: re.Pattern[str] | None = None

    def setup(self, context: StepContext) -> None:
        super().setup(context)
        words = list(self.config["banlist"] or [])
        if self.config["banlist_file"] is not None:
            words += read_lines(resolve_asset(self.config["banlist_file"], context))
        if not self.config["case_sensitive"]:
            words = [w.lower() for w in words]
        body = trie_pattern(words)
        if not self.config["match_substrings"]:
            body = rf"\b{body}\b"
        self._pattern = re.compile(body, 0 if self.config["case_sensitive"] else re.IGNORECASE)

    def matches(self, url: str) -> set[str]:
        """The distinct banned words found in ``url``."""
        assert self._pattern is not None
        if not self.config["case_sensitive"]:
            url = url.lower()
        for ch in self.config["ignore_chars"] or ():
            url = url.replace(ch, "")
        return set(self._pattern.findall(url))

    def apply(self, doc: Document) -> Document | Drop:
        if len(self.matches(doc.url)) >= self.config["min_matches"]:
            return Drop(self.config["reason"])
        return doc
