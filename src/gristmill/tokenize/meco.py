"""MeCo metadata conditioning (Gao et al. 2025, "Metadata Conditioning Accelerates Language
Model Pre-training", arXiv 2501.01956; reference/training.md §1).

Each training document is preceded by ``"URL: " + <metadata> + "\\n\\n"``, tokenized on its own
so the token boundary always falls right after the blank line (MeCo datatools/mds_pack_data.py).
The metadata tokens are masked out of the loss; the first document token, predicted *from* the
metadata, is not. The last 10% of training tokens (the "cooldown") carry no metadata, so the model
also works without it; `cooldown_document` decides, by a stable hash of the document id, which
documents form that separate, never-seen cooldown pool (MeCo used a separate 89B-token pool).

Metadata modes (MeCo's ablation switches):
  none     no prefix (the baseline)
  host     MeCo's default "short URL": ``re.sub(r'https?://', '', url).split('/')[0]``
           (``www.`` and other subdomains kept, no lowercasing)
  url      the full URL, scheme included (MeCo without ``--use_short_url``)
  domain   the registered domain, e.g. ``wikipedia.org`` (MeCo ``--use_url_domain``, tldextract;
           here the public-suffix list bundled with the `tld` package, which gristmill depends
           on for these two modes only)
  suffix   the public suffix only, e.g. ``org`` or ``co.uk`` (MeCo ``--use_url_suffix``)
  hash     a stable 64-bit xxhash of the host: groups documents by source without URL semantics
           (MeCo's hashed-URL ablation; "hashed URLs work as well as real ones")
  fixed    the same string for every document (controls for the extra tokens/format)
  topic    a string from the document's metadata (``metadata[topic_field]``, e.g. model topics)
Documents without a URL (or topic) get ``unknown``, as MeCo's URL filtering maps unknown domains.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import xxhash

MECO_MODES = ("none", "host", "url", "domain", "suffix", "hash", "fixed", "topic")
UNKNOWN = "unknown"
# MeCo README packing flags: --add_metadata_prefix "URL: " --add_metadata_suffix "\n\n".
MECO_PREFIX = "URL: "
MECO_SUFFIX = "\n\n"
# MeCo conditions on metadata for the first 90% of training and cools down for the last 10%.
MECO_COOLDOWN_FRACTION = 0.1
COOLDOWN_POOLS = ("hash", "inputs")
_SCHEME = re.compile(r"https?://")


def url_host(url: str) -> str:
    """MeCo's short URL: scheme removed, everything from the first ``/`` dropped."""
    return _SCHEME.sub("", url).split("/")[0]


def _site(url: str) -> str:
    """``scheme://netloc`` of a URL (``http://`` assumed when it has none): all that the
    public-suffix lookup reads, so its results can be cached per site."""
    scheme, _, rest = url.partition("://") if "://" in url else ("http", "", url)
    return f"{scheme}://{re.split(r'[/?#]', rest, maxsplit=1)[0]}"


# The public-suffix lookups use the list bundled with the `tld` package (a gristmill dependency,
# used only here). ~10 µs a lookup, so results are cached per site: web corpora repeat hosts.
@functools.lru_cache(maxsize=1 << 16)
def _first_level_domain(site: str) -> str | None:
    from tld import get_fld

    return get_fld(site, fail_silently=True)


@functools.lru_cache(maxsize=1 << 16)
def _suffix(site: str) -> str | None:
    from tld import get_tld

    return get_tld(site, fail_silently=True)


def registered_domain(url: str) -> str:
    """``domain.suffix`` by the public-suffix list; the host when the list does not apply (IPs)."""
    return _first_level_domain(_site(url)) or url_host(url)


def public_suffix(url: str) -> str:
    """The public suffix (``org``, ``co.uk``); the last host label when the list does not apply."""
    return _suffix(_site(url)) or url_host(url).rsplit(".", 1)[-1]


@dataclass(frozen=True)
class MecoConfig:
    """How documents are prefixed with metadata.

    Attributes:
        mode: one of `MECO_MODES`.
        fixed_value: the string used by mode ``fixed``.
        topic_field: the metadata key read by mode ``topic``.
        cooldown_fraction: share of training tokens the trainer spends on the metadata-free
            cooldown (MeCo: 10%); with ``cooldown_pool="hash"`` also the share of documents
            held out (by id hash) to form that pool.
        cooldown_pool: ``"hash"`` (cooldown documents drawn from the inputs by id hash) or
            ``"inputs"`` (a separate pool of files, never seen in the main phase, as MeCo's
            89B-token cooldown set).
        prefix, suffix: the template around the metadata (MeCo: ``"URL: "`` and a blank line).
    """

    mode: str = "none"
    fixed_value: str = "example.com"
    topic_field: str = "topic"
    cooldown_fraction: float = MECO_COOLDOWN_FRACTION
    cooldown_pool: str = "hash"
    prefix: str = MECO_PREFIX
    suffix: str = MECO_SUFFIX

    def __post_init__(self) -> None:
        if self.mode not in MECO_MODES:
            raise ValueError(f"unknown MeCo mode {self.mode!r} (choose {', '.join(MECO_MODES)})")
        if not 0.0 <= self.cooldown_fraction < 1.0:
            raise ValueError(f"cooldown fraction must be in [0, 1), got {self.cooldown_fraction}")
        if self.cooldown_pool not in COOLDOWN_POOLS:
            raise ValueError(f"unknown cooldown pool {self.cooldown_pool!r} (choose {', '.join(COOLDOWN_POOLS)})")

    @property
    def enabled(self) -> bool:
        return self.mode != "none"

    @property
    def splits_cooldown(self) -> bool:
        """Whether the cooldown pool is drawn from the main inputs by id hash."""
        return self.enabled and self.cooldown_pool == "hash" and self.cooldown_fraction > 0

    def value(self, url: str, metadata: dict[str, Any]) -> str:
        """The metadata string of one document under this mode ("" for mode none)."""
        mode = self.mode
        if mode == "none":
            return ""
        if mode == "fixed":
            return self.fixed_value
        if mode == "topic":
            topic = metadata.get(self.topic_field)
            return str(topic) if topic not in (None, "") else UNKNOWN
        if not url:
            return UNKNOWN
        if mode == "host":
            return url_host(url) or UNKNOWN
        if mode == "url":
            return url
        if mode == "domain":
            return registered_domain(url) or UNKNOWN
        if mode == "suffix":
            return public_suffix(url) or UNKNOWN
        # mode == "hash"
        return xxhash.xxh64_hexdigest(url_host(url).encode("utf-8"), seed=0)

    def prefix_text(self, url: str, metadata: dict[str, Any]) -> str:
        """The full prefix placed before a document, e.g. ``"URL: en.wikipedia.org\\n\\n"``."""
        if not self.enabled:
            return ""
        return f"{self.prefix}{self.value(url, metadata)}{self.suffix}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "fixed_value": self.fixed_value,
            "topic_field": self.topic_field,
            "cooldown_fraction": self.cooldown_fraction,
            "cooldown_pool": self.cooldown_pool,
            "prefix": self.prefix,
            "suffix": self.suffix,
        }


def cooldown_document(doc_id: str, fraction: float, seed: int) -> bool:
    """Whether a document belongs to the metadata-free cooldown pool.

    A stable hash of the id (xxhash64 with the run seed), so the split does not depend on file
    order, worker count or executor.
    """
    if fraction <= 0.0:
        return False
    return xxhash.xxh64_intdigest(doc_id.encode("utf-8"), seed=seed) < fraction * 2.0**64
