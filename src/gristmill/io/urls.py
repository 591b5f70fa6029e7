"""Small URL helpers used per record on the read path (string slicing, no regex, no parse)."""

from __future__ import annotations


def clean_target_uri(uri: str | None) -> str:
    """A WARC-Target-URI without surrounding spaces and ``<...>`` (wget writes WARC/1.0 URIs
    in angle brackets, as the WARC/1.1 grammar has them); "" when absent."""
    if not uri:
        return ""
    uri = uri.strip()
    if uri.startswith("<") and uri.endswith(">"):
        uri = uri[1:-1].strip()
    return uri


def url_host(url: str) -> str:
    """The lowercase host of an absolute URL, without userinfo, port or IPv6 brackets.

    Agrees with ``urllib.parse.urlsplit(url).hostname`` on well-formed URLs at a fraction of
    its cost; "" when the URL has no ``scheme://`` authority.
    """
    start = url.find("://")
    if start < 0:
        return ""
    rest = url[start + 3 :]
    end = len(rest)
    for sep in "/?#":
        i = rest.find(sep, 0, end)
        if i >= 0:
            end = i
    netloc = rest[:end].rpartition("@")[2]
    if netloc.startswith("["):
        close = netloc.find("]")
        return (netloc[1:close] if close > 0 else netloc[1:]).lower()
    return netloc.partition(":")[0].lower()
