"""Running a chain of local steps over one shard: the unit of work every executor ships.

`process_shard` is a top-level function of a picklable `ShardTask`, so the local process pool
and Ray run exactly the same code. Steps travel as config and are built (models loaded) once
per worker process. Outputs go to temporary names and are renamed on success; the done marker,
holding the shard's stats and errors, is written last. A shard without a marker is redone from
scratch, so a killed run loses or duplicates nothing.
"""

from __future__ import annotations

import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from gristmill.core.document import Document
from gristmill.core.errors import RecordError
from gristmill.core.recipe import build_step
from gristmill.core.stats import StepStats
from gristmill.core.step import Drop, Step, StepContext
from gristmill.io.atomic import stale_temps, write_atomic
from gristmill.io.serialize import utf8_size

BATCH_SIZE = 256
READER_STEP = "read"


@dataclass(frozen=True)
class ShardTask:
    """Everything a worker needs to process one shard (all picklable)."""

    shard: str
    input_path: str
    steps: tuple[tuple[str, dict[str, Any]], ...]
    output_path: str
    marker_path: str
    seed: int = 0
    assets: str | None = None
    dropped_dir: str | None = None
    quarantine_path: str | None = None
    count_reader: bool = True
    source_label: str = ""
    # Recipe-wide names of the steps (a repeated step is "name#2", ...), for stats and
    # dropped-document folders; empty means the step names themselves.
    labels: tuple[str, ...] = ()


@dataclass
class ShardResult:
    """What a shard reports: per-step stats (reader first), errors, skipped record kinds."""

    shard: str
    steps: list[StepStats]
    errors: list[dict[str, Any]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "shard": self.shard,
            "steps": [s.to_dict() for s in self.steps],
            "errors": self.errors,
            "skipped": dict(sorted(self.skipped.items())),
            "seconds": round(self.seconds, 4),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ShardResult:
        return cls(
            shard=d["shard"],
            steps=[StepStats.from_dict(s) for s in d["steps"]],
            errors=d.get("errors", []),
            skipped=Counter(d.get("skipped", {})),
            seconds=d.get("seconds", 0.0),
        )


# Built steps per worker process, keyed by their config: models load once per worker.
_STEP_CACHE: dict[bytes, list[Step]] = {}


def _built_steps(task: ShardTask) -> list[Step]:
    key = orjson.dumps([task.steps, task.seed, task.assets], option=orjson.OPT_SORT_KEYS)
    steps = _STEP_CACHE.get(key)
    if steps is None:
        context = StepContext(seed=task.seed, assets=Path(task.assets) if task.assets else None)
        steps = [build_step(name, dict(kwargs)) for name, kwargs in task.steps]
        for step in steps:
            step.setup(context)
        _STEP_CACHE[key] = steps
    return steps


def step_labels(names: list[str]) -> list[str]:
    """Names for the stats table: a step used more than once gets ``#2``, ``#3``, ..."""
    seen: Counter[str] = Counter()
    labels = []
    for name in names:
        seen[name] += 1
        labels.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return labels


def _doc_bytes(doc: Document) -> int:
    if doc.content is not None and not doc.text:
        return len(doc.content)
    return utf8_size(doc.text)


def _where(doc: Document) -> dict[str, Any]:
    meta = doc.metadata
    offset = meta.get("record_offset", meta.get("record_index"))
    return {"file": meta.get("source_file", ""), "offset": offset, "id": doc.id}


class _ShardRun:
    """State of one shard being processed (writers, stats, errors)."""

    def __init__(self, task: ShardTask, steps: list[Step]) -> None:
        from gristmill.io.writers import open_writer

        self.task = task
        self.steps = steps
        labels = task.labels or tuple(step_labels([s.name for s in steps]))
        self.stats = [StepStats(label) for label in labels]
        self.reader_stats = StepStats(READER_STEP)
        self.errors: list[dict[str, Any]] = []
        self.out = open_writer(task.output_path)
        self.dropped: dict[tuple[str, str], Any] = {}
        self.quarantine = None
        self._open_writer = open_writer

    def _write_dropped(self, step: Step, label: str, doc: Document, reason: str) -> None:
        if self.task.dropped_dir is None:
            return
        key = (label, reason)
        writer = self.dropped.get(key)
        if writer is None:
            path = Path(self.task.dropped_dir) / label / reason / f"{self.task.shard}.jsonl.zst"
            path.parent.mkdir(parents=True, exist_ok=True)
            writer = self._open_writer(path)
            self.dropped[key] = writer
        doc.content = None
        doc.metadata["drop_step"] = step.name
        doc.metadata["drop_reason"] = reason
        writer.write(doc)

    def _quarantine(self, doc: Document) -> None:
        if self.task.quarantine_path is None:
            return
        if self.quarantine is None:
            Path(self.task.quarantine_path).parent.mkdir(parents=True, exist_ok=True)
            self.quarantine = self._open_writer(self.task.quarantine_path)
        doc.content = None
        self.quarantine.write(doc)

    def _apply(self, step: Step, batch: list[Document]) -> list[Document | Drop | BaseException]:
        try:
            return list(step.apply_batch(batch))
        except Exception:  # isolate the bad document(s) one by one
            results: list[Document | Drop | BaseException] = []
            for doc in batch:
                try:
                    results.append(step.apply(doc))
                except Exception as exc:
                    results.append(exc)
            return results

    def flush(self, batch: list[Document], sizes: list[int]) -> None:
        """Run the steps over a batch (``sizes``: each document's bytes, measured on reading)."""
        for step, stats in zip(self.steps, self.stats, strict=True):
            if not batch:
                return
            texts = [d.text for d in batch]
            t0 = time.process_time()
            results = self._apply(step, batch)
            stats.seconds += time.process_time() - t0
            stats.docs_in += len(batch)
            stats.bytes_in += sum(sizes)
            kept: list[Document] = []
            kept_sizes: list[int] = []
            for doc, old_text, size, result in zip(batch, texts, sizes, results, strict=True):
                if isinstance(result, Document):
                    if result.text is not old_text or result is not doc:
                        size = _doc_bytes(result)
                    kept.append(result)
                    kept_sizes.append(size)
                elif isinstance(result, Drop):
                    stats.dropped[result.reason] += 1
                    self._write_dropped(step, stats.name, doc, result.reason)
                else:
                    stats.errors += 1
                    message = "".join(traceback.format_exception_only(type(result), result)).strip()
                    self.errors.append({**_where(doc), "step": step.name, "message": message})
                    self._quarantine(doc)
            stats.docs_out += len(kept)
            stats.bytes_out += sum(kept_sizes)
            batch, sizes = kept, kept_sizes
        for doc in batch:
            doc.content = None
            self.out.write(doc)

    def close(self, ok: bool) -> None:
        writers = [self.out, *self.dropped.values()]
        if self.quarantine is not None:
            writers.append(self.quarantine)
        for w in writers:
            # close renames the temporary file into place; abort removes it.
            if ok:
                w.close()
            else:
                w.abort()


def _remove_stale_temps(task: ShardTask) -> None:
    """Delete temporary files a killed earlier attempt at this shard left behind."""
    outputs = [Path(task.output_path), Path(task.marker_path)]
    if task.quarantine_path:
        outputs.append(Path(task.quarantine_path))
    if task.dropped_dir:
        outputs += [d / f"{task.shard}.jsonl.zst" for d in Path(task.dropped_dir).glob("*/*")]
    for out in outputs:
        for stale in stale_temps(out):
            stale.unlink(missing_ok=True)


def process_shard(task: ShardTask) -> ShardResult:
    """Run the task's steps over its input file; write outputs, then the done marker."""
    from gristmill.io.readers import read_documents

    started = time.perf_counter()
    _remove_stale_temps(task)
    steps = _built_steps(task)
    Path(task.output_path).parent.mkdir(parents=True, exist_ok=True)
    run = _ShardRun(task, steps)
    ok = False
    reader = read_documents(task.input_path)
    try:
        batch: list[Document] = []
        sizes: list[int] = []
        for item in reader:
            if isinstance(item, RecordError):
                run.reader_stats.errors += 1
                run.errors.append({
                    "file": task.source_label or item.source,
                    "offset": item.offset,
                    "step": READER_STEP,
                    "message": item.message,
                })
                continue
            run.reader_stats.docs_in += 1
            run.reader_stats.docs_out += 1
            size = _doc_bytes(item)
            run.reader_stats.bytes_in += size
            run.reader_stats.bytes_out += size
            batch.append(item)
            sizes.append(size)
            if len(batch) >= BATCH_SIZE:
                run.flush(batch, sizes)
                batch, sizes = [], []
        run.flush(batch, sizes)
        ok = True
    finally:
        run.close(ok)
    run.reader_stats.docs_in += run.reader_stats.errors
    skipped = Counter(getattr(reader, "skipped", {}))
    all_stats = ([run.reader_stats] if task.count_reader else []) + run.stats
    result = ShardResult(task.shard, all_stats, run.errors, skipped,
                         time.perf_counter() - started)
    write_atomic(Path(task.marker_path),
                 orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2))
    return result


def read_marker(path: Path) -> ShardResult | None:
    """The stats of a finished shard, or None if it has not finished."""
    try:
        return ShardResult.from_dict(orjson.loads(path.read_bytes()))
    except (FileNotFoundError, orjson.JSONDecodeError, KeyError):
        return None

