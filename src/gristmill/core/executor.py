"""The executor contract: map independent picklable tasks to workers, results in task order.

An executor knows nothing about steps: it runs a picklable top-level function over a list of
picklable tasks. Stages that run their own multi-phase jobs (global dedup steps, tokenize)
receive an executor from the engine or the CLI and use only this protocol; the process pool
and Ray implementations live in `gristmill.engine.executors`. `InProcessExecutor` runs tasks
one after another in the calling process (the default of library calls that are given none).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    kind: str
    workers: int

    def imap(self, fn: Callable[[T], R], tasks: Sequence[T]) -> Iterator[tuple[int, R]]:
        """Yield ``(task index, result)`` as tasks finish (any order)."""
        ...

    def map(self, fn: Callable[[T], R], tasks: Sequence[T]) -> list[R]:
        """Run ``fn`` on every task; results in task order."""
        ...

    def close(self) -> None: ...


class OrderedMap:
    """`map` in task order on top of an executor's `imap`."""

    def imap(self, fn: Callable[[T], R], tasks: Sequence[T]) -> Iterator[tuple[int, R]]:
        raise NotImplementedError

    def map(self, fn: Callable[[T], R], tasks: Sequence[T]) -> list[R]:
        results: list[Any] = [None] * len(tasks)
        for i, r in self.imap(fn, tasks):
            results[i] = r
        return results


class InProcessExecutor(OrderedMap):
    """Every task in the calling process, in order: no pool, nothing to start."""

    kind = "local"
    workers = 1

    def imap(self, fn: Callable[[T], R], tasks: Sequence[T]) -> Iterator[tuple[int, R]]:
        for i, task in enumerate(tasks):
            yield i, fn(task)

    def close(self) -> None:
        pass
