"""The executors: a process pool on this machine, or Ray tasks on a cluster.

Both implement `gristmill.core.executor.Executor` and know nothing about steps.
`LocalExecutor` uses a process pool on this machine (nothing to start); `RayExecutor` submits
the same function as Ray tasks. `map` returns results in task order, so whatever is
assembled from them is independent of worker count and scheduling.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

from gristmill.core.errors import GristmillError
from gristmill.core.executor import Executor, OrderedMap

T = TypeVar("T")
R = TypeVar("R")


# How often a pool worker checks that the process that started it is still alive.
_PARENT_POLL_S = 0.5


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(_PARENT_POLL_S)
    os._exit(1)


def _exit_with_parent(parent_pid: int) -> None:
    """Pool worker initializer: end this worker once the driver that started it is gone.

    A driver killed with SIGKILL cannot stop its pool, and the workers wait forever on a task
    queue whose write end they hold themselves; the orphans would hold memory and the
    terminal's output until killed by hand. The new parent (init) has another pid.
    """
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask: a container's or taskset's share),
    not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


class LocalExecutor(OrderedMap):
    """A process pool on this machine; ``workers=1`` runs tasks in this process."""

    kind = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or usable_cpus())

    def imap(self, fn: Callable[[T], R], tasks: Sequence[T]) -> Iterator[tuple[int, R]]:
        if self.workers == 1 or len(tasks) <= 1:
            for i, task in enumerate(tasks):
                yield i, fn(task)
            return
        # spawn: workers must not inherit threads (torch, ray) or open files from the parent.
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=min(self.workers, len(tasks)), mp_context=ctx,
            initializer=_exit_with_parent, initargs=(os.getpid(),),
        ) as pool:
            futures = {pool.submit(fn, task): i for i, task in enumerate(tasks)}
            for fut in as_completed(futures):
                yield futures[fut], fut.result()

    def close(self) -> None:
        pass


# Seconds to wait for a TCP connection to an explicit Ray address before calling it unreachable.
_RAY_CONNECT_TIMEOUT_S = 5.0


def _check_reachable(address: str) -> None:
    """Fail fast on a ``host:port`` Ray address nothing listens on.

    ray.init retries an unreachable GCS for minutes, printing warnings, before it gives up;
    a mistyped address should be a one-line error instead. ``auto``, ``local`` and ``ray://``
    client addresses are left to Ray.
    """
    host, sep, port = address.rpartition(":")
    if "://" in address or not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=_RAY_CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise GristmillError(f"cannot reach Ray at {address!r}: {exc.strerror or exc}") from exc


class RayExecutor(OrderedMap):
    """Ray tasks on a cluster (``address="auto"``) or a local Ray started on demand."""

    kind = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None,
                 quiet: bool = False) -> None:
        try:
            import ray
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise GristmillError("the ray executor needs ray: pip install 'gristmill[ray]'") from exc
        if address:
            _check_reachable(address)
        self._ray = ray
        self._started_here = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if quiet:  # Ray's own start-up lines ("Started a local Ray instance", ...)
                kwargs["logging_level"] = logging.ERROR
            if address:
                kwargs["address"] = address
            else:
                kwargs["num_cpus"] = workers or os.cpu_count() or 1
            try:
                ray.init(**kwargs)
            except ConnectionError as exc:
                raise GristmillError(f"cannot reach Ray at {address!r}: {exc}") from exc
            self._started_here = True
        self.workers = workers or int(ray.cluster_resources().get("CPU", 1))

    def imap(self, fn: Callable[[T], R], tasks: Sequence[T]) -> Iterator[tuple[int, R]]:
        ray = self._ray
        remote_fn = ray.remote(num_cpus=1)(fn)
        pending = {}
        next_task = 0
        # Bound the tasks in flight so a million-shard job does not flood the scheduler.
        limit = max(1, 2 * self.workers)
        while next_task < len(tasks) or pending:
            while next_task < len(tasks) and len(pending) < limit:
                pending[remote_fn.remote(tasks[next_task])] = next_task
                next_task += 1
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                yield pending.pop(ref), self._result(ref)

    def _result(self, ref: Any) -> Any:
        """A task's result. Errors raised by the task itself keep their class (Ray raises them
        as subclasses of the original); a task Ray could not complete after its retries (its
        worker or node died) becomes a one-line `GristmillError`. Finished shards keep their
        done markers, so a rerun resumes."""
        ray = self._ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError:
            raise
        except ray.exceptions.RayError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise GristmillError(
                f"a Ray task was lost ({type(exc).__name__}: {first}); a node or worker died. "
                "Finished shards are kept: rerun the same command to resume"
            ) from exc

    def close(self) -> None:
        if self._started_here:
            self._ray.shutdown()


def check_executor_options(kind: str, workers: int | None, address: str | None) -> None:
    """Refuse (one line) ``workers`` below 1, more local workers than this process's CPUs (each
    is a process with its own steps and models: more only add memory and contention), and a
    Ray address for the local executor, which would ignore it."""
    if kind not in ("local", "ray"):
        raise GristmillError(f"unknown executor {kind!r} (choose local or ray)")
    if workers is not None and workers < 1:
        raise GristmillError(f"--workers must be an integer of at least 1, got {workers}")
    if kind == "local":
        if address:
            raise GristmillError("--ray-address has no effect with the local executor; "
                                 "add --executor ray")
        cpus = usable_cpus()
        if workers is not None and workers > cpus:
            raise GristmillError(
                f"--workers must be an integer from 1 to {cpus} (the CPUs this process may use) "
                f"with the local executor, got {workers}")


def make_executor(kind: str = "local", workers: int | None = None, address: str | None = None,
                  quiet: bool = False) -> Executor:
    """Build the executor named on the command line (``local`` or ``ray``), after
    `check_executor_options`. ``quiet`` keeps Ray's start-up messages off the terminal."""
    check_executor_options(kind, workers, address)
    if kind == "local":
        return LocalExecutor(workers)
    return RayExecutor(workers, address, quiet=quiet)
