"""BFF: DCLM's Bloom-filter n-gram dedup, ``old-both`` mode, deterministic and vectorised.

DCLM-Baseline ran (paper App. L; ``dedup/bff/src/main.rs``, ``process_line_oldboth``)::

    bff --fp-rate 0.01 --min-ngram-size 13 --max-ngram-size 13 --filtering-threshold 0.8
        --remove-type old-both --expected-ngram-count N        # 100 independent shards

For each document, for each paragraph (the text between newlines): shingle its UniSeg tokens
into 13-grams; count how many are already in the filter; when more than 0.8 of them are, the
paragraph is removed, otherwise *all* its n-grams are inserted. Paragraphs with no n-gram
(fewer than 13 tokens) are kept and insert nothing. When more than 0.8 of all the document's
n-grams were contained, the whole document is removed. Kept documents carry
``bff_contained_ngram_count_before_dedupe``, as DCLM-Baseline's records do.

DCLM ran threads over a shuffled file list against one shared filter, so its output changed
from run to run. Here documents are processed in a defined order (shard order, then record
order), and several paragraphs at once: a batch is probed against the filter as it stood
before the batch, and an n-gram also counts as seen when an earlier kept paragraph *of the
same batch* has it (exactly what sequential insertion would have done, short of false
positives among the batch's own bits). Whether an earlier paragraph was kept depends on the
ones before it; the batch iterates "keep flags -> containment -> keep flags" to its unique
fixed point, which is the sequential answer (the dependency is strictly on earlier
paragraphs, so the iteration settles in at most the length of the longest chain, in practice
two or three rounds).

Phases: ``ngrams`` (per shard, parallel) hashes every paragraph's n-grams into scratch files;
``filter`` runs the ordered pass — one task per dedup shard (``shards=K``: input shard ``i``
goes to dedup shard ``i mod K``, DCLM's ``--shard-num/--total-shards`` rule), or, with one
shard on Ray, a driver pass whose filter blocks are spread over Ray actors
(`gristmill.dedup.bff_ray`); ``write`` rewrites the shards. `gristmill.dedup.bff_job.run_bff`
runs the phases; this module holds the algorithm and its per-shard tasks.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from gristmill.core.errors import GristmillError
from gristmill.dedup.bloom import BloomFilter
from gristmill.dedup.plan import BloomPlan, plan_bloom
from gristmill.dedup.scratch import (
    NO_NODE,
    ReadCounts,
    ShardRef,
    read_batches,
    save_arrays,
)
from gristmill.dedup.shingles import bff_paragraph_shingles
from gristmill.io.atomic import atomic_output

META_KEY = "bff_contained_ngram_count_before_dedupe"


@dataclass(frozen=True, kw_only=True)
class BffConfig:
    """BFF parameters; defaults are DCLM-Baseline's (paper App. L, Table 18/19)."""

    ngram_size: int = 13
    min_ngram_size: int = 13
    threshold: float = 0.8
    fp_rate: float = 0.01
    expected_ngrams: int = 0
    shards: int = 1
    blocks: int = 64
    batch_ngrams: int = 16384
    actors: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.min_ngram_size <= self.ngram_size:
            raise ValueError("need 1 <= min_ngram_size <= ngram_size")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if self.shards < 1 or self.blocks < 1 or self.batch_ngrams < 1:
            raise ValueError("shards, blocks and batch_ngrams must be positive")

    def plan(self, counted_ngrams: int) -> BloomPlan:
        """The filter of one dedup shard: sized for ``expected_ngrams`` when given, else for
        the shard's exact n-gram count (an upper bound on distinct insertions)."""
        return plan_bloom(self.expected_ngrams or max(1, counted_ngrams), self.fp_rate, self.blocks)


# -- phase 1: n-gram hashes -------------------------------------------------------------


def _ngram_files(root: Path, shard: ShardRef) -> dict[str, Path]:
    base = root / "ngrams" / f"{shard.index:05d}"
    return {"hashes": base.with_suffix(".u64"), "paras": base.with_suffix(".para.i64"),
            "docs": base.with_suffix(".docs.i64")}


@dataclass(frozen=True)
class NgramTask:
    shard: ShardRef
    config: BffConfig
    root: str


def ngram_shard(task: NgramTask) -> dict[str, Any]:
    """Hash the paragraph n-grams of one shard, streaming them to three raw files."""
    files = _ngram_files(Path(task.root), task.shard)
    counts = ReadCounts()
    ngrams = 0
    with contextlib.ExitStack() as stack:
        handles = {k: stack.enter_context(atomic_output(p)) for k, p in files.items()}
        for doc_paras, para_counts, hashes in computed_chunks(task.shard, task.config, counts):
            handles["hashes"].write(hashes.tobytes())
            handles["paras"].write(para_counts.astype(np.int64).tobytes())
            handles["docs"].write(doc_paras.astype(np.int64).tobytes())
            ngrams += len(hashes)
    return {"documents": counts.documents, "ngrams": ngrams, "errors": counts.errors}


# -- the ordered pass ---------------------------------------------------------------------


class Filter(Protocol):
    def contains(self, hashes: np.ndarray) -> np.ndarray: ...
    def add(self, hashes: np.ndarray) -> None: ...


def decide_batch(
    hashes: np.ndarray, para_counts: np.ndarray, bloom: Filter, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Run OldBoth over a batch of paragraphs (hashes back to back, ``para_counts`` each).

    Probes the filter, settles which paragraphs are removed, inserts the n-grams of the kept
    ones. Returns ``(removed, contained)``: per paragraph, whether it is removed and how many
    of its n-grams were already seen.
    """
    n_para = len(para_counts)
    if len(hashes) == 0:
        return np.zeros(n_para, dtype=bool), np.zeros(n_para, dtype=np.int64)
    para_of = np.repeat(np.arange(n_para, dtype=np.int32), para_counts)
    # Hashes arrive in paragraph order, so a stable sort by hash orders by (hash, paragraph).
    order = np.argsort(hashes, kind="stable")
    h, p = hashes[order], para_of[order]
    del order, para_of
    new_hash = np.ones(len(h), dtype=bool)
    np.not_equal(h[1:], h[:-1], out=new_hash[1:])
    rank = np.cumsum(new_hash, dtype=np.int64) - 1
    before = bloom.contains(h[new_hash])[rank]
    contained = np.bincount(p, weights=before, minlength=n_para)
    totals = para_counts.astype(np.float64)
    has_ngrams = para_counts > 0

    def kept_given(contained: np.ndarray) -> np.ndarray:
        ratio = np.divide(contained, totals, out=np.zeros(n_para), where=has_ngrams)
        return ~(has_ngrams & (ratio > threshold))

    kept = kept_given(contained)
    # Only hashes that occur in two or more paragraphs of the batch can be "seen in the batch".
    new_run = new_hash.copy()
    new_run[1:] |= p[1:] != p[:-1]
    multi = (np.bincount(rank, weights=new_run) > 1)[rank]
    if multi.any():
        hm_new, pm = new_hash[multi], p[multi]
        run_m = new_run[multi]
        pos = np.arange(len(pm), dtype=np.int64)
        group_start = np.maximum.accumulate(np.where(hm_new, pos, 0))
        run_start = np.maximum.accumulate(np.where(run_m, pos, 0))
        candidate = ~before[multi] & (run_start != group_start)
        base = contained
        kept = np.ones(n_para, dtype=bool)
        for _ in range(n_para + 1):
            # Seen in this batch: the same hash in an earlier paragraph that is kept
            # (occurrences in the paragraph itself do not count: DCLM checks all of a
            # paragraph's n-grams before inserting any). Iterate keep flags to the fixed point.
            k = kept[pm].astype(np.int64)
            kept_before = np.cumsum(k) - k
            seen = candidate & ((kept_before[run_start] - kept_before[group_start]) > 0)
            contained = base + np.bincount(pm, weights=seen, minlength=n_para)
            new_kept = kept_given(contained)
            if np.array_equal(new_kept, kept):
                break
            kept = new_kept
    fresh = h[kept[p] & ~before]
    if len(fresh):
        fresh = fresh[np.r_[True, fresh[1:] != fresh[:-1]]]
        bloom.add(fresh)
    return ~kept, contained.astype(np.int64)


Chunk = tuple[np.ndarray, np.ndarray, np.ndarray]  # (paragraphs/doc, n-grams/paragraph, hashes)


def computed_chunks(shard: ShardRef, cfg: BffConfig, counts: ReadCounts) -> Iterator[Chunk]:
    """n-gram hashes of a shard's documents, computed while reading it."""
    for batch in read_batches(shard, counts):
        hashes, para_counts, doc_paras = bff_paragraph_shingles(
            [d.text for d in batch], cfg.ngram_size, cfg.min_ngram_size, cfg.seed)
        yield doc_paras, para_counts, hashes


def stored_chunks(root: Path, shard: ShardRef, docs_per_chunk: int = 4096) -> Iterator[Chunk]:
    """n-gram hashes of a shard read back from phase ``ngrams`` (memory-mapped)."""
    files = _ngram_files(root, shard)
    dtypes = {"docs": np.int64, "paras": np.int64, "hashes": np.uint64}
    maps = {k: (np.memmap(files[k], dtype=t, mode="r") if files[k].stat().st_size else np.empty(0, t))
            for k, t in dtypes.items()}
    docs, paras, hashes = maps["docs"], maps["paras"], maps["hashes"]
    p = h = 0
    for d in range(0, len(docs), docs_per_chunk):
        doc_paras = np.asarray(docs[d : d + docs_per_chunk])
        n_paras = int(doc_paras.sum())
        para_counts = np.asarray(paras[p : p + n_paras])
        n_hashes = int(para_counts.sum())
        yield doc_paras, para_counts, np.asarray(hashes[h : h + n_hashes])
        p += n_paras
        h += n_hashes


Batch = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # (record, paragraph, n-grams, hashes)


def ngram_batches(chunks: Iterator[Chunk], limit: int) -> Iterator[Batch]:
    """Regroup paragraphs into batches of at most ``limit`` n-grams (a bigger one alone).

    Greedy in paragraph order, so batches (and results) do not depend on how documents
    arrived in chunks. Each batch carries the record and the paragraph index of every
    paragraph, so a long document may span batches.
    """
    pending: list[Batch] = []
    pending_ngrams = 0
    first_record = 0

    def flush() -> Batch:
        nonlocal pending, pending_ngrams
        out = tuple(np.concatenate([b[k] for b in pending]) for k in range(4))
        pending, pending_ngrams = [], 0
        return out  # type: ignore[return-value]

    for doc_paras, para_counts, hashes in chunks:
        n_docs = len(doc_paras)
        record = first_record + np.repeat(np.arange(n_docs, dtype=np.int64), doc_paras)
        index = np.arange(len(para_counts), dtype=np.int64) - np.repeat(np.cumsum(doc_paras) - doc_paras, doc_paras)
        first_record += n_docs
        cum = np.zeros(len(para_counts) + 1, dtype=np.int64)
        np.cumsum(para_counts, out=cum[1:])
        i, n = 0, len(para_counts)
        while i < n:
            j = int(np.searchsorted(cum, cum[i] + limit - pending_ngrams, side="right")) - 1
            if j <= i:
                if pending:
                    yield flush()
                    continue
                j = i + 1  # one paragraph bigger than a batch is a batch of its own
            pending.append((record[i:j], index[i:j], para_counts[i:j], hashes[cum[i] : cum[j]]))
            pending_ngrams += int(cum[j] - cum[i])
            i = j
            if i < n:
                yield flush()
    if pending:
        yield flush()


class _Growing:
    """An int64 array indexed by record that grows as records arrive."""

    def __init__(self) -> None:
        self.data = np.zeros(1024, dtype=np.int64)
        self.size = 0

    def add(self, records: np.ndarray, values: np.ndarray) -> None:
        top = int(records.max()) + 1 if len(records) else 0
        if top > len(self.data):
            self.data = np.concatenate([self.data, np.zeros(max(top, 2 * len(self.data)) - len(self.data), np.int64)])
        self.size = max(self.size, top)
        np.add.at(self.data, records, values)

    def array(self, size: int) -> np.ndarray:
        out = np.zeros(size, dtype=np.int64)
        out[: min(size, self.size)] = self.data[: min(size, self.size)]
        return out


def filter_documents(chunks: Iterator[Chunk], cfg: BffConfig, bloom: Filter, n_docs: Callable[[], int]) -> dict[str, np.ndarray]:
    """Run a shard's paragraphs through the filter in order; the shard's decision arrays.

    Memory: the filter, one batch, and O(documents + removed paragraphs) of results.
    ``n_docs`` gives the shard's document count once the chunks are consumed.
    """
    contained_by_doc = _Growing()
    total_by_doc = _Growing()
    removed_rec: list[np.ndarray] = []
    removed_idx: list[np.ndarray] = []
    for record, index, para_counts, hashes in ngram_batches(chunks, cfg.batch_ngrams):
        removed, contained = decide_batch(hashes, para_counts, bloom, cfg.threshold)
        contained_by_doc.add(record, contained)
        total_by_doc.add(record, para_counts.astype(np.int64))
        removed_rec.append(record[removed])
        removed_idx.append(index[removed])
    count = n_docs()
    doc_contained = contained_by_doc.array(count)
    doc_total = total_by_doc.array(count)
    ratio = np.divide(doc_contained, doc_total, out=np.zeros(count), where=doc_total > 0)
    doc_removed = (doc_total > 0) & (ratio > cfg.threshold)
    rec = np.concatenate(removed_rec) if removed_rec else np.zeros(0, np.int64)
    idx = np.concatenate(removed_idx) if removed_idx else np.zeros(0, np.int64)
    keep = ~doc_removed[rec] if len(rec) else np.zeros(0, bool)
    drop_rec = np.flatnonzero(doc_removed)
    return {
        "drop_rec": drop_rec,
        "drop_dup": np.full(len(drop_rec), NO_NODE, dtype=np.uint64),
        "para_rec": rec[keep],
        "para_idx": idx[keep],
        f"meta_{META_KEY}": doc_contained,
    }


def filter_shard_file(root: Path, shard: ShardRef, cfg: BffConfig, bloom: Filter, stored: bool) -> dict[str, int]:
    """Filter one input shard (n-grams from scratch files, or hashed while reading)."""
    counts = ReadCounts()
    if stored:
        docs = _ngram_files(root, shard)["docs"]
        chunks = stored_chunks(root, shard)

        def n_docs() -> int:
            return docs.stat().st_size // 8
    else:
        chunks = computed_chunks(shard, cfg, counts)

        def n_docs() -> int:
            return counts.documents
    decisions = filter_documents(chunks, cfg, bloom, n_docs)
    save_arrays(root / "decisions" / f"shard-{shard.index:05d}" / "bff.npz", **decisions)
    return {"documents_removed": len(decisions["drop_rec"]),
            "paragraphs_removed": len(decisions["para_rec"])}


@dataclass(frozen=True)
class FilterTask:
    """One dedup shard: its input shards (in order) and its filter plan."""

    name: str
    shards: tuple[ShardRef, ...]
    plan: BloomPlan
    config: BffConfig
    root: str
    stored: bool


# How far the n-grams a filter received may exceed ``expected_ngrams`` before the run is
# stopped: at twice its size, a filter planned for a 1% false-positive rate answers "seen"
# for about 15% of new n-grams, and BFF removes that much unique text.
OVERFULL_FACTOR = 2.0


def check_not_overfull(plan: BloomPlan, fill: float, config: BffConfig) -> None:
    """Raise `GristmillError` when a filter sized by ``expected_ngrams`` received far more
    n-grams: its false positives would remove unique paragraphs as duplicates.

    The distinct n-grams a filter holds follow from its share of set bits (Swamidass & Baldi
    2007, J. Chem. Inf. Model. 47(3), eq. 3): ``n = -(m / k) ln(1 - X/m)``. A filter with every
    bit set gives no estimate; filling all ``m`` bits takes about ``(m / k) ln m`` n-grams
    (the coupon collector's expectation, ``k`` bits per n-gram), so it held at least about that.
    """
    if not config.expected_ngrams:
        return  # sized from the exact count: never overfull
    bits = plan.allocated_bytes * 8
    if fill >= 1.0:
        received = (f"so many distinct n-grams that all {bits:,} of its bits are set (about "
                    f"{bits / plan.hashers * math.log(bits):,.0f} or more)")
        held = float("inf")
    else:
        held = -(bits / plan.hashers) * math.log1p(-fill)
        received = f"about {held:,.0f} distinct n-grams"
    if held > OVERFULL_FACTOR * config.expected_ngrams:
        raise GristmillError(
            f"the BFF filter received {received}, far above the "
            f"expected_ngrams {config.expected_ngrams:,} it was sized for: its false-positive "
            f"rate is about {fill ** plan.hashers:.2g}, not {config.fp_rate:g}; set "
            "expected_ngrams to the corpus's n-gram count (gristmill dedup plan), or 0 to "
            "count them")


def filter_dedup_shard(task: FilterTask) -> dict[str, Any]:
    """Deduplicate one dedup shard with a filter of its own (one process)."""
    started = time.perf_counter()
    bloom = BloomFilter(task.plan, seed=task.config.seed)
    per_file = [filter_shard_file(Path(task.root), s, task.config, bloom, task.stored) for s in task.shards]
    fill = bloom.fill_ratio()
    check_not_overfull(task.plan, fill, task.config)
    return {"filter_bytes": bloom.nbytes, "fill_ratio": round(fill, 6),
            "seconds": round(time.perf_counter() - started, 3),
            "paragraphs_removed": sum(r["paragraphs_removed"] for r in per_file),
            "documents_removed": sum(r["documents_removed"] for r in per_file)}
