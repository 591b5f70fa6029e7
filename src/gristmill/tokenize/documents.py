"""Document input for tokenization: the shared io readers, grouped into encode batches that a
reader thread prepares while the tokenizer encodes the previous batch.

The io package (``gristmill.io``) reads every supported format (.jsonl/.gz/.zst with orjson,
Parquet, WARC). Reading, JSON parsing and the MeCo metadata strings are Python work; encoding
runs in Rust with the GIL released, so a reader thread overlaps the two (`prefetch`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from gristmill.core.document import Document
from gristmill.core.errors import RecordError
from gristmill.io.paths import expand_inputs
from gristmill.io.readers import read_documents

__all__ = ["Batch", "document_batches", "expand_inputs", "prefetch", "read_documents"]

T = TypeVar("T")

#: Most documents per `encode_batch` call: large batches keep every Rayon thread busy to the end
#: of the batch (the longest document decides when a batch ends).
BATCH_DOCS = 2048
#: Most characters per batch, so that a file of very long pages does not build a huge batch.
BATCH_CHARS = 16 << 20


@dataclass
class Batch:
    """Consecutive documents of one file that go to one data phase."""

    phase: str
    docs: list[Document] = field(default_factory=list)
    chars: int = 0


@dataclass
class ReadReport:
    """What the reader saw besides documents (filled in while batches are consumed)."""

    errors: list[RecordError] = field(default_factory=list)
    empty: int = 0


def document_batches(
    source: str,
    phase_of: Callable[[Document], str],
    report: ReadReport,
    *,
    max_docs: int | None = None,
    max_chars: int | None = None,
) -> Iterator[Batch]:
    """Documents of ``source`` with text, in file order, grouped per phase into batches of at
    most ``max_docs`` documents / ``max_chars`` characters (default `BATCH_DOCS`, `BATCH_CHARS`).

    Each phase's batch is emitted when it is full, so within a phase documents keep file order.
    Bad records go to ``report.errors`` and empty documents are counted in ``report.empty``.
    """
    max_docs = max_docs or BATCH_DOCS
    max_chars = max_chars or BATCH_CHARS
    open_batches: dict[str, Batch] = {}
    for item in read_documents(source):
        if isinstance(item, RecordError):
            report.errors.append(item)
            continue
        if not item.text:
            report.empty += 1
            continue
        phase = phase_of(item)
        batch = open_batches.get(phase)
        if batch is None:
            batch = open_batches[phase] = Batch(phase)
        batch.docs.append(item)
        batch.chars += len(item.text)
        if len(batch.docs) >= max_docs or batch.chars >= max_chars:
            yield open_batches.pop(phase)
    yield from open_batches.values()


_DONE = object()


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Iterate ``items`` in a background thread, up to ``depth`` items ahead of the consumer.

    An exception in the producer is re-raised in the consumer. If the consumer stops early,
    the producer is told to stop at its next item.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                q.put(item)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            q.put(exc)
            return
        q.put(_DONE)

    thread = threading.Thread(target=produce, name="gristmill-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.01)
