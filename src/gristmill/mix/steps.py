"""The ``mix`` global step: sources by weight or token budget, upsampled with stated epochs.

Which source an input shard belongs to is given by ``fnmatch`` patterns on shard names (the
input file's path without its extension, folders joined by ``__``: ``gristmill mix`` writes
them for you); the first source whose pattern matches wins, and a shard that matches none is
an error. The arithmetic is `gristmill.mix.plan`.

Phases (`gristmill.dedup.job.DedupJob` frame, resumable, the same on every executor):

1. ``count`` (per shard): tokens of every document (a `tokenizers` JSON file, or words of
   `gristmill.text.split_words` when none is given) and a seeded hash of its node id.
2. driver: per source, the target, the epochs and the documents of the partial epoch (the
   driver holds 16 bytes per document of the source being planned).
3. ``write`` (per shard): epoch by epoch, so copies of a document lie a whole pass apart:
   pass 0 writes every document with at least one copy, pass 1 those with two, and so on.
   Copy k > 0 gets id ``<id>#<k>``; every document gets ``metadata["mix_source"]``.
   Documents with no copy are dropped (reason ``not_sampled``); stats count repeats as
   ``copies_added`` (so that kept = input - dropped + copies_added).

The report (``report``, else ``mix.json`` in the run folder) lists per source the available
and target tokens, target share, epochs, and the realized tokens and share.
"""

from __future__ import annotations

import fnmatch
import functools
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from gristmill.core.errors import GristmillError, RecordError
from gristmill.core.hashing import mix64
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
from gristmill.io.atomic import write_atomic
from gristmill.io.readers import read_documents
from gristmill.io.serialize import utf8_size
from gristmill.io.writers import open_writer
from gristmill.mix.plan import SourceTarget, extra_epoch, plan_sources
from gristmill.text import split_words

NOT_SAMPLED = "not_sampled"


@functools.cache
def _tokenizer(path: str):
    from gristmill.tokenize.vocab import load_tokenizer

    return load_tokenizer(path)


def count_tokens(texts: list[str], tokenizer: str) -> np.ndarray:
    """Tokens per text under a `tokenizers` file (no special tokens), or words without one."""
    if tokenizer:
        return np.fromiter((len(e.ids) for e in _tokenizer(tokenizer).encode_batch(texts, add_special_tokens=False)),
                           dtype=np.int64, count=len(texts))
    return np.fromiter((len(split_words(t)) for t in texts), dtype=np.int64, count=len(texts))


@dataclass(frozen=True)
class CountTask:
    shard: ShardRef
    tokenizer: str
    seed: int
    out: str


def count_shard(task: CountTask) -> dict[str, Any]:
    counts = ReadCounts()
    parts = [count_tokens([d.text for d in batch], task.tokenizer) for batch in read_batches(task.shard, counts)]
    tokens = np.concatenate(parts) if parts else np.empty(0, np.int64)
    save_arrays(Path(task.out), tokens=tokens, keys=mix64(node_ids(task.shard.index, len(tokens)), task.seed))
    return {"documents": len(tokens), "tokens": int(tokens.sum())}


@dataclass(frozen=True)
class WriteTask:
    step: str
    shard: ShardRef
    source: str
    copies: str
    out: str
    dropped_dir: str | None


def _documents(shard: ShardRef, stats: StepStats | None = None):
    """The shard's documents in record order; bad records counted in ``stats`` (when given)."""
    for item in read_documents(shard.path, name=shard.name):
        if isinstance(item, RecordError):
            if stats is not None:
                stats.errors += 1
            continue
        yield item


def write_mixed(task: WriteTask) -> dict[str, Any]:
    started = time.process_time()
    copies = load_arrays(Path(task.copies))["copies"]
    stats = StepStats(task.step)
    dropped = None
    # The dropped-documents file is opened on the first drop; the stack closes it (or removes
    # it on an error) as `open_writer`'s own context would.
    with ExitStack() as stack:
        for rec, doc in enumerate(_documents(task.shard, stats)):
            stats.docs_in += 1
            stats.bytes_in += utf8_size(doc.text)
            if copies[rec] == 0:
                stats.dropped[NOT_SAMPLED] += 1
                if task.dropped_dir is not None:
                    if dropped is None:
                        path = Path(task.dropped_dir) / NOT_SAMPLED / f"{task.shard.name}.jsonl.zst"
                        dropped = stack.enter_context(open_writer(path))
                    doc.metadata["drop_reason"] = NOT_SAMPLED
                    dropped.write(doc)
        with open_writer(task.out) as out:
            for k in range(int(copies.max()) if len(copies) else 0):  # pass k: the k-th copies
                for rec, doc in enumerate(_documents(task.shard)):
                    if copies[rec] <= k:
                        continue
                    doc.metadata["mix_source"] = task.source
                    if k:
                        doc.metadata["mix_copy"] = k
                        doc.id = f"{doc.id}#{k}"
                    out.write(doc)
                    stats.docs_out += 1
                    stats.bytes_out += utf8_size(doc.text)
    stats.extra["copies_added"] = int(np.maximum(copies.astype(np.int64) - 1, 0).sum())
    stats.seconds = time.process_time() - started
    return stats.to_dict()


def _patterns(spec: dict[str, Any]) -> list[str]:
    match = spec.get("match", [])
    return [match] if isinstance(match, str) else list(match)


def source_of(shard: str, sources: dict[str, dict[str, Any]]) -> str | None:
    for name, spec in sources.items():
        if any(fnmatch.fnmatchcase(shard, p) for p in _patterns(spec)):
            return name
    return None


@register("mix")
class Mix(GlobalStep):
    """Mix sources to target token shares or budgets (module docstring; `gristmill.mix.plan`).

    Args:
        sources: ``{name: {match: [shard-name patterns], weight: w}}`` or ``{..., tokens: n}``.
        total_tokens: with weights, the mixed corpus's size (0: the largest that repeats no source).
        tokenizer: a `tokenizers` JSON file to count tokens with ("" counts words).
        max_epochs: most times a source may be repeated (10).
        report: where the JSON report goes (default ``mix.json`` in the run folder).
    """

    def __init__(self, *, sources: dict[str, dict], total_tokens: int = 0, tokenizer: str = "",
                 max_epochs: float = 10.0, report: str = "") -> None:
        if not sources:
            raise ValueError("give at least one source")
        for name, spec in sources.items():
            unknown = set(spec) - {"match", "weight", "tokens"}
            if unknown:
                raise ValueError(f"source {name!r}: unknown key(s) {', '.join(sorted(unknown))}")
            if ("weight" in spec) == ("tokens" in spec):
                raise ValueError(f"source {name!r}: give exactly one of weight or tokens")
            if not _patterns(spec) or not all(isinstance(p, str) for p in _patterns(spec)):
                raise ValueError(f"source {name!r}: 'match' must be a shard-name pattern or a list of them")
        if total_tokens < 0 or max_epochs <= 0:
            raise ValueError("total_tokens must be >= 0 and max_epochs > 0")

    def run(self, task: GlobalTask) -> dict[str, StepStats]:
        cfg = self.config
        seed = task.context.seed
        job = DedupJob.open(self.name, NOT_SAMPLED, task, {**cfg, "seed": seed})
        owner = {s.index: source_of(s.name, cfg["sources"]) for s in job.shards}
        lost = [s.name for s in job.shards if owner[s.index] is None]
        if lost:
            raise GristmillError(f"mix: shard(s) {', '.join(lost[:5])} match no source's patterns")
        files = [str(job.root / "counts" / f"{s.index:05d}.npz") for s in job.shards]
        tokenizer = str(Path(cfg["tokenizer"]).resolve()) if cfg["tokenizer"] else ""
        job.shard_phase("count", count_shard, [CountTask(s, tokenizer, seed, f)
                                               for s, f in zip(job.shards, files, strict=True)])
        with job.timed():
            report = self._plan(job, owner, files, tokenizer, seed)
            run_dir = Path(task.context.extra.get("run_dir", task.out_dir.parent))
            write_atomic(Path(cfg["report"]) if cfg["report"] else run_dir / "mix.json",
                         orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
        results = job.shard_phase("write", write_mixed, [
            WriteTask(self.name, s, owner[s.index] or "", str(job.root / "copies" / f"{s.index:05d}.npz"),
                      str(job.out_dir / f"{s.name}.jsonl.zst"),
                      str(job.dropped_dir) if job.dropped_dir is not None else None)
            for s in job.shards])
        stats = {s.name: StepStats.from_dict(r) for s, r in zip(job.shards, results, strict=True)}
        for st in stats.values():
            st.seconds += job.seconds / max(1, len(stats))
            st.info["sources"] = {k: {"target_share": v["target_share"], "realized_share": v["realized_share"],
                                      "epochs": v["epochs"]} for k, v in report["sources"].items()}
        return stats

    def _plan(self, job: DedupJob, owner: dict[int, str | None], files: list[str], tokenizer: str,
              seed: int) -> dict:
        cfg = self.config
        arrays = {s.index: load_arrays(Path(f)) for s, f in zip(job.shards, files, strict=True)}
        members = {name: [s for s in job.shards if owner[s.index] == name] for name in cfg["sources"]}
        available = {n: int(sum(arrays[s.index]["tokens"].sum() for s in m)) for n, m in members.items()}
        documents = {n: sum(len(arrays[s.index]["tokens"]) for s in m) for n, m in members.items()}
        targets = [SourceTarget(n, spec.get("weight"), spec.get("tokens")) for n, spec in cfg["sources"].items()]
        plans = plan_sources(targets, available, documents, cfg["total_tokens"], cfg["max_epochs"])
        realized: dict[str, int] = {}
        for plan in plans:
            shards = members[plan.name]
            tokens = [arrays[s.index]["tokens"] for s in shards]
            keys = [arrays[s.index]["keys"] for s in shards]
            flat = np.concatenate(tokens) if tokens else np.empty(0, np.int64)
            more = extra_epoch(np.concatenate(keys) if keys else np.empty(0, np.uint64), flat, plan.remainder)
            copies = plan.full_epochs + more.astype(np.int64)
            realized[plan.name] = int((copies * flat).sum())
            cuts = np.cumsum([0, *[len(t) for t in tokens]])
            for s, a, b in zip(shards, cuts[:-1], cuts[1:], strict=True):
                save_arrays(job.root / "copies" / f"{s.index:05d}.npz", copies=copies[a:b].astype(np.int32))
        total = sum(realized.values())
        return {
            "unit": f"tokens ({Path(tokenizer).name})" if tokenizer else "words (gristmill.text.split_words)",
            "seed": seed,
            "total_tokens_target": round(sum(p.target_tokens for p in plans), 3),
            "total_tokens_realized": total,
            "sources": {p.name: {
                "shards": [s.name for s in members[p.name]],
                "documents": p.documents,
                "available_tokens": p.available_tokens,
                "target_tokens": round(p.target_tokens, 3),
                "target_share": round(p.target_share, 6),
                "epochs": round(p.epochs, 6),
                "full_epochs": p.full_epochs,
                "realized_tokens": realized[p.name],
                "realized_share": round(realized[p.name] / total, 6) if total else 0.0,
            } for p in plans},
        }

