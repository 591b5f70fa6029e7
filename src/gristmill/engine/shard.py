"""Running a chain of local steps over one shard: the unit of work every executor ships.

`process_shard` is a top-level function of a picklable `ShardTask`, so the local process pool
and Ray run exactly the same code. Steps travel as config and are built (models loaded) once
per worker process (after importing the task's plugin modules, so a user's own steps resolve
on any worker). Documents go through `gristmill.engine.chain.StepChain`, the one step runner.
Outputs go to temporary names and are renamed on success; the done marker, holding the
shard's stats and errors, is written last. A shard without a marker is redone from scratch,
so a killed run loses or duplicates nothing (the pipeline removes a killed attempt's
temporary files, under the output folder's lock, before any shard starts).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from gristmill.core.document import Document
from gristmill.core.errors import GristmillError, RecordError
from gristmill.core.stats import StepStats
from gristmill.core.step import Step, StepContext
from gristmill.engine.chain import StepChain, doc_bytes, where
from gristmill.engine.registry import build_step, import_plugins
from gristmill.io.atomic import write_atomic
from gristmill.io.readers import read_documents
from gristmill.io.writers import open_writer

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
    # Modules that register the recipe's own steps; every worker imports them first.
    plugins: tuple[str, ...] = ()


@dataclass
class ShardResult:
    """What a shard reports: per-step stats (reader first), errors, skipped record kinds."""

    shard: str
    steps: list[StepStats]
    errors: list[dict[str, Any]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    # Why the shard's input could not be read to its end (it is then not done: no marker,
    # no outputs, and a rerun redoes it); None for a finished shard.
    failed: str | None = None

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
    key = orjson.dumps([task.steps, task.seed, task.assets, task.plugins], option=orjson.OPT_SORT_KEYS)
    steps = _STEP_CACHE.get(key)
    if steps is None:
        import_plugins(task.plugins)
        context = StepContext(seed=task.seed, assets=Path(task.assets) if task.assets else None)
        steps = [build_step(name, dict(kwargs)) for name, kwargs in task.steps]
        for step in steps:
            step.setup(context)
        _STEP_CACHE[key] = steps
    return steps


class _ShardRun:
    """State of one shard being processed: the step chain, its writers and errors."""

    def __init__(self, task: ShardTask, steps: list[Step]) -> None:
        self.task = task
        self.chain = StepChain(steps, task.labels)
        self.reader_stats = StepStats(READER_STEP)
        self.errors: list[dict[str, Any]] = []
        self.out = open_writer(task.output_path)
        self.dropped: dict[tuple[str, str], Any] = {}
        self.quarantine = None

    def _write_dropped(self, step: Step, label: str, doc: Document, reason: str) -> None:
        if self.task.dropped_dir is None:
            return
        key = (label, reason)
        writer = self.dropped.get(key)
        if writer is None:
            path = Path(self.task.dropped_dir) / label / reason / f"{self.task.shard}.jsonl.zst"
            path.parent.mkdir(parents=True, exist_ok=True)
            writer = open_writer(path)
            self.dropped[key] = writer
        doc.content = None
        doc.metadata["drop_step"] = step.name
        doc.metadata["drop_reason"] = reason
        writer.write(doc)

    def _error(self, step: Step, doc: Document, message: str) -> None:
        self.errors.append({**where(doc), "step": step.name, "message": message})
        if self.task.quarantine_path is None:
            return
        if self.quarantine is None:
            Path(self.task.quarantine_path).parent.mkdir(parents=True, exist_ok=True)
            self.quarantine = open_writer(self.task.quarantine_path)
        doc.content = None
        self.quarantine.write(doc)

    def flush(self, batch: list[Document], sizes: list[int]) -> None:
        """Run the steps over a batch (``sizes``: each document's bytes, measured on reading)."""
        kept, _ = self.chain.run(batch, sizes, self._write_dropped, self._error)
        for doc in kept:
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


class _InputBroke(Exception):
    """The input stream itself failed (missing, unreachable, a transfer that could not be
    completed): not one bad record but the rest of the file unread."""


def _guarded(reader: Any) -> Iterator[Document | RecordError]:
    """The reader's items; a failure of the input itself becomes `_InputBroke`, so that it is
    told apart from the failures of steps."""
    try:
        yield from reader
    except GristmillError as exc:
        raise _InputBroke(str(exc)) from exc


def process_shard(task: ShardTask) -> ShardResult:
    """Run the task's steps over its input file; write outputs, then the done marker.

    An input that cannot be read to its end (missing, unreachable, a broken transfer that
    retries could not complete) leaves the shard not done: its outputs are removed, no
    marker is written, and the result's ``failed`` says why.
    """
    started = time.perf_counter()
    steps = _built_steps(task)
    Path(task.output_path).parent.mkdir(parents=True, exist_ok=True)
    try:
        reader = read_documents(task.input_path)
    except GristmillError as exc:
        return ShardResult(task.shard, [], failed=str(exc))
    run = _ShardRun(task, steps)
    ok = False
    try:
        batch: list[Document] = []
        sizes: list[int] = []
        for item in _guarded(reader):
            if isinstance(item, RecordError):
                run.reader_stats.errors += item.count
                run.errors.append({
                    "file": task.source_label or item.source,
                    "offset": item.offset,
                    "step": READER_STEP,
                    "message": item.message,
                    **({"records": item.count} if item.count > 1 else {}),
                })
                continue
            run.reader_stats.docs_in += 1
            run.reader_stats.docs_out += 1
            size = doc_bytes(item)
            run.reader_stats.bytes_in += size
            run.reader_stats.bytes_out += size
            batch.append(item)
            sizes.append(size)
            if len(batch) >= BATCH_SIZE:
                run.flush(batch, sizes)
                batch, sizes = [], []
        run.flush(batch, sizes)
        ok = True
    except _InputBroke as exc:
        return ShardResult(task.shard, [], failed=str(exc), seconds=time.perf_counter() - started)
    finally:
        run.close(ok)
    run.reader_stats.docs_in += run.reader_stats.errors
    skipped = Counter(getattr(reader, "skipped", {}))
    all_stats = ([run.reader_stats] if task.count_reader else []) + run.chain.stats
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

