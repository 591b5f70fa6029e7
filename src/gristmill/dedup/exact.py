"""Exact dedup by normalized text, by URL, or of lines across the corpus (C4-style).

Phases (each resumable, none holding the corpus in one task):

1. ``keys`` (per shard): hash each unit — the document text, its URL, or each of its lines —
   with a selection key, and write ``(key, selection, node, unit)`` records split into
   partitions by key.
2. ``groups`` (per partition): sort the records; in each group of equal keys the unit with the
   smallest ``(selection, node, unit)`` survives and every other one is removed, written as
   per-shard decisions.
3. ``write`` (per shard): rewrite the shard (`gristmill.dedup.output`).

Normalizers are DCLM's (``baselines/mappers/core_utils.py``): ``normalize_whitespace_and_lowercase``
is ``text.strip().lower()``; ``normalize_url`` is TFDS C4's rule (drop ``http(s)://`` and
``www.``, anything from ``?utm_`` / ``?ref`` / ``?feed``, trailing slashes). Survivor rules:
``first`` keeps the earliest copy in corpus order; ``url_hash`` keeps the copy with the smallest
hash of its normalized URL, as DCLM's C4 exact dedup keeps the smallest MD5 of the URL
(``selection_key``), ties going to corpus order.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from gristmill.core.document import Document
from gristmill.core.hashing import bucket_of, hash_strings
from gristmill.core.stats import StepStats
from gristmill.core.step import GlobalTask
from gristmill.dedup.job import DedupJob, decision_files, resolve_partitions
from gristmill.dedup.scratch import (
    ReadCounts,
    ShardRef,
    gather,
    node_ids,
    node_record,
    node_shard,
    read_batches,
    save_arrays,
    save_ids,
    scatter,
)
from gristmill.dedup.shingles import paragraphs

ExactKey = Literal["text", "url", "lines"]
KeepRule = Literal["first", "url_hash"]

_KEY_SEED = 0x4558414354  # "EXACT"
_URL_SCHEME = re.compile(r"https?:\/\/(www\.)?")
_URL_TRACKING = re.compile(r"\?(utm_|ref|feed).*")


def normalize_text(text: str) -> str:
    """DCLM ``normalize_whitespace_and_lowercase``: strip surrounding whitespace, lowercase."""
    return text.strip().lower()


def normalize_url(url: str) -> str:
    """DCLM / TFDS C4 ``normalize_url``."""
    url = _URL_SCHEME.sub("", url)
    url = _URL_TRACKING.sub("", url)
    return url.rstrip("/")


@dataclass(frozen=True, kw_only=True)
class ExactConfig:
    key: ExactKey = "text"
    keep: KeepRule = "first"
    normalize: bool = True
    partitions: int = 0
    seed: int = 0


@dataclass(frozen=True)
class KeyTask:
    shard: ShardRef
    config: ExactConfig
    root: str


def _units(doc: Document, cfg: ExactConfig) -> list[tuple[int, str]]:
    """(unit index, comparison string) of each unit of a document to deduplicate."""
    norm = normalize_text if cfg.normalize else str
    if cfg.key == "lines":
        return [(i, norm(line)) for i, line in enumerate(paragraphs(doc.text)) if line.strip()]
    if cfg.key == "url":
        url = normalize_url(doc.url)
        return [(0, url)] if url else []  # no URL: nothing to compare
    text = norm(doc.text)
    return [(0, text)] if text else []


def key_shard(task: KeyTask) -> dict[str, Any]:
    """Phase 1: hash the units of one shard into partitioned record files."""
    cfg = task.config
    root = Path(task.root)
    counts = ReadCounts()
    parts: dict[str, list[np.ndarray]] = {"key": [], "sel": [], "rec": [], "unit": []}
    ids: list[str] = []
    for batch in read_batches(task.shard, counts):
        strings: list[str] = []
        recs: list[int] = []
        units: list[int] = []
        doc_sel: list[str] = []
        for doc in batch:
            for unit, string in _units(doc, cfg):
                strings.append(string)
                recs.append(len(ids))
                units.append(unit)
            if cfg.keep == "url_hash":
                doc_sel.append(normalize_url(doc.url))
            ids.append(doc.id)
        rec = np.array(recs, dtype=np.int64)
        parts["key"].append(hash_strings(strings, cfg.seed ^ _KEY_SEED))
        parts["rec"].append(rec)
        parts["unit"].append(np.array(units, dtype=np.int64))
        if cfg.keep == "url_hash":
            first_rec = len(ids) - len(batch)
            parts["sel"].append(hash_strings(doc_sel, cfg.seed)[rec - first_rec])
        else:
            parts["sel"].append(np.zeros(len(rec), dtype=np.uint64))
    save_ids(root / "ids" / f"{task.shard.index:05d}.json", ids)
    cols = {k: (np.concatenate(v) if v else np.zeros(0, np.uint64 if k in ("key", "sel") else np.int64))
            for k, v in parts.items()}
    nodes = node_ids(task.shard.index, len(ids))[cols["rec"]]
    scatter(root / "keys", f"{task.shard.index:05d}", bucket_of(cols["key"], cfg.partitions), cfg.partitions,
            key=cols["key"], sel=cols["sel"], node=nodes, unit=cols["unit"])
    return {"documents": counts.documents, "units": len(cols["key"]), "errors": counts.errors}


@dataclass(frozen=True)
class GroupTask:
    part: int
    key: ExactKey
    root: str


def group_partition(task: GroupTask) -> dict[str, Any]:
    """Phase 2: pick one survivor per key in one partition; write per-shard decisions."""
    root = Path(task.root)
    cols = gather(root / "keys", task.part, key=np.uint64, sel=np.uint64, node=np.uint64, unit=np.int64)
    if len(cols["key"]) == 0:
        return {"clusters": 0, "removed": 0}
    key, sel, node, unit = (cols[k] for k in ("key", "sel", "node", "unit"))
    order = np.lexsort((unit, node, sel, key))
    key, node, unit = key[order], node[order], unit[order]
    first = np.r_[True, key[1:] != key[:-1]]
    group = np.cumsum(first) - 1
    survivor = node[np.flatnonzero(first)][group]
    dup = ~first
    sizes = np.bincount(group)
    cluster_survivors = node[np.flatnonzero(first)][sizes > 1]
    rm_node, rm_unit, rm_dup = node[dup], unit[dup], survivor[dup]
    rm_shard, cl_shard = node_shard(rm_node), node_shard(cluster_survivors)
    out = root / "decisions"
    for shard in np.union1d(rm_shard, cl_shard).tolist():
        s = rm_shard == shard
        arrays: dict[str, Any] = {"clusters": np.int64(int(np.sum(cl_shard == shard)))}
        if task.key == "lines":
            arrays.update(para_rec=node_record(rm_node[s]), para_idx=rm_unit[s], para_dup=rm_dup[s])
        else:
            arrays.update(drop_rec=node_record(rm_node[s]), drop_dup=rm_dup[s])
        save_arrays(out / f"shard-{shard:05d}" / f"part-{task.part:05d}.npz", **arrays)
    return {"clusters": len(cluster_survivors), "removed": int(dup.sum())}


def run_exact(step: str, task: GlobalTask, config: ExactConfig) -> dict[str, StepStats]:
    """Exact dedup over the task's shards; ``{shard name: StepStats}``."""
    job = DedupJob.open(step, "exact_duplicate", task, asdict(config))
    config = replace(config, partitions=resolve_partitions(config.partitions, job.shards))
    job.shard_phase("keys", key_shard, [KeyTask(s, config, str(job.root)) for s in job.shards])
    names = [f"part-{p:05d}" for p in range(config.partitions)]
    job.phase("groups", group_partition,
              [GroupTask(p, config.key, str(job.root)) for p in range(config.partitions)], names)
    return job.write(decision_files(job.root / "decisions"), with_ids=True)
