"""The frame every dedup method runs in: shards, scratch folder, phases, final rewrite."""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from gristmill.core.stats import StepStats
from gristmill.core.step import GlobalTask
from gristmill.dedup.output import WriteTask, write_shard
from gristmill.dedup.scratch import ShardRef, input_fingerprint, open_scratch, run_phase

T = TypeVar("T")

# Partitions of intermediate files (bucket records, edges, keys) when the config leaves it
# to us: one per 32 MiB of input files, at least 16, at most 256 (shards x partitions files
# are written). Results never depend on the number (every grouping is by key and every
# survivor is a minimum), only memory does.
MIN_AUTO_PARTITIONS = 16
MAX_AUTO_PARTITIONS = 256
INPUT_BYTES_PER_PARTITION = 32 << 20


def resolve_partitions(requested: int, shards: Sequence[ShardRef]) -> int:
    """``requested`` if positive, else a count scaled to the input size."""
    if requested > 0:
        return requested
    total = sum(os.path.getsize(s.path) for s in shards if os.path.exists(s.path))
    auto = math.ceil(total / INPUT_BYTES_PER_PARTITION)
    return max(MIN_AUTO_PARTITIONS, min(MAX_AUTO_PARTITIONS, auto))


@dataclass
class DedupJob:
    """One dedup method over one corpus.

    Attributes:
        step: the registered step name (stats name, scratch sub-folder).
        reason: drop reason of removed documents.
        shards: input shards in shard order.
        root: scratch folder of this job (fingerprinted, kept for resume).
        out_dir: surviving documents go to ``out_dir/<shard>.jsonl.zst``.
        dropped_dir: removed documents go under it when set.
        executor: local or Ray executor.
    """

    step: str
    reason: str
    shards: list[ShardRef]
    root: Path
    out_dir: Path
    dropped_dir: Path | None
    executor: Any
    seconds: float = 0.0  # wall time of the phases before ``write``

    @classmethod
    def open(cls, step: str, reason: str, task: GlobalTask, config: dict[str, Any]) -> DedupJob:
        shards = [ShardRef(i, name, str(path)) for i, (name, path) in enumerate(task.inputs)]
        if len({s.name for s in shards}) != len(shards):
            raise ValueError(f"{step}: two input shards share a name")
        fingerprint = {"step": step, "config": config, "inputs": input_fingerprint(shards)}
        root = open_scratch(Path(task.work_dir) / step, fingerprint)
        return cls(step, reason, shards, root, Path(task.out_dir),
                   Path(task.dropped_dir) if task.dropped_dir is not None else None, task.executor)

    @property
    def ids_dir(self) -> Path:
        return self.root / "ids"

    @contextlib.contextmanager
    def timed(self) -> Iterator[None]:
        """Count the wall time of work run outside `phase` (driver-side passes)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - started

    def phase(self, name: str, fn: Callable[[T], Any], tasks: Sequence[T], names: Sequence[str]) -> list[Any]:
        with self.timed():
            return run_phase(self.executor, self.root, name, fn, tasks, names)

    def shard_phase(self, name: str, fn: Callable[[T], Any], tasks: Sequence[T]) -> list[Any]:
        """A phase with one task per input shard (tasks in shard order)."""
        return self.phase(name, fn, tasks, [f"{s.index:05d}" for s in self.shards])

    def write(self, decisions: Callable[[ShardRef], Sequence[str]], with_ids: bool) -> dict[str, StepStats]:
        """Rewrite every shard from its decision files; ``{shard name: StepStats}``."""
        tasks = [
            WriteTask(
                step=self.step,
                reason=self.reason,
                shard=s,
                decisions=tuple(decisions(s)),
                out_path=str(self.out_dir / f"{s.name}.jsonl.zst"),
                dropped_dir=str(self.dropped_dir) if self.dropped_dir is not None else None,
                ids_dir=str(self.ids_dir) if with_ids else None,
            )
            for s in self.shards
        ]
        before = self.seconds
        results = self.shard_phase("write", write_shard, tasks)
        stats = {s.name: StepStats.from_dict(r) for s, r in zip(self.shards, results, strict=True)}
        for st in stats.values():  # the shared phases' time, spread evenly over the shards
            st.seconds += before / max(1, len(stats))
        return stats


def decision_files(folder: Path) -> Callable[[ShardRef], list[str]]:
    """Decision files of a shard written as ``folder/shard-<index>/*.npz`` (sorted)."""

    def files(shard: ShardRef) -> list[str]:
        d = folder / f"shard-{shard.index:05d}"
        return [str(p) for p in sorted(d.glob("*.npz"))] if d.is_dir() else []

    return files
