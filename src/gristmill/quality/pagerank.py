"""``pagerank_score``: PageRank of each document's host in the host link graph of the corpus.

DCLM Table 4 ranks documents by PageRank ("top-20% PageRank", CORE 26.1 vs 27.5 for the
RefinedWeb reproduction). The graph here is Common Crawl's host-level one: a node per host
(lowercased, a leading ``www.`` removed), an edge A -> B when some page of A links to some page
of B (links from ``extract_text`` with ``keep_links: true``; counted once, self-links
ignored). Hosts that are only linked to are nodes too: they pass on no rank, their mass is
spread evenly like every other dangling node's (Page et al. 1999; damping 0.85).

Phases (`gristmill.dedup.job.DedupJob` frame, resumable, the same on every executor):

1. ``graph`` (per shard): each document's host hash and the shard's distinct host edges
   (64-bit xxh3 hashes: 16 bytes per edge).
2. driver: distinct edges of the corpus, power iteration until the L1 change is below
   ``tolerance`` (or ``max_iterations``); memory: 16 bytes per edge and 24 per host.
3. ``write`` (per shard): ``metadata[key]`` = the host's PageRank x the number of hosts (1.0 is
   an average host), also stored as an attribute side file. No document is dropped: keep the
   best with ``top_fraction`` (DCLM kept 20%).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import orjson

from gristmill.core.errors import InputError
from gristmill.core.hashing import hash_strings
from gristmill.core.stats import StepStats
from gristmill.core.step import GlobalStep, GlobalTask, register
from gristmill.dedup.job import DedupJob
from gristmill.dedup.scratch import ReadCounts, ShardRef, load_arrays, read_batches, save_arrays
from gristmill.io.atomic import write_atomic


def host_of(url: str) -> str:
    """The graph node of a URL: its lowercased host without a leading ``www.`` ("" if none)."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host[4:] if host.startswith("www.") else host


@dataclass(frozen=True)
class GraphTask:
    shard: ShardRef
    out: str
    hosts: str


def shard_graph(task: GraphTask) -> dict[str, Any]:
    counts = ReadCounts()
    doc_hosts: list[str] = []
    src: list[str] = []
    dst: list[str] = []
    without = 0
    for batch in read_batches(task.shard, counts):
        for doc in batch:
            host = host_of(doc.url or "")
            doc_hosts.append(host)
            links = doc.metadata.get("links")
            if not isinstance(links, list):
                without += 1
                continue
            for target in {host_of(u) for u in links if isinstance(u, str)} - {host, ""}:
                src.append(host)
                dst.append(target)
    edges = np.unique(np.stack([hash_strings(src), hash_strings(dst)], axis=1), axis=0) if src \
        else np.zeros((0, 2), np.uint64)
    save_arrays(Path(task.out), doc_host=hash_strings(doc_hosts), edges=edges)
    write_atomic(Path(task.hosts), orjson.dumps(sorted(set(doc_hosts))))
    return {"documents": len(doc_hosts), "without_links": without, "errors": counts.errors}


def pagerank(src: np.ndarray, dst: np.ndarray, n: int, damping: float = 0.85,
             tolerance: float = 1e-10, max_iterations: int = 200) -> tuple[np.ndarray, int]:
    """PageRank of ``n`` nodes over edges ``src[i] -> dst[i]`` (node indexes), summing to 1;
    dangling nodes link to every node. Returns the ranks and the iterations run."""
    if n == 0:
        return np.zeros(0), 0
    out_degree = np.bincount(src, minlength=n).astype(np.float64)
    dangling = out_degree == 0
    rank = np.full(n, 1.0 / n)
    share = np.zeros(n)
    for it in range(1, max_iterations + 1):
        np.divide(rank, out_degree, out=share, where=~dangling)
        share[dangling] = 0.0
        new = np.bincount(dst, weights=share[src], minlength=n)
        new = damping * (new + rank[dangling].sum() / n) + (1.0 - damping) / n
        delta = float(np.abs(new - rank).sum())
        rank = new
        if delta < tolerance:
            return rank, it
    return rank, max_iterations


@register("pagerank_score")
class PageRankScore(GlobalStep):
    """Store each document's host PageRank in ``metadata[key]`` (module docstring).

    Args:
        key: metadata key (and attribute name) of the score.
        damping: PageRank damping factor (0.85, Page et al. 1999).
        tolerance, max_iterations: power iteration stops at an L1 change below ``tolerance``.
    """

    def __init__(self, *, key: str = "host_pagerank", damping: float = 0.85, tolerance: float = 1e-10,
                 max_iterations: int = 200) -> None:
        if not 0.0 < damping < 1.0:
            raise ValueError(f"damping must be in (0, 1), got {damping}")

    def attribute_keys(self) -> tuple[str, ...]:
        return (self.config["key"],)

    def run(self, task: GlobalTask) -> dict[str, StepStats]:
        cfg = self.config
        job = DedupJob.open(self.name, "none", task, dict(cfg))
        files = [str(job.root / "graph" / f"{s.index:05d}.npz") for s in job.shards]
        hosts = [str(job.root / "graph" / f"{s.index:05d}.hosts.json") for s in job.shards]
        counts = job.shard_phase("graph", shard_graph, [
            GraphTask(s, f, h) for s, f, h in zip(job.shards, files, hosts, strict=True)])
        documents = sum(c["documents"] for c in counts)
        if documents and sum(c["without_links"] for c in counts) == documents:
            raise InputError("pagerank_score: no document has metadata['links']; extract the "
                             "pages with extract_text keep_links: true")
        with job.timed():
            arrays = [load_arrays(Path(f)) for f in files]
            edges = np.unique(np.concatenate([a["edges"] for a in arrays]), axis=0) \
                if arrays else np.zeros((0, 2), np.uint64)
            doc_hosts = np.concatenate([a["doc_host"] for a in arrays]) if arrays else np.empty(0, np.uint64)
            nodes, inverse = np.unique(np.concatenate([edges.ravel(), doc_hosts]), return_inverse=True)
            pairs = inverse[: edges.size].reshape(-1, 2)
            rank, iterations = pagerank(pairs[:, 0], pairs[:, 1], len(nodes), cfg["damping"],
                                        cfg["tolerance"], cfg["max_iterations"])
            score = rank * len(nodes)
            decisions = job.root / "decisions"
            for s, a in zip(job.shards, arrays, strict=True):
                values = score[np.searchsorted(nodes, a["doc_host"])]
                save_arrays(decisions / f"{s.index:05d}.npz", drop_rec=np.empty(0, np.int64),
                            drop_dup=np.empty(0, np.uint64), **{f"meta_{cfg['key']}": values})
            crawled = sorted({h for path in hosts for h in orjson.loads(Path(path).read_bytes())})
            table = dict(zip(hash_strings(crawled).tolist(), crawled, strict=True))
            top = sorted(((float(score[i]), table[int(nodes[i])]) for i in range(len(nodes))
                          if int(nodes[i]) in table), key=lambda t: (-t[0], t[1]))[:10]
        stats = job.write(lambda s: [str(decisions / f"{s.index:05d}.npz")], with_ids=False)
        info = {"hosts": len(nodes), "crawled_hosts": len(crawled), "edges": len(edges),
                "iterations": iterations, "documents_without_links": sum(c["without_links"] for c in counts),
                "top_hosts": [[h, round(v, 4)] for v, h in top]}
        for st in stats.values():
            st.info.update(info)
        return stats
