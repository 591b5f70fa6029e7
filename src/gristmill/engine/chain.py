"""The one step runner: a chain of local steps applied to batches of documents.

`gristmill run` (through `gristmill.engine.shard`), `gristmill dedup`, the funnel helper and
the tests all push documents through `StepChain.run`, so what tests exercise is what
production runs. For each step it counts documents and bytes in and out, drops by reason and
errors, and hands every dropped or failed document to the caller.

A step that raises never changes what it is retried on: a step with the default
`Step.apply_batch` is applied one document at a time, each in its own ``try``; a step that
overrides ``apply_batch`` (vectorised rules, batched model calls) gets the batch, and if the
call raises, every document is retried alone *from a copy taken before the call*, so a
modifier that already rewrote part of the batch is never applied twice.
"""

from __future__ import annotations

import copy
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gristmill.core.document import Document
from gristmill.core.stats import StepStats
from gristmill.core.step import Drop, Step
from gristmill.io.serialize import utf8_size

Result = Document | Drop | BaseException
DropHandler = Callable[[Step, str, Document, str], None]
ErrorHandler = Callable[[Step, Document, str], None]


def doc_bytes(doc: Document) -> int:
    """The size a document is counted with: its text, or its raw payload before extraction."""
    if doc.content is not None and not doc.text:
        return len(doc.content)
    return utf8_size(doc.text)


def _overrides_batch(step: Step) -> bool:
    return type(step).apply_batch is not Step.apply_batch


def _snapshot(doc: Document) -> Document:
    return Document(doc.id, doc.text, doc.url, copy.deepcopy(doc.metadata), doc.content)


def _apply_each(step: Step, docs: Sequence[Document]) -> list[Result]:
    results: list[Result] = []
    for doc in docs:
        try:
            results.append(step.apply(doc))
        except Exception as exc:
            results.append(exc)
    return results


def apply_step(step: Step, batch: list[Document]) -> tuple[list[Document], list[Result]]:
    """Apply ``step`` to ``batch``; returns the documents the results belong to (the batch,
    or the untouched copies it was retried on) and one result per document."""
    if not _overrides_batch(step):
        return batch, _apply_each(step, batch)
    originals = [_snapshot(d) for d in batch]
    try:
        results: list[Result] = list(step.apply_batch(batch))
        if len(results) != len(batch):
            raise RuntimeError(
                f"{step.name}.apply_batch returned {len(results)} results for {len(batch)} documents"
            )
        return batch, results
    except Exception:
        return originals, _apply_each(step, originals)


def error_message(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


@dataclass
class StepChain:
    """Local steps (already set up) with their stats labels; see the module docstring."""

    steps: list[Step]
    labels: Sequence[str] = ()
    stats: list[StepStats] = field(init=False)

    def __post_init__(self) -> None:
        labels = list(self.labels) or step_labels([s.name for s in self.steps])
        self.stats = [StepStats(label) for label in labels]

    def run(
        self,
        batch: list[Document],
        sizes: list[int] | None = None,
        on_drop: DropHandler | None = None,
        on_error: ErrorHandler | None = None,
    ) -> tuple[list[Document], list[int]]:
        """Push ``batch`` through every step; returns the survivors and their sizes.

        ``sizes`` are the documents' byte counts as measured on reading (computed when None);
        ``on_drop(step, label, doc, reason)`` and ``on_error(step, doc, message)`` receive
        each removed document.
        """
        if sizes is None:
            sizes = [doc_bytes(d) for d in batch]
        for step, stats in zip(self.steps, self.stats, strict=True):
            if not batch:
                break
            texts = [d.text for d in batch]
            t0 = time.process_time()
            docs, results = apply_step(step, batch)
            stats.seconds += time.process_time() - t0
            stats.docs_in += len(batch)
            stats.bytes_in += sum(sizes)
            kept: list[Document] = []
            kept_sizes: list[int] = []
            for doc, old_text, size, result in zip(docs, texts, sizes, results, strict=True):
                if isinstance(result, Document):
                    if result.text is not old_text or result is not doc:
                        size = doc_bytes(result)
                    kept.append(result)
                    kept_sizes.append(size)
                elif isinstance(result, Drop):
                    stats.dropped[result.reason] += 1
                    if on_drop is not None:
                        on_drop(step, stats.name, doc, result.reason)
                elif isinstance(result, BaseException):
                    stats.errors += 1
                    if on_error is not None:
                        on_error(step, doc, error_message(result))
                else:
                    stats.errors += 1
                    if on_error is not None:
                        on_error(step, doc, f"step returned {type(result).__name__}, "
                                             "not a Document or Drop")
            stats.docs_out += len(kept)
            stats.bytes_out += sum(kept_sizes)
            batch, sizes = kept, kept_sizes
        return batch, sizes


def step_labels(names: list[str]) -> list[str]:
    """Names for the stats table: a step used more than once gets ``#2``, ``#3``, ..."""
    seen: dict[str, int] = {}
    labels = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        labels.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return labels


def where(doc: Document) -> dict[str, Any]:
    """File, record offset and id of a document, for error records."""
    meta = doc.metadata
    offset = meta.get("record_offset", meta.get("record_index"))
    return {"file": meta.get("source_file", ""), "offset": offset, "id": doc.id}
