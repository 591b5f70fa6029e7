"""Outgoing links kept by the extractor, and host PageRank over the real pages' link graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from gristmill.core.errors import InputError
from gristmill.engine.pipeline import Pipeline
from gristmill.extract.links import page_links
from gristmill.io.attributes import attribute_path, read_attribute
from gristmill.io.readers import read_documents
from gristmill.quality.pagerank import host_of, pagerank

PAGES = "commoncrawl/crawl-data/PAGES-2026/segments/sample/warc"


def test_page_links_resolves_dedupes_and_skips_non_web_targets():
    html = (b'<html><head><base href="/docs/"></head><body>'
            b'<a href="intro.html#top">a</a> <A HREF=https://Other.org/x?a=1&amp;b=2>b</A>'
            b'<a href="mailto:x@y.z">c</a><a href="javascript:void(0)">d</a><a href="#s">e</a>'
            b'<a href="intro.html">again</a><a href="ftp://f.org/">f</a><a href="http://[::1">bad</a>'
            b'<a data-href="/no">no href</a><a class=x href=\'/single\'>g</a></body></html>')
    assert page_links(html, "http://site.org/a/b.html") == [
        "http://site.org/docs/intro.html", "https://Other.org/x?a=1&b=2", "http://site.org/single"]
    assert page_links(html, "http://site.org/", limit=1) == ["http://site.org/docs/intro.html"]


def test_pagerank_solves_the_pagerank_equations():
    """Power iteration = the solution of r = d (M r + dangling mass / n) + (1 - d) / n,
    solved directly, on a random graph with dangling nodes."""
    rng = np.random.default_rng(5)
    n = 30
    src, dst = rng.integers(0, 20, 120), rng.integers(0, n, 120)  # nodes 20..29 link nowhere
    keep = src != dst
    pairs = np.unique(np.stack([src[keep], dst[keep]], 1), axis=0)
    rank, _ = pagerank(pairs[:, 0], pairs[:, 1], n, 0.85, 1e-14, 1000)
    out = np.bincount(pairs[:, 0], minlength=n)
    m = np.zeros((n, n))
    for s, t in pairs:
        m[t, s] = 1.0 / out[s]
    m[:, out == 0] = 1.0 / n  # a dangling node links to every node
    direct = np.linalg.solve(np.eye(n) - 0.85 * m, np.full(n, 0.15 / n))
    assert np.allclose(rank, direct, atol=1e-12) and rank.sum() == pytest.approx(1.0)


@pytest.fixture(scope="module")
def ranked(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("pagerank") / "run"
    warc = sorted((shared_data / PAGES).glob("*.warc.gz"))[0]
    Pipeline.from_steps([{"extract_text": {"backend": "resiliparse", "keep_links": True}},
                         {"pagerank_score": {}}]).run([str(warc)], out, workers=1)
    shard = next((out / "documents").glob("*.jsonl.zst"))
    return out, shard, list(read_documents(str(shard)))


def test_host_pagerank_of_real_pages_follows_their_links(ranked):
    out, shard, docs = ranked
    assert len(docs) > 90 and all(isinstance(d.metadata["links"], list) for d in docs)
    assert sum(len(d.metadata["links"]) for d in docs) > 1000
    scores = {d.id: d.metadata["host_pagerank"] for d in docs}
    rows = list(read_attribute(attribute_path(out, "host_pagerank", shard.name.removesuffix(".jsonl.zst")),
                               "host_pagerank"))
    assert rows == list(scores.items())
    by_host: dict[str, set] = {}
    for d in docs:
        by_host.setdefault(host_of(d.url), set()).add(scores[d.id])
    assert all(len(v) == 1 for v in by_host.values())
    # A host no other host links to receives only the teleport and dangling shares: the
    # lowest score, the same for all such hosts; a linked-to host scores above it.
    linked = {host_of(u) for d in docs for u in d.metadata["links"]} - {""}
    linked_from_elsewhere = {h for d in docs for h in {host_of(u) for u in d.metadata["links"]}
                             if h != host_of(d.url)} & linked
    unlinked = {s for d in docs if host_of(d.url) not in linked_from_elsewhere for s in [scores[d.id]]}
    assert len(unlinked) == 1 and min(scores.values()) == next(iter(unlinked))
    assert all(scores[d.id] > min(scores.values()) for d in docs if host_of(d.url) in linked_from_elsewhere)
    info = orjson.loads((out / "stats.json").read_bytes())["steps"][-1]["info"]
    assert info["hosts"] > info["crawled_hosts"] > 90 and info["documents_without_links"] == 0


def test_pagerank_without_links_says_how_to_get_them(tmp_path: Path):
    src = tmp_path / "d.jsonl"
    src.write_text('{"id": "a", "text": "x", "url": "http://a.org/"}\n')
    with pytest.raises(InputError, match="keep_links: true"):
        Pipeline.from_steps([{"pagerank_score": {}}]).run([str(src)], tmp_path / "out")
