"""BFF with one global filter whose blocks are spread over Ray actors (`gristmill.dedup.bff`).

A filter for a whole crawl does not fit one task's memory. With a single dedup shard on Ray, the
driver runs the ordered filter pass itself and each probe or insert goes to the actors that own
the n-grams' blocks (``block % actors``, `split_by_owner`), so the filter is as large as the
actors' memory together and the decisions are the same bytes as the local pass.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from gristmill.core.errors import GristmillError
from gristmill.dedup.bff import FilterTask, check_not_overfull, filter_shard_file
from gristmill.dedup.bloom import BloomFilter, split_by_owner
from gristmill.dedup.job import DedupJob
from gristmill.dedup.plan import BloomPlan


class BloomPartition:
    """The blocks of a filter one Ray actor owns (wrapped with ``ray.remote`` at run time)."""

    def __init__(self, plan: BloomPlan, seed: int, owners: int, rank: int) -> None:
        self.bloom = BloomFilter(plan, seed=seed, owners=owners, rank=rank)

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        return self.bloom.contains(hashes)

    def add(self, hashes: np.ndarray) -> int:
        self.bloom.add(hashes)
        return len(hashes)

    def stats(self) -> tuple[int, float]:
        return self.bloom.nbytes, self.bloom.fill_ratio()


class ActorFilter:
    """A `Filter` whose blocks live in Ray actors, routed by block (``block % actors``).

    Calls from this driver to one actor run in submission order, so a probe sent after an
    insert sees it; inserts are not awaited until `flush`.
    """

    def __init__(self, plan: BloomPlan, seed: int, actors: int) -> None:
        import ray

        self._ray = ray
        self.plan, self.seed, self.owners = plan, seed, actors
        remote = ray.remote(num_cpus=0, scheduling_strategy="SPREAD")(BloomPartition)
        self.actors = [remote.remote(plan, seed, actors, r) for r in range(actors)]
        self._pending: list[Any] = []
        self.calls = 0  # actor method calls (round trips), for the scale-out measurements
        self.probed = 0  # n-grams probed

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        parts = split_by_owner(hashes, self.plan, self.seed, self.owners)
        self.calls += len(parts)
        self.probed += len(hashes)
        refs = [a.contains.remote(hashes[idx]) for a, idx in zip(self.actors, parts, strict=True)]
        out = np.empty(len(hashes), dtype=bool)
        for idx, res in zip(parts, self._ray.get(refs), strict=True):
            out[idx] = res
        return out

    def add(self, hashes: np.ndarray) -> None:
        parts = split_by_owner(hashes, self.plan, self.seed, self.owners)
        self.calls += len(parts)
        self._pending.extend(a.add.remote(hashes[idx]) for a, idx in zip(self.actors, parts, strict=True))
        if len(self._pending) > 64 * self.owners:
            self.flush()

    def flush(self) -> None:
        self._ray.get(self._pending)
        self._pending = []

    def stats(self) -> tuple[int, float]:
        self.flush()
        res = self._ray.get([a.stats.remote() for a in self.actors])
        total = sum(r[0] for r in res)
        fill = sum(r[0] * r[1] for r in res) / max(1, total)
        return total, fill

    def close(self) -> None:
        for a in self.actors:
            try:
                self._ray.kill(a)
            except Exception:  # already dead with its node: nothing left to free
                continue


def filter_on_ray_actors(job: DedupJob, task: FilterTask, actors: int) -> dict[str, Any]:
    import ray

    started = time.perf_counter()
    bloom = ActorFilter(task.plan, task.config.seed, actors)
    try:
        per_file = [filter_shard_file(job.root, s, task.config, bloom, task.stored) for s in task.shards]
        nbytes, fill = bloom.stats()
    except ray.exceptions.RayActorError as exc:
        # The filter's bits lived in the lost actor: this pass cannot go on, but the n-gram
        # files of the phases before are kept, so a rerun redoes only this pass.
        raise GristmillError(
            f"a BFF filter actor was lost ({type(exc).__name__}); a node or worker died. "
            "Rerun the same command to redo the filter pass"
        ) from exc
    finally:
        bloom.close()
    check_not_overfull(task.plan, fill, task.config)
    return {"filter_bytes": nbytes, "fill_ratio": round(fill, 6), "actors": actors,
            "actor_calls": bloom.calls, "ngrams_probed": bloom.probed,
            "seconds": round(time.perf_counter() - started, 3),
            "paragraphs_removed": sum(r["paragraphs_removed"] for r in per_file),
            "documents_removed": sum(r["documents_removed"] for r in per_file)}
