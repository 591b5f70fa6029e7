"""MinHash-LSH dedup as partitioned phases: signatures, buckets, components, rewrite.

1. ``signatures`` (per shard): shingle and sign every document (`gristmill.dedup.minhash`),
   hash each band, and write ``(band, key, node)`` records split into partitions by key. With
   ``verify``, the shard's sorted shingle sets are kept too.
2. ``buckets`` (per partition): documents sharing a ``(band, key)`` are candidates; each
   bucket links its members to its smallest node. With ``verify``, a link stays only when the
   two documents' true Jaccard similarity reaches the threshold. Links are written as edge
   files partitioned by node (`gristmill.dedup.components`).
3. connected components over the edge partitions (no task sees the whole graph); each
   cluster's smallest node — its first document in corpus order — survives.
4. ``write`` (per shard).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from gristmill.core.hashing import bucket_of
from gristmill.core.stats import StepStats
from gristmill.core.step import GlobalTask
from gristmill.dedup.components import connected_components, write_edges
from gristmill.dedup.job import DedupJob, decision_files, resolve_partitions
from gristmill.dedup.minhash import MinhashParams, band_keys, signatures
from gristmill.dedup.scratch import (
    ReadCounts,
    ShardRef,
    gather,
    node_ids,
    node_record,
    node_shard,
    read_batches,
    save_ids,
    scatter,
)
from gristmill.dedup.shingles import document_sets, jaccard, minhash_document_shingles
from gristmill.io.atomic import atomic_output

MAX_EDGE_PARTITIONS = 64


@dataclass(frozen=True, kw_only=True)
class MinhashConfig:
    params: MinhashParams
    verify: bool = False
    partitions: int = 0


@dataclass(frozen=True)
class SignatureTask:
    shard: ShardRef
    config: MinhashConfig
    root: str


def _shingle_paths(root: Path, shard_index: int) -> tuple[Path, Path]:
    base = root / "shingles" / f"{shard_index:05d}"
    return base.with_suffix(".values.npy"), base.with_suffix(".offsets.npy")


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_output(path) as f:
        np.save(f, array)


def signature_shard(task: SignatureTask) -> dict[str, Any]:
    """Phase 1: band keys of every document of one shard, partitioned by key."""
    cfg, params = task.config, task.config.params
    root = Path(task.root)
    counts = ReadCounts()
    ids: list[str] = []
    key_parts: list[np.ndarray] = []
    rec_parts: list[np.ndarray] = []
    set_values: list[np.ndarray] = []
    set_lengths: list[np.ndarray] = []
    for batch in read_batches(task.shard, counts):
        shingles, per_doc = minhash_document_shingles([d.text for d in batch], params.ngram, params.seed)
        present = per_doc > 0
        sigs = signatures(shingles, per_doc, params)[present]
        key_parts.append(band_keys(sigs, params))
        rec_parts.append(len(ids) + np.flatnonzero(present))
        if cfg.verify:
            doc_values, doc_offsets = document_sets(shingles, per_doc)
            set_values.append(doc_values)
            set_lengths.append(np.diff(doc_offsets))
        ids.extend(d.id for d in batch)
    save_ids(root / "ids" / f"{task.shard.index:05d}.json", ids)
    bands, _ = params.layout
    keys = np.concatenate(key_parts) if key_parts else np.empty((0, bands), np.uint64)
    recs = np.concatenate(rec_parts) if rec_parts else np.empty(0, np.int64)
    nodes = node_ids(task.shard.index, len(ids))[recs]
    flat_keys = keys.ravel()
    flat_band = np.tile(np.arange(bands, dtype=np.int32), len(nodes))
    flat_nodes = np.repeat(nodes, bands)
    scatter(root / "buckets", f"{task.shard.index:05d}", bucket_of(flat_keys, cfg.partitions), cfg.partitions,
            band=flat_band, key=flat_keys, node=flat_nodes)
    if cfg.verify:
        values, offsets = _shingle_paths(root, task.shard.index)
        lengths = np.concatenate(set_lengths) if set_lengths else np.empty(0, np.int64)
        _save_npy(values, np.concatenate(set_values) if set_values else np.empty(0, np.uint64))
        _save_npy(offsets, np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))
    return {"documents": counts.documents, "signed": len(nodes), "errors": counts.errors}


class _ShingleSets:
    """Sorted shingle set of any node, memory-mapping each shard's file on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, node: int) -> np.ndarray:
        shard = int(node_shard(np.uint64(node)))
        if shard not in self.cache:
            values, offsets = _shingle_paths(self.root, shard)
            self.cache[shard] = (np.load(values, mmap_mode="r"), np.load(offsets))
        values, offsets = self.cache[shard]
        rec = int(node_record(np.uint64(node)))
        return np.asarray(values[offsets[rec] : offsets[rec + 1]])


@dataclass(frozen=True)
class BucketTask:
    part: int
    config: MinhashConfig
    root: str
    edge_parts: int


def bucket_partition(task: BucketTask) -> dict[str, Any]:
    """Phase 2: candidate pairs of one key partition, verified if asked, as edge files."""
    cfg = task.config
    root = Path(task.root)
    cols = gather(root / "buckets", task.part, band=np.int32, key=np.uint64, node=np.uint64)
    band, key, node = cols["band"], cols["key"], cols["node"]
    order = np.lexsort((node, key, band))
    band, key, node = band[order], key[order], node[order]
    first = np.r_[True, (band[1:] != band[:-1]) | (key[1:] != key[:-1])] if len(node) else np.zeros(0, bool)
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(node)), 0)) if len(node) else np.zeros(0, np.int64)
    a, b = node[group_start][~first], node[~first]
    if len(a):
        pairs = np.unique(np.stack([a, b], axis=1), axis=0)
        a, b = pairs[:, 0], pairs[:, 1]
    candidates = len(a)
    if cfg.verify and len(a):
        sets = _ShingleSets(root)
        ok = np.array([jaccard(sets(int(x)), sets(int(y))) >= cfg.params.threshold
                       for x, y in zip(a.tolist(), b.tolist(), strict=True)], dtype=bool)
        a, b = a[ok], b[ok]
    write_edges(root / "edges", f"lsh-{task.part:05d}", a, b, task.edge_parts)
    return {"candidates": candidates, "edges": len(a)}


def run_minhash(step: str, task: GlobalTask, config: MinhashConfig) -> dict[str, StepStats]:
    """MinHash-LSH dedup over the task's shards; ``{shard name: StepStats}``."""
    fingerprint = {**asdict(config), "layout": list(config.params.layout)}
    job = DedupJob.open(step, "minhash_duplicate", task, fingerprint)
    config = replace(config, partitions=resolve_partitions(config.partitions, job.shards))
    job.shard_phase("signatures", signature_shard,
                    [SignatureTask(s, config, str(job.root)) for s in job.shards])
    parts = config.partitions
    # Edges are far fewer than bucket records; every component round writes parts^2 files.
    edge_parts = min(parts, MAX_EDGE_PARTITIONS)
    names = [f"part-{p:05d}" for p in range(parts)]
    job.phase("buckets", bucket_partition,
              [BucketTask(p, config, str(job.root), edge_parts) for p in range(parts)], names)
    with job.timed():
        connected_components(job.executor, job.root / "components", job.root / "edges", edge_parts,
                             job.root / "labels")
    return job.write(decision_files(job.root / "labels"), with_ids=True)
