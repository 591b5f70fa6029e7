"""Progress bars on stderr: shards done per local stage, tasks done per phase of a global step.

Bars are rich progress rows; ``enabled=False`` (``-q``) makes them no-ops.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from gristmill.core.executor import Executor, OrderedMap

T = TypeVar("T")
R = TypeVar("R")


class _Bar:
    def __init__(self, progress: Any, task: Any) -> None:
        self._progress = progress
        self._task = task

    def advance(self) -> None:
        if self._progress is not None:
            self._progress.advance(self._task)


@contextlib.contextmanager
def progress_bar(enabled: bool, description: str, total: int, unit: str) -> Iterator[_Bar]:
    """A bar of ``total`` ``unit`` (shown only when ``enabled``), stopped when the block ends."""
    if not enabled:
        yield _Bar(None, None)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    progress = Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
        unit, TimeElapsedColumn(), console=Console(stderr=True), transient=False,
    )
    progress.start()
    try:
        yield _Bar(progress, progress.add_task(description, total=total))
    finally:
        progress.stop()


class ProgressExecutor(OrderedMap):
    """An executor that shows a bar for each batch of tasks it runs (a global step's phases:
    hashing, filtering, writing ...), named after the phase's function."""

    def __init__(self, inner: Executor, label: str) -> None:
        self._inner = inner
        self._label = label
        self.kind = inner.kind
        self.workers = inner.workers

    def imap(self, fn: Callable[[T], R], tasks: Sequence[T]) -> Iterator[tuple[int, R]]:
        name = getattr(fn, "__name__", "tasks").strip("_").replace("_", " ")
        with progress_bar(True, f"{self._label}: {name}", len(tasks), "tasks") as bar:
            for item in self._inner.imap(fn, tasks):
                bar.advance()
                yield item

    def close(self) -> None:
        self._inner.close()
