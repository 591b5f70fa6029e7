"""The last phase of every dedup job: rewrite each shard from its removal decisions.

A job's earlier phases leave, per input shard, ``.npz`` decision files with any of:

* ``drop_rec`` (int64) and ``drop_dup`` (uint64 node of the survivor, or `NO_NODE`): records
  removed whole;
* ``para_rec``, ``para_idx`` (int64): DCLM paragraph windows removed from kept records, and
  optionally ``para_dup`` (uint64): the node holding the surviving copy of each;
* ``meta_<key>`` (int64 or float64, one value per record): metadata added to every written record;
* ``clusters`` (int64 scalar): duplicate clusters whose survivor is in this shard.

`write_shard` streams the shard once, applies them and writes survivors to the output and the
removed documents (with ``drop_reason`` and ``duplicate_of``) under ``dropped_dir/<reason>/``.
A record left with only whitespace after its paragraphs are cut is removed too (DCLM's BFF
writes no document whose text ``trim()``s to nothing).
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gristmill.core.document import Document
from gristmill.core.errors import RecordError
from gristmill.core.stats import StepStats
from gristmill.dedup.scratch import (
    NO_NODE,
    ShardRef,
    load_arrays,
    load_ids,
    node_record,
    node_shard,
)
from gristmill.dedup.shingles import remove_paragraphs
from gristmill.io.readers import read_documents
from gristmill.io.serialize import utf8_size
from gristmill.io.writers import open_writer


@dataclass(frozen=True)
class WriteTask:
    """Rewrite one shard.

    Attributes:
        step: step name (the stats name).
        reason: drop reason of removed documents.
        shard: the input shard.
        decisions: decision files of this shard (missing files mean "nothing to remove").
        out_path: where the surviving documents go.
        dropped_dir: when set, removed documents go to ``dropped_dir/<reason>/<shard>.jsonl.zst``.
        ids_dir: folder of ``<shard index>.json`` id lists, to name survivors in ``duplicate_of``.
    """

    step: str
    reason: str
    shard: ShardRef
    decisions: tuple[str, ...]
    out_path: str
    dropped_dir: str | None
    ids_dir: str | None


@dataclass
class _Decisions:
    drop: dict[int, int]
    paragraphs: dict[int, list[tuple[int, int]]]
    meta: dict[str, np.ndarray]
    clusters: int


def _load_decisions(paths: tuple[str, ...]) -> _Decisions:
    drop: dict[int, int] = {}
    paras: dict[int, list[tuple[int, int]]] = defaultdict(list)
    meta: dict[str, np.ndarray] = {}
    clusters = 0
    for p in paths:
        if not Path(p).is_file():
            continue
        arrays = load_arrays(Path(p))
        if "drop_rec" in arrays:
            drop.update(zip(arrays["drop_rec"].tolist(), arrays["drop_dup"].tolist(), strict=True))
        if "para_rec" in arrays:
            dups = arrays["para_dup"] if "para_dup" in arrays else np.full(len(arrays["para_rec"]), NO_NODE)
            for rec, idx, dup in zip(arrays["para_rec"].tolist(), arrays["para_idx"].tolist(),
                                     dups.tolist(), strict=True):
                paras[rec].append((idx, dup))
        for key, value in arrays.items():
            if key.startswith("meta_"):
                meta[key[5:]] = value
        if "clusters" in arrays:
            clusters += int(arrays["clusters"])
    return _Decisions(drop, dict(paras), meta, clusters)


class _SurvivorNames:
    """Node id -> document id, loading each shard's id list on first use."""

    def __init__(self, ids_dir: str | None) -> None:
        self.ids_dir = Path(ids_dir) if ids_dir else None
        self.cache: dict[int, list[str]] = {}

    def __call__(self, node: int) -> str | None:
        if node == int(NO_NODE) or self.ids_dir is None:
            return None
        shard = int(node_shard(np.uint64(node)))
        if shard not in self.cache:
            self.cache[shard] = load_ids(self.ids_dir / f"{shard:05d}.json")
        return self.cache[shard][int(node_record(np.uint64(node)))]


def write_shard(task: WriteTask) -> dict[str, Any]:
    """Write the survivors of one shard; return its `StepStats` as a dict."""
    started = time.process_time()
    decisions = _load_decisions(task.decisions)
    names = _SurvivorNames(task.ids_dir)
    stats = StepStats(task.step)
    dropped_writer = None
    paragraphs_removed = 0
    with open_writer(task.out_path) as out:
        try:
            record = -1
            for item in read_documents(task.shard.path, name=task.shard.name):
                if isinstance(item, RecordError):
                    # Counted and named; the record takes no index, as in every earlier phase.
                    stats.errors += item.count
                    print(f"{task.step}: skipped bad record {item}", file=sys.stderr)
                    continue
                record += 1
                doc: Document = item
                size = utf8_size(doc.text)
                stats.docs_in += 1
                stats.bytes_in += size
                survivor = decisions.drop.get(record)
                removed = decisions.paragraphs.get(record)
                if survivor is None and removed:
                    doc.text = remove_paragraphs(doc.text, [idx for idx, _ in removed])
                    paragraphs_removed += len(removed)
                    if not doc.text.strip():
                        survivor = min(removed)[1]
                for key, values in decisions.meta.items():
                    doc.metadata[key] = values[record].item()  # int or float, as stored
                if survivor is None:
                    out.write(doc)
                    stats.docs_out += 1
                    stats.bytes_out += utf8_size(doc.text)
                    continue
                stats.dropped[task.reason] += 1
                if task.dropped_dir is not None:
                    if dropped_writer is None:
                        path = Path(task.dropped_dir) / task.reason / f"{task.shard.name}.jsonl.zst"
                        dropped_writer = open_writer(path).__enter__()
                    doc.metadata["drop_reason"] = task.reason
                    name = names(survivor)
                    if name is not None:
                        doc.metadata["duplicate_of"] = name
                    dropped_writer.write(doc)
        except BaseException as exc:
            if dropped_writer is not None:
                dropped_writer.__exit__(type(exc), exc, None)
            raise
    if dropped_writer is not None:
        dropped_writer.__exit__(None, None, None)
    stats.extra["clusters"] = decisions.clusters
    stats.extra["documents_removed"] = stats.docs_dropped
    stats.extra["paragraphs_removed"] = paragraphs_removed
    stats.extra["bytes_removed"] = stats.bytes_in - stats.bytes_out
    stats.seconds = time.process_time() - started
    return stats.to_dict()
