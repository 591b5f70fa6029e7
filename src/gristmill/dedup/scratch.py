"""Scratch files and resumable phases shared by the three dedup jobs.

A dedup job is a few phases, each a list of independent tasks run through the executor. A
task writes its files under a temporary name and renames them into place; when it returns, the
driver writes the task's done marker (its small JSON result). A rerun skips every task with a
marker, so a killed job resumes where it stopped and, because each task's output depends only
on its inputs, finishes with the same bytes as an uninterrupted run.

The scratch folder carries a fingerprint of the job (config and input files); a mismatch wipes
it, so a changed config never resumes from stale partitions.

Documents are numbered ``node = shard_index << 32 | record_index`` (record index counts the
documents the reader yields, errors excluded): sorting node ids is corpus order, shard order
then record order, which is the order every "first copy survives" rule refers to.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import orjson

from gristmill.core.document import Document
from gristmill.core.errors import InputError, RecordError
from gristmill.io.atomic import atomic_output, write_atomic
from gristmill.io.readers import read_documents
from gristmill.io.serialize import utf8_size

T = TypeVar("T")

NO_NODE = np.uint64(0xFFFFFFFFFFFFFFFF)
SCRATCH_VERSION = 1


@dataclass(frozen=True)
class ShardRef:
    """One input shard: its position in shard order, its name and its file."""

    index: int
    name: str
    path: str


@dataclass
class ReadCounts:
    """What reading one shard met: documents, their text bytes, and bad records skipped."""

    documents: int = 0
    bytes: int = 0
    errors: int = 0
    error_messages: list[str] = field(default_factory=list)


def read_batches(
    shard: ShardRef, counts: ReadCounts, max_docs: int = 512, max_bytes: int = 1 << 20
) -> Iterator[list[Document]]:
    """The shard's documents in record order, in batches bounded by count and text size.

    Bad records are counted in ``counts`` (with their message) and skipped; they take no
    record index, so every phase numbers the same documents the same way.
    """
    batch: list[Document] = []
    size = 0
    for item in read_documents(shard.path, name=shard.name):
        if isinstance(item, RecordError):
            counts.errors += item.count
            if len(counts.error_messages) < 20:
                counts.error_messages.append(str(item))
            continue
        n = utf8_size(item.text)
        counts.documents += 1
        counts.bytes += n
        batch.append(item)
        size += n
        if len(batch) >= max_docs or size >= max_bytes:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def node_ids(shard_index: int, count: int) -> np.ndarray:
    """Node ids of records ``0..count-1`` of shard ``shard_index``."""
    return (np.uint64(shard_index) << np.uint64(32)) | np.arange(count, dtype=np.uint64)


def node_shard(nodes: np.ndarray) -> np.ndarray:
    return (np.asarray(nodes, dtype=np.uint64) >> np.uint64(32)).astype(np.int64)


def node_record(nodes: np.ndarray) -> np.ndarray:
    return (np.asarray(nodes, dtype=np.uint64) & np.uint64(0xFFFFFFFF)).astype(np.int64)


def save_arrays(path: Path, **arrays: Any) -> None:
    """Save named arrays as one uncompressed ``.npz``, atomically."""
    with atomic_output(path) as f:
        np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()})


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def scatter(out_dir: Path, name: str, part: np.ndarray, parts: int, **columns: np.ndarray) -> None:
    """Split row-aligned ``columns`` by ``part`` (each row's partition in ``[0, parts)``) into
    ``out_dir/to-<p>/<name>.npz``, one file per partition, empty ones included; rows keep
    their order within a partition."""
    order = np.argsort(part, kind="stable")
    cuts = np.searchsorted(part[order], np.arange(parts + 1))
    for p in range(parts):
        sel = order[cuts[p] : cuts[p + 1]]
        save_arrays(out_dir / f"to-{p:05d}" / f"{name}.npz", **{k: v[sel] for k, v in columns.items()})


def gather(in_dir: Path, part: int, **dtypes: Any) -> dict[str, np.ndarray]:
    """The columns named in ``dtypes`` of every file `scatter` wrote for partition ``part``,
    concatenated in file-name order (empty arrays of those dtypes when there is none)."""
    files = [load_arrays(p) for p in sorted((in_dir / f"to-{part:05d}").glob("*.npz"))]
    return {k: np.concatenate([f[k] for f in files]) if files else np.empty(0, dtype)
            for k, dtype in dtypes.items()}


def save_ids(path: Path, ids: list[str]) -> None:
    write_atomic(path, orjson.dumps(ids))


def load_ids(path: Path) -> list[str]:
    return orjson.loads(path.read_bytes())


def input_fingerprint(shards: Sequence[ShardRef]) -> list[list[Any]]:
    """Name, size and modification time of every input: enough to notice a changed input."""
    out = []
    for s in shards:
        try:
            st = os.stat(s.path)
        except OSError as exc:
            raise InputError(f"dedup input {s.path} cannot be read: {exc}") from exc
        out.append([s.name, st.st_size, st.st_mtime_ns])
    return out


def open_scratch(root: Path, fingerprint: dict[str, Any]) -> Path:
    """The job's scratch folder, emptied first when it belongs to another config or input."""
    want = orjson.dumps({"version": SCRATCH_VERSION, **fingerprint}, option=orjson.OPT_SORT_KEYS)
    marker = root / "fingerprint.json"
    if root.exists() and (not marker.is_file() or marker.read_bytes() != want):
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    if not marker.is_file():
        write_atomic(marker, want)
    return root


def run_phase(
    executor: Any,
    root: Path,
    phase: str,
    fn: Callable[[T], Any],
    tasks: Sequence[T],
    names: Sequence[str],
) -> list[Any]:
    """Run ``fn`` over the tasks without a done marker; results of all tasks in task order.

    Markers live at ``root/phase/<name>.done.json`` and hold each task's JSON result.
    """
    done_dir = root / phase
    done_dir.mkdir(parents=True, exist_ok=True)
    results: list[Any] = [None] * len(tasks)
    todo: list[int] = []
    for i, name in enumerate(names):
        marker = done_dir / f"{name}.done.json"
        if marker.is_file():
            results[i] = orjson.loads(marker.read_bytes())
        else:
            todo.append(i)
    if todo:
        pending = [tasks[i] for i in todo]
        for j, result in executor.imap(fn, pending):
            i = todo[j]
            write_atomic(done_dir / f"{names[i]}.done.json", orjson.dumps(result))
            results[i] = result
    return results


def phase_done(root: Path, phase: str, name: str) -> Any | None:
    """The result of one finished task of ``phase``, or None."""
    marker = root / phase / f"{name}.done.json"
    return orjson.loads(marker.read_bytes()) if marker.is_file() else None


def mark_done(root: Path, phase: str, name: str, result: Any) -> None:
    write_atomic(root / phase / f"{name}.done.json", orjson.dumps(result))
