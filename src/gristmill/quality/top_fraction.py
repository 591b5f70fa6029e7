"""``top_fraction``: keep the best share of the whole corpus by a metadata score, exactly.

DCLM-Baseline keeps the top 10% of its pool by fastText p(hq) (paper §4.5, Table 5); DCLM's
code only has a fixed threshold (``quality_filter``, 0.018112, computed by hand; its "dynamic
percentile" global function was never added). Here the cut is computed, exactly, by a
distributed radix selection that no task needs the corpus for:

1. ``scores`` (per shard): each document's rank key is written to scratch: the score mapped
   to an order-preserving unsigned 64-bit integer (inverted for ``keep: high``) and the
   document's node id (shard index << 32 | record index). Keys sort as "better score first,
   then corpus order", so ties are broken deterministically by position in the corpus.
2. ``select`` (per shard, up to 8 rounds): a 65,536-bin histogram of the next 16 bits of
   the keys that share the prefix chosen so far; the driver adds them up and picks the bin
   holding the k-th key. Once the candidates fit in `GATHER_LIMIT` rows they are gathered and
   the k-th key is found by sorting them.
3. ``write`` (per shard): keep the documents whose key is at most the k-th
   (`gristmill.dedup.output.write_shard`).

k = ceil(fraction x documents). Every figure depends only on the keys, so the output is the
same for any executor and worker count. Memory: 16 bytes of scratch per document on disk; a
task holds one shard's keys (16 bytes per document); the driver holds one histogram per
shard of a round (512 KiB each) and at most `GATHER_LIMIT` candidate rows (16 MiB).
``stats.json`` records (under the step's ``info``) the score threshold, k, the documents
ranked and the kept fraction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from gristmill.core.errors import InputError
from gristmill.core.stats import StepStats
from gristmill.core.step import GlobalStep, GlobalTask, register
from gristmill.dedup.job import DedupJob
from gristmill.dedup.scratch import (
    ReadCounts,
    ShardRef,
    load_arrays,
    node_ids,
    read_batches,
    save_arrays,
)

DIGIT_BITS = 16
BINS = 1 << DIGIT_BITS
DIGITS = 128 // DIGIT_BITS  # 64 bits of score key, then 64 bits of node id
GATHER_LIMIT = 1 << 20
_SIGN = np.uint64(1 << 63)
_MASK = np.uint64(BINS - 1)


def score_keys(scores: np.ndarray, keep: str) -> np.ndarray:
    """Order-preserving uint64 image of float64 scores; inverted for ``keep: high`` so that
    a smaller key always means a better score."""
    bits = np.ascontiguousarray(scores, dtype=np.float64).view(np.uint64)
    negative = (bits & _SIGN) != 0
    keys = np.where(negative, ~bits, bits | _SIGN)
    return ~keys if keep == "high" else keys


def key_score(key: int, keep: str) -> float:
    """The score a key stands for (inverse of `score_keys`)."""
    k = np.uint64(key)
    if keep == "high":
        k = ~k
    bits = (k & ~_SIGN) if (k & _SIGN) else ~k
    return float(np.array([bits], dtype=np.uint64).view(np.float64)[0])


def _digit(keys: np.ndarray, nodes: np.ndarray, level: int) -> np.ndarray:
    source, level = (keys, level) if level < DIGITS // 2 else (nodes, level - DIGITS // 2)
    shift = np.uint64(64 - DIGIT_BITS * (level + 1))
    return ((source >> shift) & _MASK).astype(np.int64)


def _matching(keys: np.ndarray, nodes: np.ndarray, prefix: tuple[int, ...]) -> np.ndarray:
    mask = np.ones(len(keys), dtype=bool)
    for level, digit in enumerate(prefix):
        mask &= _digit(keys, nodes, level) == digit
    return mask


@dataclass(frozen=True)
class ScoreTask:
    shard: ShardRef
    key: str
    keep: str
    out: str


def collect_scores(task: ScoreTask) -> dict[str, Any]:
    """Phase 1: rank keys of one shard. A document without a numeric score is an error that
    stops the step (the ranking would be undefined), naming the file and record."""
    counts = ReadCounts()
    values: list[float] = []
    for batch in read_batches(task.shard, counts):
        for doc in batch:
            value = doc.metadata.get(task.key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
                raise InputError(
                    f"top_fraction: {task.shard.path} record {len(values) + 1} (id {doc.id}): "
                    f"no numeric score {task.key!r} (got {value!r}); score every document first")
            values.append(float(value))
    scores = np.asarray(values, dtype=np.float64)
    save_arrays(Path(task.out), keys=score_keys(scores, task.keep),
                nodes=node_ids(task.shard.index, len(values)))
    return {"documents": len(values), "errors": counts.errors}


@dataclass(frozen=True)
class SelectTask:
    scores: str
    prefix: tuple[int, ...]
    gather: bool


def select_round(task: SelectTask) -> Any:
    """Phase 2: a histogram of the next digit under ``prefix``, or the matching rows."""
    arrays = load_arrays(Path(task.scores))
    keys, nodes = arrays["keys"], arrays["nodes"]
    mask = _matching(keys, nodes, task.prefix)
    if task.gather:
        return keys[mask], nodes[mask]
    return np.bincount(_digit(keys[mask], nodes[mask], len(task.prefix)), minlength=BINS)


@dataclass(frozen=True)
class DropTask:
    scores: str
    cutoff: tuple[int, int] | None  # None: keep nothing
    out: str


def drop_decisions(task: DropTask) -> dict[str, int]:
    """Phase 3 input: records whose key comes after the cutoff, as dedup decision files."""
    arrays = load_arrays(Path(task.scores))
    keys, nodes = arrays["keys"], arrays["nodes"]
    if task.cutoff is None:
        drop = np.ones(len(keys), dtype=bool)
    else:
        ck, cn = np.uint64(task.cutoff[0]), np.uint64(task.cutoff[1])
        drop = (keys > ck) | ((keys == ck) & (nodes > cn))
    records = np.flatnonzero(drop).astype(np.int64)
    save_arrays(Path(task.out), drop_rec=records,
                drop_dup=np.full(len(records), np.iinfo(np.uint64).max, dtype=np.uint64))
    return {"dropped": len(records)}


def kth_key(executor: Any, score_files: list[str], k: int) -> tuple[int, int]:
    """The k-th smallest (key, node) over all score files (1-based ``k``), by radix rounds."""
    prefix: tuple[int, ...] = ()
    remaining = k
    for _ in range(DIGITS):
        hist = sum(executor.map(select_round, [SelectTask(f, prefix, False) for f in score_files]))
        cum = np.cumsum(hist)
        digit = int(np.searchsorted(cum, remaining))
        remaining -= int(cum[digit - 1]) if digit else 0
        prefix += (digit,)
        if int(hist[digit]) <= GATHER_LIMIT or len(prefix) == DIGITS:
            rows = executor.map(select_round, [SelectTask(f, prefix, True) for f in score_files])
            keys = np.concatenate([r[0] for r in rows])
            nodes = np.concatenate([r[1] for r in rows])
            order = np.lexsort((nodes, keys))
            pick = order[remaining - 1]
            return int(keys[pick]), int(nodes[pick])
    raise AssertionError("unreachable: the last digit always gathers")


@register("top_fraction")
class TopFraction(GlobalStep):
    """Keep the top ``fraction`` of all documents by ``metadata[key]`` (DCLM: 0.1 of fastText
    p(hq)); exact, deterministic ties (corpus order), identical on every executor.

    Args:
        key: the score's metadata key (every document must have it: score first).
        fraction: share of documents kept, k = ceil(fraction x documents).
        keep: ``high`` keeps the highest scores (classifier probabilities), ``low`` the lowest
            (perplexity).
    """

    def __init__(self, *, key: str, fraction: float, keep: Literal["high", "low"] = "high") -> None:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be in [0, 1], got {fraction}")

    def run(self, task: GlobalTask) -> dict[str, StepStats]:
        cfg = self.config
        job = DedupJob.open(self.name, "below_top_fraction", task, dict(cfg))
        score_dir = job.root / "scores"
        files = [str(score_dir / f"{s.index:05d}.npz") for s in job.shards]
        counts = job.shard_phase("scores", collect_scores, [
            ScoreTask(s, cfg["key"], cfg["keep"], f) for s, f in zip(job.shards, files, strict=True)])
        total = sum(c["documents"] for c in counts)
        k = min(total, math.ceil(round(cfg["fraction"] * total, 9)))
        with job.timed():
            cutoff = kth_key(job.executor, files, k) if k else None
        decisions = job.root / "decisions"
        job.shard_phase("decide", drop_decisions, [
            DropTask(f, cutoff, str(decisions / f"{s.index:05d}.npz"))
            for s, f in zip(job.shards, files, strict=True)])
        stats = job.write(lambda s: [str(decisions / f"{s.index:05d}.npz")], with_ids=False)
        info = {
            "key": cfg["key"],
            "keep": cfg["keep"],
            "fraction_target": cfg["fraction"],
            "documents_ranked": total,
            "documents_kept": k,
            "kept_fraction": k / total if total else 0.0,
            "threshold": key_score(cutoff[0], cfg["keep"]) if cutoff else None,
        }
        for st in stats.values():
            st.info.update(info)
        return stats
