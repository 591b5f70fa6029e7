"""``semdedup``: semantic deduplication (Abbas et al. 2023, "SemDeDup"; DCLM Table 4).

Documents are embedded (`gristmill.quality.embedding`, all-MiniLM-L6-v2 by default), clustered
with spherical k-means, and inside each cluster a document is dropped when its cosine
similarity to an *earlier* member is above ``threshold`` (SemDeDup's rule: the max over the
upper triangle of the cluster's similarity matrix). "Earlier" is corpus order by default
(``keep: first``, like every other gristmill dedup step: the first copy survives), or
SemDeDup's default order, farthest from the centroid first (``keep: hard``).

Phases (`gristmill.dedup.job.DedupJob` frame: resumable, the same on every executor):

1. ``embed`` (per shard): float16 embeddings to scratch, with the document ids.
2. driver: k-means on a deterministic sample (every document when the corpus has at most
   ``sample`` of them; else those whose seeded hash of the node id falls under the sampling
   rate), k-means++ seeding from the run seed, ``iterations`` Lloyd steps.
3. ``assign`` (per shard): nearest centroid of every document, rows scattered to partitions by
   cluster.
4. ``dedup`` (per partition): the rule above, cluster by cluster, in row blocks of
   `BLOCK` so a cluster of n documents needs ``BLOCK x n`` floats, not ``n x n``.
5. ``write``: drop the duplicates (``duplicate_of`` names the most similar earlier document).

Memory per document: scratch on disk of 2 x dim bytes of float16 embedding (768 for MiniLM),
written again with 20 bytes of node, cluster and centroid similarity into the partition
files (4 x dim + 20 = 1,556 bytes in all; removed after the run). A task holds one shard's or
one partition's rows (about 4 x dim bytes each as float32) and, per cluster of n documents,
a ``BLOCK x n`` similarity block; the driver holds the k-means sample (``sample x dim x 4``
bytes, 77 MB at the default 50,000) and the centroids. ``benchmarks/quality.py`` measures it. Embeddings depend on each shard's own batches
only, so the result is the same for any worker count (given the same torch build).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from gristmill.core.hashing import mix64
from gristmill.core.stats import StepStats
from gristmill.core.step import GlobalStep, GlobalTask, register
from gristmill.dedup.job import DedupJob, decision_files, resolve_partitions
from gristmill.dedup.scratch import (
    ReadCounts,
    ShardRef,
    gather,
    load_arrays,
    node_ids,
    node_record,
    node_shard,
    read_batches,
    save_arrays,
    save_ids,
    scatter,
)
from gristmill.quality.embedding import DEFAULT_EMBEDDER, cached_embedder

BLOCK = 1024
REASON = "semantic_duplicate"


@dataclass(frozen=True)
class EmbedTask:
    shard: ShardRef
    embedder: str
    batch_size: int
    max_tokens: int
    out: str
    ids: str


def embed_shard(task: EmbedTask) -> dict[str, Any]:
    embedder = cached_embedder(task.embedder, task.batch_size, task.max_tokens)
    counts = ReadCounts()
    parts: list[np.ndarray] = []
    ids: list[str] = []
    for batch in read_batches(task.shard, counts):
        parts.append(embedder.encode([d.text for d in batch]).astype(np.float16))
        ids.extend(d.id for d in batch)
    emb = np.concatenate(parts) if parts else np.zeros((0, embedder.dim), np.float16)
    save_arrays(Path(task.out), emb=emb)
    save_ids(Path(task.ids), ids)
    return {"documents": len(ids), "errors": counts.errors, "dim": embedder.dim}


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def sample_rows(nodes: np.ndarray, rate: float, seed: int) -> np.ndarray:
    """Rows kept by a seeded hash of their node id (all when ``rate >= 1``)."""
    if rate >= 1.0:
        return np.ones(len(nodes), dtype=bool)
    u = (mix64(nodes.astype(np.uint64), seed) >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return u < rate


def kmeans(x: np.ndarray, k: int, iterations: int, seed: int) -> np.ndarray:
    """Spherical k-means (cosine): k-means++ seeding, then Lloyd steps; unit-norm centroids.
    An emptied cluster keeps its centroid. Deterministic for a given ``seed``."""
    n = len(x)
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    centers = np.empty((k, x.shape[1]), dtype=np.float32)
    centers[0] = x[rng.integers(n)]
    dist = np.maximum(0.0, 1.0 - (x @ centers[0]).astype(np.float64))
    for c in range(1, k):
        total = float(dist.sum())
        pick = int(rng.choice(n, p=dist / total)) if total > 0 else int(rng.integers(n))
        centers[c] = x[pick]
        dist = np.minimum(dist, np.maximum(0.0, 1.0 - (x @ centers[c]).astype(np.float64)))
    for _ in range(iterations):
        label = _nearest(x, centers)[0]
        order = np.argsort(label, kind="stable")
        starts = np.flatnonzero(np.r_[True, label[order][1:] != label[order][:-1]])
        filled = label[order][starts]
        new = centers.copy()
        sums = np.add.reduceat(x[order].astype(np.float64), starts, axis=0)
        new[filled] = _normalise(sums).astype(np.float32)
        if np.array_equal(new, centers):
            break
        centers = new
    return centers


def _nearest(x: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the most similar centroid (lowest index on ties) and that similarity."""
    label = np.empty(len(x), dtype=np.int64)
    sim = np.empty(len(x), dtype=np.float32)
    for a in range(0, len(x), 8192):
        s = x[a : a + 8192] @ centers.T
        label[a : a + 8192] = np.argmax(s, axis=1)
        sim[a : a + 8192] = s[np.arange(len(s)), label[a : a + 8192]]
    return label, sim


@dataclass(frozen=True)
class AssignTask:
    shard: ShardRef
    emb: str
    centroids: str
    out_dir: str
    partitions: int


def assign_shard(task: AssignTask) -> dict[str, Any]:
    x = load_arrays(Path(task.emb))["emb"].astype(np.float32)
    centers = load_arrays(Path(task.centroids))["centroids"]
    label, sim = _nearest(x, centers)
    scatter(Path(task.out_dir), f"{task.shard.index:05d}", label % task.partitions, task.partitions,
            node=node_ids(task.shard.index, len(x)), cluster=label, sim=sim, emb=x.astype(np.float16))
    return {"documents": len(x)}


@dataclass(frozen=True)
class DedupTask:
    partition: int
    in_dir: str
    out_dir: str
    dim: int
    threshold: float
    keep: str


def duplicates_in_cluster(emb: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Rows (in the given order) whose max cosine similarity to an earlier row is above
    ``threshold``, and for each the earlier row it is most similar to."""
    drop, best = [], []
    for a in range(0, len(emb), BLOCK):
        b = min(len(emb), a + BLOCK)
        s = emb[a:b] @ emb[:b].T
        s[np.arange(b - a)[:, None] <= np.arange(b)[None, :] - a] = -np.inf  # only earlier rows
        arg = np.argmax(s, axis=1)
        hit = np.flatnonzero(s[np.arange(b - a), arg] > threshold)
        drop.append(hit + a)
        best.append(arg[hit])
    return (np.concatenate(drop), np.concatenate(best)) if drop else (np.empty(0, np.int64),) * 2


def dedup_partition(task: DedupTask) -> dict[str, Any]:
    rows = gather(Path(task.in_dir), task.partition, node=np.uint64, cluster=np.int64, sim=np.float32,
                  emb=np.float16)
    node, cluster, sim = rows["node"], rows["cluster"], rows["sim"]
    emb = rows["emb"].reshape(-1, task.dim).astype(np.float32)
    # Within a cluster: corpus order (first), or farthest from the centroid first (hard).
    order = np.lexsort((node, sim, cluster) if task.keep == "hard" else (node, cluster))
    bounds = np.flatnonzero(np.r_[True, cluster[order][1:] != cluster[order][:-1], True])
    dropped, survivor = [], []
    for a, b in itertools.pairwise(bounds):
        members = order[a:b]
        d, s = duplicates_in_cluster(emb[members], task.threshold)
        dropped.append(node[members[d]])
        survivor.append(node[members[s]])
    drop_nodes = np.concatenate(dropped) if dropped else np.empty(0, np.uint64)
    dup_nodes = np.concatenate(survivor) if survivor else np.empty(0, np.uint64)
    shards = node_shard(drop_nodes)
    for shard in np.unique(shards).tolist():
        sel = shards == shard
        recs = node_record(drop_nodes[sel])
        o = np.argsort(recs)
        save_arrays(Path(task.out_dir) / f"shard-{shard:05d}" / f"part-{task.partition:05d}.npz",
                    drop_rec=recs[o], drop_dup=dup_nodes[sel][o].astype(np.uint64))
    return {"rows": len(node), "clusters": len(bounds) - 1, "dropped": len(drop_nodes)}


@register("semdedup")
class SemDedup(GlobalStep):
    """Drop semantic near-duplicates: cosine similarity above ``threshold`` to an earlier
    document of the same k-means cluster (module docstring: phases, memory).

    Args:
        threshold: cosine similarity above which a document is a duplicate (0.95, i.e.
            SemDeDup's epsilon = 0.05; Abbas et al. sweep epsilon, NeMo Curator's examples use
            0.01, which removes only near-verbatim copies).
        clusters: k-means clusters (0: one per ``docs_per_cluster`` documents).
        docs_per_cluster: the automatic cluster size (1000; the pairwise work is n^2 per cluster).
        keep: ``first`` (corpus order) or ``hard`` (farthest from the centroid survives).
        embedder, max_tokens, batch_size: the embedding model (`gristmill.quality.embedding`).
        sample: most documents k-means is fitted on (50,000); iterations: Lloyd steps (20).
        partitions: dedup tasks (0: scaled to the input size).
    """

    def __init__(self, *, threshold: float = 0.95, clusters: int = 0, docs_per_cluster: int = 1000,
                 keep: Literal["first", "hard"] = "first", embedder: str = DEFAULT_EMBEDDER,
                 max_tokens: int = 0, batch_size: int = 64, sample: int = 50_000,
                 iterations: int = 20, partitions: int = 0) -> None:
        if not -1.0 <= threshold <= 1.0:
            raise ValueError(f"threshold is a cosine similarity in [-1, 1], got {threshold}")
        if clusters < 0 or docs_per_cluster < 1 or sample < 1 or iterations < 0:
            raise ValueError("clusters >= 0, docs_per_cluster >= 1, sample >= 1, iterations >= 0")

    def run(self, task: GlobalTask) -> dict[str, StepStats]:
        cfg = self.config
        seed = task.context.seed
        job = DedupJob.open(self.name, REASON, task, {**cfg, "seed": seed})
        emb_files = [str(job.root / "emb" / f"{s.index:05d}.npz") for s in job.shards]
        counts = job.shard_phase("embed", embed_shard, [
            EmbedTask(s, cfg["embedder"], cfg["batch_size"], cfg["max_tokens"], f,
                      str(job.ids_dir / f"{s.index:05d}.json"))
            for s, f in zip(job.shards, emb_files, strict=True)])
        total = sum(c["documents"] for c in counts)
        dim = counts[0]["dim"] if counts else 0
        k = cfg["clusters"] or max(1, math.ceil(total / cfg["docs_per_cluster"]))
        with job.timed():
            rate = cfg["sample"] / total if total else 1.0
            picked = []
            for s, f in zip(job.shards, emb_files, strict=True):
                x = load_arrays(Path(f))["emb"]
                picked.append(x[sample_rows(node_ids(s.index, len(x)), rate, seed)].astype(np.float32))
            fit = np.concatenate(picked) if picked else np.zeros((0, dim), np.float32)
            centroids = kmeans(fit, k, cfg["iterations"], seed) if len(fit) else np.zeros((1, dim), np.float32)
            save_arrays(job.root / "centroids.npz", centroids=centroids)
        parts = resolve_partitions(cfg["partitions"], job.shards)
        job.shard_phase("assign", assign_shard, [
            AssignTask(s, f, str(job.root / "centroids.npz"), str(job.root / "rows"), parts)
            for s, f in zip(job.shards, emb_files, strict=True)])
        results = job.phase("dedup", dedup_partition, [
            DedupTask(p, str(job.root / "rows"), str(job.root / "decisions"), dim, cfg["threshold"], cfg["keep"])
            for p in range(parts)], [f"{p:05d}" for p in range(parts)])
        stats = job.write(decision_files(job.root / "decisions"), with_ids=True)
        info = {"clusters": len(centroids), "threshold": cfg["threshold"], "kmeans_sample": len(fit),
                "documents": total, "duplicates": sum(r["dropped"] for r in results),
                "scratch_bytes_per_document": 4 * dim + 20}
        for st in stats.values():
            st.info.update(info)
        return stats

